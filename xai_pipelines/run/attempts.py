"""Per-job bookkeeping around the client's retries: error lines, rate limits, deadlines.

The client retries every call (unary or stream) with the one shared
:class:`RetryPolicy`; the executor builds that policy with :meth:`AttemptHooks.policy`,
whose ``on_attempt`` hook runs on the worker thread that makes the call, after each
failed attempt and before the backoff. For an attempt that will be retried it
records the failure in ``errors.jsonl``, cuts the dispatch rate on a rate-limit
error, refuses to back off past the job's deadline or after an abort, and takes a
rate-limit token for the retry. The backoff itself ends early when the run aborts
(the policy's ``interrupt`` is the executor's abort event).

The job being run is held in a context variable (:meth:`AttemptHooks.scope`):
the client and its policy are shared by all workers, and the hook runs inside
the call that failed, so it finds the job in the caller's context (a worker
thread's, or an asyncio task's: each has its own). The grader calls the client
within the job's scope too, so its retries are booked to the job.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from xai_pipelines.plan import Job
from xai_pipelines.run.outcome import JobFailed
from xai_pipelines.run.ratelimit import RateLimiter
from xai_pipelines.run.sink import ResultSink
from xai_pipelines.sdk.errors import XaiError
from xai_pipelines.sdk.retry import RATE_LIMIT_BACKOFF_S, AttemptInfo, RetryPolicy, is_rate_limited

log = logging.getLogger(__name__)


@dataclass
class JobScope:
    """The job a worker thread is running.

    Attributes:
        job: The job.
        deadline: ``time.monotonic()`` value by which the job must end (None: no limit).
        estimate: Token estimate of the call in progress (taken from the token bucket).
        failed_attempts: Attempts that failed and were retried, across all calls of the job.
        queued_s: Time spent waiting for the rate limiter (not part of the job's latency).
    """

    job: Job
    deadline: float | None
    estimate: int = 0
    failed_attempts: int = 0
    queued_s: float = 0.0

    def remaining(self) -> float | None:
        """Seconds left before the deadline (None: no deadline)."""
        return None if self.deadline is None else self.deadline - time.monotonic()


class AttemptHooks:
    """Callbacks of the shared retry policy that tie attempts to the running job.

    Args:
        sink: Receives one error line per failed attempt.
        limiter: Rate limiter shared by all workers.
        abort: Set when in-flight jobs must give up (grace period over).
    """

    def __init__(self, sink: ResultSink, limiter: RateLimiter, abort: threading.Event) -> None:
        self.sink = sink
        self.limiter = limiter
        self.abort = abort
        self._current: ContextVar[JobScope | None] = ContextVar("job_scope", default=None)

    def policy(
        self, max_attempts: int, initial_backoff_s: float, max_backoff_s: float
    ) -> RetryPolicy:
        """The retry policy to give the client (its callbacks are these hooks).

        The values are the pipeline's ``execution.retries`` (defaults in xai_pipelines/defaults.py).
        """
        return RetryPolicy(
            max_attempts=max_attempts,
            initial_backoff=initial_backoff_s,
            max_backoff=max_backoff_s,
            rate_limit_backoff=max(initial_backoff_s, min(RATE_LIMIT_BACKOFF_S, max_backoff_s)),
            on_attempt=self.on_attempt,
            interrupt=self.abort,
        )

    @property
    def current(self) -> JobScope | None:
        """The job of the calling context (worker thread or task), if any."""
        return self._current.get()

    @contextmanager
    def scope(self, job: Job, timeout_s: float | None) -> Iterator[JobScope]:
        """Make ``job`` the current job of the calling context until the block ends."""
        scope = JobScope(job, None if timeout_s is None else time.monotonic() + timeout_s)
        token = self._current.set(scope)
        try:
            yield scope
        finally:
            self._current.reset(token)

    def on_attempt(self, info: AttemptInfo) -> None:
        """Book a failed attempt; before a retry, check the deadline and take a token.

        Raises:
            JobFailed: The job's deadline would pass during the backoff, or the run aborted.
        """
        if not info.will_retry:
            return  # the final failure is the job's, recorded by the executor
        exc = info.error
        scope = self.current
        if is_rate_limited(exc):
            self.limiter.note_rate_limited()
        if scope is not None:
            scope.failed_attempts += 1
            code = exc.code if isinstance(exc, XaiError) else type(exc).__name__
            message = exc.message if isinstance(exc, XaiError) else str(exc)
            log.debug(
                "job %s: attempt %d failed (%s: %s); retry in %.2fs",
                scope.job.id, info.attempt, code, message, info.delay,
            )  # fmt: skip
            request_id = exc.request_id if isinstance(exc, XaiError) else None
            self.sink.attempt_failed(scope.job, code, message, info.attempt, request_id)
            self.limiter.reconcile(scope.estimate, 0)  # a failed attempt used (almost) no tokens
            remaining = scope.remaining()
            if remaining is not None and remaining < info.delay:
                raise JobFailed("DEADLINE_EXCEEDED", "job deadline reached while retrying")
        if self.abort.is_set():
            raise JobFailed("CANCELLED", "run aborted")
        self.acquire(scope.estimate if scope is not None else 0)

    def acquire(self, estimate: int) -> None:
        """Take a request (and ``estimate`` tokens) from the rate limiter."""
        scope = self.current
        started = time.perf_counter()
        if not self.limiter.acquire(estimate, stop=self.abort):
            raise JobFailed("CANCELLED", "run aborted")
        if scope is not None:
            scope.estimate = estimate
            scope.queued_s += time.perf_counter() - started
