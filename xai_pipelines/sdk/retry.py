"""The one retry policy, shared by the client and the pipeline executor.

Which errors are retried is decided here and nowhere else (:func:`is_retryable`):

* ``UNAVAILABLE`` and ``INTERNAL``: transient; retried with exponential backoff and jitter.
* ``RESOURCE_EXHAUSTED``: rate limiting; retried, starting from the longer
  ``rate_limit_backoff`` so the client backs off the limit instead of hammering it.
* ``DEADLINE_EXCEEDED``: **not** retried. The deadline is the caller's budget for a
  call; a retry would spend it again and may pay twice for a generation the server
  was still producing. Callers that want it (the executor, per job) retry above.
* Everything else (``INVALID_ARGUMENT``, ``UNAUTHENTICATED``, ``PERMISSION_DENIED``,
  ``NOT_FOUND``, ``CANCELLED`` ...) is final.

Exactly one layer retries: the client opens its channels with ``grpc.enable_retries``
set to 0, so gRPC's transparent channel-level retries never multiply the attempts
counted here. Streams are retried by :func:`retry_stream`: a stream that breaks before
its first item is simply reopened, one that breaks later is reopened from the start
and the consumer is told (via the attempt number) to discard the partial output.

Example (the executor)::

    policy = RetryPolicy(max_attempts=5, on_retry=lambda exc, n, delay: counter.inc())
    result = policy.call(lambda attempt: run_job(job))
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import grpc
import tenacity

from xai_pipelines.sdk.errors import XaiError

__all__ = ["RETRYABLE_CODES", "RetryPolicy", "is_rate_limited", "is_retryable", "retry_stream"]

T = TypeVar("T")

#: gRPC status codes worth another attempt.
RETRYABLE_CODES = frozenset({"UNAVAILABLE", "INTERNAL", "RESOURCE_EXHAUSTED"})


def _code_of(exc: BaseException) -> str | None:
    if isinstance(exc, XaiError):
        return exc.code
    if isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
        code = exc.code()
        return code.name if isinstance(code, grpc.StatusCode) else None
    return None


def is_retryable(exc: BaseException) -> bool:
    """Whether ``exc`` is worth another attempt (see the module docstring).

    Args:
        exc: An :class:`XaiError` or a raw ``grpc.RpcError``; other exceptions are final.
    """
    return _code_of(exc) in RETRYABLE_CODES


def is_rate_limited(exc: BaseException) -> bool:
    """Whether ``exc`` is rate limiting (``RESOURCE_EXHAUSTED``)."""
    return _code_of(exc) == "RESOURCE_EXHAUSTED"


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
        on_retry: Called as ``on_retry(exc, attempt, delay)`` before sleeping, where
            ``attempt`` is the attempt that just failed (1-based).
        sleep: The sleep function (swappable for callers with their own clock).
    """

    max_attempts: int = 5
    initial_backoff: float = 0.1
    max_backoff: float = 10.0
    multiplier: float = 2.0
    jitter: float = 0.2
    rate_limit_backoff: float = 2.0
    on_retry: Callable[[BaseException, int, float], None] | None = None
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

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

    def retrying(self) -> tenacity.Retrying:
        """A ``tenacity.Retrying`` carrying this policy (re-raises the last error)."""
        return tenacity.Retrying(
            retry=tenacity.retry_if_exception(is_retryable),
            stop=tenacity.stop_after_attempt(self.max_attempts),
            wait=self._tenacity_wait,
            before_sleep=self._before_sleep,
            sleep=self.sleep,
            reraise=True,
        )

    def call(self, fn: Callable[[int], T]) -> T:
        """Run ``fn(attempt)`` until it succeeds or fails for good.

        Args:
            fn: One attempt; receives the attempt number (1-based).

        Returns:
            What the successful attempt returned.

        Raises:
            The last attempt's exception when it is not retryable or attempts run out.
        """
        attempts = itertools.count(1)
        return self.retrying()(lambda: fn(next(attempts)))

    def _tenacity_wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return self.delay(exc, state.attempt_number) if exc else 0.0

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if self.on_retry is not None and exc is not None:
            self.on_retry(exc, state.attempt_number, state.upcoming_sleep)


def retry_stream(
    policy: RetryPolicy, open_stream: Callable[[int], Iterator[T]]
) -> Generator[T, None, None]:
    """Iterate ``open_stream(attempt)``, reopening it from the start on retryable errors.

    The consumer sees the items of every attempt in order; an item from attempt
    ``k > 1`` means everything yielded by earlier attempts is to be discarded.

    Args:
        policy: The retry policy (same decisions and delays as unary calls).
        open_stream: Opens a fresh stream for the given attempt number (1-based).

    Yields:
        The items of the current attempt.
    """
    attempt = 1
    while True:
        try:
            yield from open_stream(attempt)
            return
        except Exception as exc:
            if not policy.should_retry(exc, attempt):
                raise
            delay = policy.delay(exc, attempt)
            if policy.on_retry is not None:
                policy.on_retry(exc, attempt, delay)
            policy.sleep(delay)
            attempt += 1
