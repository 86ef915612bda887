"""The one retry policy, shared by unary calls, streams and the pipeline executor.

Which errors are retried is decided by the error classes of :mod:`~xai_pipelines.sdk.errors`
(their ``retryable`` attribute, read by :func:`is_retryable`) and nowhere else:

* ``UnavailableError`` and ``InternalServerError`` for ``INTERNAL``: transient; retried
  with exponential backoff and jitter.
* ``RateLimitError`` (``RESOURCE_EXHAUSTED``): retried, starting from the longer
  ``rate_limit_backoff`` so the client backs off the limit instead of hammering it.
* ``DeadlineExceededError``: **not** retried. The deadline is the caller's budget for a
  call; a retry would spend it again and may pay twice for a generation the server
  was still producing. Callers that want it (the executor, per job) retry above.
* Everything else (invalid request, refused key, not found, cancelled ...) is final.

Exactly one layer retries: the client opens its channels with ``grpc.enable_retries``
set to 0, so gRPC's transparent channel-level retries never multiply the attempts
counted here. Unary calls (:meth:`RetryPolicy.call`) and streams
(:meth:`RetryPolicy.stream`), and their async forms, run the same loop and make every
decision in one place (``_after_failure``): a stream that breaks is reopened from the
start and the consumer is told (via the attempt number) to discard the partial output.
The loop is a plain ``while``: a call or stream that succeeds at once builds no
retrier object (a ``tenacity`` retrier per stream was the policy's whole cost per job).

Every failed attempt is reported to ``on_attempt`` with an :class:`AttemptInfo`
before the backoff; the hook may raise to end the call there (the executor does so
when a job's deadline would pass during the backoff).

Example (the executor)::

    policy = RetryPolicy(max_attempts=5, on_attempt=lambda info: counter.inc())
    result = policy.call(lambda attempt: run_job(job))
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import grpc

from xai_pipelines.defaults import DEFAULTS, default_seconds
from xai_pipelines.sdk.errors import CancelledError, RateLimitError, XaiError, error_for_status

__all__ = [
    "JITTER",
    "RATE_LIMIT_BACKOFF_S",
    "AttemptInfo",
    "RetryPolicy",
    "is_rate_limited",
    "is_retryable",
]

T = TypeVar("T")

#: First delay after a rate-limit error (RESOURCE_EXHAUSTED), unless the policy says otherwise.
RATE_LIMIT_BACKOFF_S = 2.0
#: Random extra delay, as a fraction of the delay, unless the policy says otherwise.
JITTER = 0.2

log = logging.getLogger(__name__)

#: How often an async backoff looks at ``interrupt`` (a ``threading.Event`` cannot be awaited).
INTERRUPT_POLL_S = 0.05


def _as_error(exc: BaseException) -> BaseException:
    """A raw ``grpc.RpcError`` as the error class the client would raise for it."""
    if isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
        code = exc.code()
        if isinstance(code, grpc.StatusCode):
            return error_for_status(code, "")
    return exc


def is_retryable(exc: BaseException) -> bool:
    """Whether ``exc`` is worth another attempt (see the module docstring).

    Args:
        exc: An :class:`XaiError` or a raw ``grpc.RpcError``; other exceptions are final.
    """
    error = _as_error(exc)
    return isinstance(error, XaiError) and error.retryable


def is_rate_limited(exc: BaseException) -> bool:
    """Whether ``exc`` is rate limiting (a :class:`RateLimitError`)."""
    return isinstance(_as_error(exc), RateLimitError)


@dataclass(frozen=True)
class AttemptInfo:
    """One failed attempt, as reported to :attr:`RetryPolicy.on_attempt`.

    Attributes:
        attempt: The attempt that failed (1-based).
        error: What it raised.
        delay: Seconds the policy will wait before the next attempt (0 when none follows).
        will_retry: Whether another attempt follows; False for the call's final failure.
    """

    attempt: int
    error: BaseException
    delay: float
    will_retry: bool


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter over :func:`is_retryable` errors.

    The delay before attempt ``k + 1`` is ``base * multiplier ** (k - 1)``, capped at
    ``max_backoff``, plus up to ``jitter`` of itself at random; ``base`` is
    ``initial_backoff``, or ``rate_limit_backoff`` after a rate-limit error.

    Attributes:
        max_attempts: Total tries including the first (1 disables retries).
        initial_backoff: First delay in seconds.
        max_backoff: Longest delay in seconds.
        multiplier: Growth factor between delays.
        jitter: Random extra delay, as a fraction of the delay (0 for none).
        rate_limit_backoff: First delay after ``RESOURCE_EXHAUSTED``.
        on_attempt: Called with an :class:`AttemptInfo` after every failed attempt,
            before the backoff, on the thread making the call. If it raises, the call
            ends with that exception (chained to the attempt's error).
        interrupt: When set during a backoff, the wait ends at once and the call raises
            :class:`~xai_pipelines.sdk.errors.CancelledError`.
        sleep: The sleep function when there is no ``interrupt`` (tests pass their own).
        async_sleep: Its counterpart for the async calls (:meth:`acall`, :meth:`astream`).

    The async calls make the same decisions, delays and reports as the sync ones; they
    wait with ``asyncio.sleep``, looking at ``interrupt`` every
    :data:`INTERRUPT_POLL_S` seconds. A cancelled task is not a failed attempt: its
    ``asyncio.CancelledError`` is neither retried nor reported to ``on_attempt``.
    """

    max_attempts: int = DEFAULTS["execution.retries.max_attempts"]
    initial_backoff: float = default_seconds("execution.retries.initial_backoff")
    max_backoff: float = default_seconds("execution.retries.max_backoff")
    multiplier: float = 2.0
    jitter: float = JITTER
    rate_limit_backoff: float = RATE_LIMIT_BACKOFF_S
    on_attempt: Callable[[AttemptInfo], None] | None = None
    interrupt: threading.Event | None = field(default=None, repr=False)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    async_sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.initial_backoff, self.max_backoff, self.rate_limit_backoff, self.jitter) < 0:
            raise ValueError("backoffs and jitter must not be negative")
        if self.multiplier < 1:
            raise ValueError("multiplier must be at least 1")

    def delay(self, exc: BaseException, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        base = self.rate_limit_backoff if is_rate_limited(exc) else self.initial_backoff
        delay = min(self.max_backoff, base * self.multiplier ** (attempt - 1))
        return min(self.max_backoff, delay * (1 + random.uniform(0, self.jitter)))

    def should_retry(self, exc: BaseException, attempt: int) -> bool:
        """Whether to try again after ``exc`` ended attempt number ``attempt``."""
        return attempt < self.max_attempts and is_retryable(exc)

    def call(self, fn: Callable[[int], T]) -> T:
        """Run ``fn(attempt)`` until it succeeds or fails for good.

        Args:
            fn: One attempt; receives the attempt number (1-based).

        Returns:
            What the successful attempt returned.

        Raises:
            The last attempt's exception when it is not retryable or attempts run out,
            or whatever ``on_attempt`` raised.
        """
        attempt = 1
        while True:
            try:
                return fn(attempt)
            except BaseException as exc:  # every attempt's error is decided alike
                delay = self._after_failure(exc, attempt)
                if delay is None:
                    raise
            self._wait(delay)
            attempt += 1

    def stream(self, open_stream: Callable[[int], Iterator[T]]) -> Generator[T, None, None]:
        """Iterate ``open_stream(attempt)``, reopening it from the start on retryable errors.

        The consumer sees the items of every attempt in order; an item from attempt
        ``k > 1`` means everything yielded by earlier attempts is to be discarded.
        Decisions, delays and ``on_attempt`` reports are those of :meth:`call`.

        Args:
            open_stream: Opens a fresh stream for the given attempt number (1-based).

        Yields:
            The items of the current attempt.
        """
        attempt = 1
        while True:
            try:
                yield from open_stream(attempt)
                return
            except GeneratorExit:
                # The consumer stopped reading: not a failed attempt; end quietly.
                return
            except BaseException as exc:
                delay = self._after_failure(exc, attempt)
                if delay is None:
                    raise
            self._wait(delay)
            attempt += 1

    async def acall(self, fn: Callable[[int], Awaitable[T]]) -> T:
        """Await ``fn(attempt)`` until it succeeds or fails for good (async :meth:`call`)."""
        attempt = 1
        while True:
            try:
                return await fn(attempt)
            except BaseException as exc:
                delay = self._after_failure(exc, attempt)
                if delay is None:
                    raise
            await self._async_wait(delay)
            attempt += 1

    async def astream(
        self, open_stream: Callable[[int], AsyncIterator[T]]
    ) -> AsyncGenerator[T, None]:
        """Iterate ``open_stream(attempt)``, reopening it on retryable errors (async :meth:`stream`)."""
        attempt = 1
        while True:
            stream = open_stream(attempt)
            try:
                try:
                    async for item in stream:
                        yield item
                finally:
                    aclose = getattr(stream, "aclose", None)
                    if aclose is not None:
                        await aclose()
                return
            except GeneratorExit:
                # The consumer stopped reading: not a failed attempt; end quietly.
                return
            except BaseException as exc:
                delay = self._after_failure(exc, attempt)
                if delay is None:
                    raise
            await self._async_wait(delay)
            attempt += 1

    def _after_failure(self, exc: BaseException, attempt: int) -> float | None:
        """Decide on attempt number ``attempt``, which raised ``exc``: the delay before the
        next attempt (reported to ``on_attempt`` first), or None when ``exc`` is final
        (reported too, unless the task was cancelled)."""
        if isinstance(exc, asyncio.CancelledError):
            return None
        if not self.should_retry(exc, attempt):
            if log.isEnabledFor(logging.DEBUG):
                log.debug("attempt %d failed for good: %s", attempt, _describe(exc))
            self._report(AttemptInfo(attempt, exc, 0.0, will_retry=False))
            return None
        delay = self.delay(exc, attempt)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("attempt %d failed (%s); retrying in %.2fs", attempt, _describe(exc), delay)
        self._report(AttemptInfo(attempt, exc, delay, will_retry=True))
        return delay

    def _report(self, info: AttemptInfo) -> None:
        if self.on_attempt is None:
            return
        try:
            self.on_attempt(info)
        except BaseException as hook_error:
            raise hook_error from info.error

    async def _async_wait(self, delay: float) -> None:
        if self.interrupt is None:
            await self.async_sleep(delay)
            return
        end = time.monotonic() + delay
        while not self.interrupt.is_set():
            left = end - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(min(left, INTERRUPT_POLL_S))
        raise CancelledError("aborted while waiting to retry")

    def _wait(self, delay: float) -> None:
        if self.interrupt is None:
            self.sleep(delay)
        elif self.interrupt.wait(delay):
            raise CancelledError("aborted while waiting to retry")


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, XaiError) else f"{type(exc).__name__}: {exc}"
