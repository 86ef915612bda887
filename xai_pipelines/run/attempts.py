"""Per-job bookkeeping around the client's retries: error lines, rate limits, deadlines.

The client retries every call (unary or stream) with the one shared
:class:`RetryPolicy`; the executor builds that policy with :meth:`AttemptHooks.policy`,
whose ``on_attempt`` hook runs on the worker thread that makes the call, after each
failed attempt and before the backoff. For an attempt that will be retried it
records the failure in ``errors.jsonl``, gives the call's place back to the
adaptive concurrency limit (:mod:`xai_pipelines.run.adaptive`), which a rate-limit
error may cut and a server's retry-after hint pauses, and refuses to back off past
the job's deadline or after an abort. The policy's backoff is :meth:`AttemptHooks.backoff`:
it waits the policy's delay (at least the server's retry-after hint), ending at once
when the run aborts, then takes a place and a rate-limit token for the retry. So a
job waiting to retry holds no place, and a retry is sent only when one is free.

Every call takes its place in :meth:`AttemptHooks.acquire` (the first attempt) or
the backoff (a retry); a job keeps it between its calls (turns, grader) and gives
it back when an attempt fails or the job's scope ends.

The job being run is held in a context variable (:meth:`AttemptHooks.scope`):
the client and its policy are shared by all workers, and the hook runs inside
the call that failed, so it finds the job in the caller's context (a worker
thread's, or an asyncio task's: each has its own). The grader calls the client
within the job's scope too, so its retries are booked to the job.

The executor runs every job as a task on one event loop: :meth:`AttemptHooks.aacquire`
is :meth:`AttemptHooks.acquire` for them. Tasks waiting for a place or a rate-limit
token queue behind one ``asyncio.Lock`` each (:class:`_Gate`): only the first in
line looks at the limit, woken early when a place is given back, so thousands of
waiting calls cost no polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from contextvars import ContextVar, Token
from dataclasses import dataclass
from types import TracebackType

from xai_pipelines.plan import Job
from xai_pipelines.run.adaptive import RATE_LIMIT_BACKOFF_S, AdaptiveConcurrency
from xai_pipelines.run.outcome import JobFailed
from xai_pipelines.run.ratelimit import RateLimiter
from xai_pipelines.run.sink import ResultSink
from xai_pipelines.sdk.errors import CancelledError, XaiError, retry_after_hint
from xai_pipelines.sdk.retry import JITTER, AttemptInfo, RetryPolicy, is_rate_limited

log = logging.getLogger(__name__)

#: How often an async backoff looks at the abort event.
ABORT_POLL_S = 0.05
#: Longest wait of the first task in line before it looks at the limits again
#: (a pause ending, the limit growing, the abort event).
GATE_POLL_S = 0.1


class _Gate:
    """The async waiting lines of one event loop: for a place, and for a rate-limit token."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.thread = threading.get_ident()
        self.places = asyncio.Lock()
        self.tokens = asyncio.Lock()
        self.freed = asyncio.Event()

    def wake(self) -> None:
        """A place was given back: wake the first task in line (from any thread)."""
        if not self.places.locked():
            return
        if threading.get_ident() == self.thread:
            self.freed.set()
            return
        with contextlib.suppress(RuntimeError):  # the loop ended (a pool thread after an abort)
            self.loop.call_soon_threadsafe(self.freed.set)


@dataclass
class JobScope:
    """The job a worker thread is running.

    Attributes:
        job: The job.
        deadline: ``time.monotonic()`` value by which the job must end (None: no limit).
        estimate: Token estimate of the call in progress (taken from the token bucket).
        failed_attempts: Attempts that failed and were retried, across all calls of the job.
        queued_s: Time spent waiting for the rate limiter and a place (not part of the
            job's latency).
        place_since: When the job took its place among the calls in flight (adaptive
            limit's clock; None: it holds none).
        dispatched_at: When the call in progress took its place or, for a job holding
            one already, was sent (adaptive limit's clock).
        extra_wait_s: Time the next backoff adds to the policy's delay (a retry-after hint).
    """

    job: Job
    deadline: float | None
    estimate: int = 0
    failed_attempts: int = 0
    queued_s: float = 0.0
    place_since: float | None = None
    dispatched_at: float | None = None
    extra_wait_s: float = 0.0

    def remaining(self) -> float | None:
        """Seconds left before the deadline (None: no deadline)."""
        return None if self.deadline is None else self.deadline - time.monotonic()


class ScopeBlock:
    """The block of :meth:`AttemptHooks.scope` (a class, not a generator: one is entered
    per job, and ``contextmanager``'s machinery cost more than the block's own work)."""

    __slots__ = ("_hooks", "_token", "scope")

    def __init__(self, hooks: AttemptHooks, job: Job, timeout_s: float | None) -> None:
        self._hooks = hooks
        self.scope = JobScope(job, None if timeout_s is None else time.monotonic() + timeout_s)
        self._token: Token[JobScope | None] | None = None

    def __enter__(self) -> JobScope:
        self._token = self._hooks._current.set(self.scope)
        return self.scope

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._hooks._give_back(self.scope, succeeded=exc_type is None)
        finally:
            if self._token is not None:
                self._hooks._current.reset(self._token)


class AttemptHooks:
    """Callbacks of the shared retry policy that tie attempts to the running job.

    Args:
        sink: Receives one error line per failed attempt.
        limiter: Rate limiter shared by all workers.
        abort: Set when in-flight jobs must give up (grace period over).
        adaptive: The limit on calls in flight (None: no limit but the executor's).
    """

    def __init__(
        self,
        sink: ResultSink,
        limiter: RateLimiter,
        abort: threading.Event,
        adaptive: AdaptiveConcurrency | None = None,
    ) -> None:
        self.sink = sink
        self.limiter = limiter
        self.abort = abort
        self.adaptive = adaptive
        self._current: ContextVar[JobScope | None] = ContextVar("job_scope", default=None)
        self._gate: _Gate | None = None

    def policy(
        self, max_attempts: int, initial_backoff_s: float, max_backoff_s: float
    ) -> RetryPolicy:
        """The retry policy to give the client (its callbacks are these hooks).

        The values are the pipeline's ``execution.retries`` (defaults in xai_pipelines/defaults.py).
        Its waits are :meth:`backoff` and :meth:`abackoff` (which end at once when the
        run aborts, as the policy's ``interrupt`` would); a rate-limited call's first
        backoff is the run's (``run.adaptive.RATE_LIMIT_BACKOFF_S``), within the pipeline's
        bounds.
        """
        return RetryPolicy(
            max_attempts=max_attempts,
            initial_backoff=initial_backoff_s,
            max_backoff=max_backoff_s,
            rate_limit_backoff=max(initial_backoff_s, min(RATE_LIMIT_BACKOFF_S, max_backoff_s)),
            on_attempt=self.on_attempt,
            sleep=self.backoff,
            async_sleep=self.abackoff,
        )

    @property
    def current(self) -> JobScope | None:
        """The job of the calling context (worker thread or task), if any."""
        return self._current.get()

    def scope(self, job: Job, timeout_s: float | None) -> ScopeBlock:
        """Make ``job`` the current job of the calling context until the block ends.

        ``with hooks.scope(job, timeout_s) as scope:``; when the block ends the job's
        place goes back to the adaptive limit (as a success unless the block raised).
        """
        return ScopeBlock(self, job, timeout_s)

    def _give_back(self, scope: JobScope | None, *, succeeded: bool) -> None:
        """Return the job's place (if it holds one) to the adaptive limit."""
        if self.adaptive is None or scope is None or scope.place_since is None:
            return
        held = self.adaptive.now() - scope.place_since
        scope.place_since = None
        self.adaptive.release(held if succeeded else None)
        gate = self._gate
        if gate is not None:
            gate.wake()

    def on_attempt(self, info: AttemptInfo) -> None:
        """Book a failed attempt; before a retry, check the deadline and take a token.

        Raises:
            JobFailed: The job's deadline would pass during the backoff, or the run aborted.
        """
        scope = self.current
        self._give_back(scope, succeeded=False)
        if not info.will_retry:
            return  # the final failure is the job's, recorded by the executor
        exc = info.error
        hint = retry_after_hint(exc)
        if self.adaptive is not None:
            if is_rate_limited(exc):
                dispatched = scope.dispatched_at if scope is not None else None
                self.adaptive.note_rate_limited(dispatched, hint)
            elif hint is not None:
                self.adaptive.pause(hint)
        wait = info.delay if hint is None else max(info.delay, hint)
        sporadic = (  # a refusal, but not well over a limit: see adaptive.RATE_LIMIT_BACKOFF_S
            hint is None
            and self.adaptive is not None
            and is_rate_limited(exc)
            and not self.adaptive.overloaded()
        )
        if sporadic:
            wait = min(wait, RATE_LIMIT_BACKOFF_S * random.uniform(1.0, 1.0 + JITTER))
        if scope is not None:
            scope.extra_wait_s = wait - info.delay
            scope.failed_attempts += 1
            code = exc.code if isinstance(exc, XaiError) else type(exc).__name__
            message = exc.message if isinstance(exc, XaiError) else str(exc)
            log.debug(
                "job %s: attempt %d failed (%s: %s); retry in %.2fs",
                scope.job.id, info.attempt, code, message, wait,
            )  # fmt: skip
            request_id = exc.request_id if isinstance(exc, XaiError) else None
            self.sink.attempt_failed(scope.job, code, message, info.attempt, request_id)
            self.limiter.reconcile(scope.estimate, 0)  # a failed attempt used (almost) no tokens
            remaining = scope.remaining()
            if remaining is not None and remaining < wait:
                raise JobFailed("DEADLINE_EXCEEDED", "job deadline reached while retrying")
        if self.abort.is_set():
            raise JobFailed("CANCELLED", "run aborted")

    def backoff(self, delay: float) -> None:
        """The policy's wait before a retry: ``delay`` (plus what a retry-after hint adds),
        then a place and a rate-limit token for the retry.

        Raises:
            CancelledError: The run aborted during the wait.
            JobFailed: The run aborted while waiting for the place or the token.
        """
        scope = self.current
        extra = 0.0
        if scope is not None:
            extra, scope.extra_wait_s = scope.extra_wait_s, 0.0
        if self.abort.wait(delay + extra):
            raise CancelledError("aborted while waiting to retry")
        self.acquire(scope.estimate if scope is not None else 0)

    async def abackoff(self, delay: float) -> None:
        """:meth:`backoff` for the async calls (the place and token are awaited in line)."""
        scope = self.current
        extra = 0.0
        if scope is not None:
            extra, scope.extra_wait_s = scope.extra_wait_s, 0.0
        end = time.monotonic() + delay + extra
        while (left := end - time.monotonic()) > 0:
            if self.abort.is_set():
                break
            await asyncio.sleep(min(left, ABORT_POLL_S))
        if self.abort.is_set():
            raise CancelledError("aborted while waiting to retry")
        await self.aacquire(scope.estimate if scope is not None else 0)

    def acquire(self, estimate: int) -> None:
        """Take a place among the calls in flight (unless the job holds one), then a request
        (and ``estimate`` tokens) from the rate limiter."""
        scope = self.current
        started = time.perf_counter()
        adaptive = self.adaptive
        if adaptive is not None and scope is not None and scope.place_since is None:
            if not adaptive.acquire(stop=self.abort):
                raise JobFailed("CANCELLED", "run aborted")
            scope.place_since = adaptive.now()
        if not self.limiter.acquire(estimate, stop=self.abort):
            self._give_back(scope, succeeded=False)
            raise JobFailed("CANCELLED", "run aborted")
        if scope is not None:
            scope.estimate = estimate
            scope.queued_s += time.perf_counter() - started
            if adaptive is not None:
                scope.dispatched_at = adaptive.now()

    async def aacquire(self, estimate: int) -> None:
        """:meth:`acquire` for a task of the event loop: waits in line, never blocking the loop.

        Raises:
            JobFailed: The run aborted while waiting.
        """
        scope = self.current
        started = time.perf_counter()
        adaptive = self.adaptive
        if adaptive is not None and scope is not None and scope.place_since is None:
            if not await self._aplace(adaptive):
                raise JobFailed("CANCELLED", "run aborted")
            scope.place_since = adaptive.now()
        if self.abort.is_set() or (self.limiter.limited and not await self._atoken(estimate)):
            self._give_back(scope, succeeded=False)
            raise JobFailed("CANCELLED", "run aborted")
        if scope is not None:
            scope.estimate = estimate
            scope.queued_s += time.perf_counter() - started
            if adaptive is not None:
                scope.dispatched_at = adaptive.now()

    def _loop_gate(self) -> _Gate:
        gate = self._gate
        if gate is None or gate.loop is not asyncio.get_running_loop():
            gate = self._gate = _Gate()
        return gate

    async def _aplace(self, adaptive: AdaptiveConcurrency) -> bool:
        """Take a place, in line behind the tasks already waiting; False on abort."""
        gate = self._loop_gate()
        if self.abort.is_set():
            return False
        if not gate.places.locked() and adaptive.try_acquire() == 0.0:
            return True
        async with gate.places:
            while not self.abort.is_set():
                gate.freed.clear()
                wait = adaptive.try_acquire()
                if wait == 0.0:
                    return True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(gate.freed.wait(), min(wait, GATE_POLL_S))
        return False

    async def _atoken(self, estimate: int) -> bool:
        """Take a request (and ``estimate`` tokens) from the rate limiter, in line; False on abort."""
        gate = self._loop_gate()
        if self.abort.is_set():
            return False
        if not gate.tokens.locked() and self.limiter.try_acquire(estimate) == 0.0:
            return True
        async with gate.tokens:
            while not self.abort.is_set():
                wait = self.limiter.try_acquire(estimate)
                if wait == 0.0:
                    return True
                await asyncio.sleep(min(wait, GATE_POLL_S))
        return False
