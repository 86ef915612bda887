"""Per-job bookkeeping around the client's retries: error lines, rate limits, deadlines.

The client retries every call with the one shared :class:`RetryPolicy`; the
executor builds that policy with :meth:`AttemptHooks.policy`, whose callbacks run
on the worker thread that makes the call. They find the job being run in a
thread-local, record each failed attempt in ``errors.jsonl``, cut the dispatch
rate on ``RESOURCE_EXHAUSTED``, take a rate-limit token before the retry, and
refuse to sleep past the job's deadline or after an abort.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from xai_pipelines.plan import Job
from xai_pipelines.run.outcome import JobFailed
from xai_pipelines.run.ratelimit import RateLimiter
from xai_pipelines.run.sink import ResultSink
from xai_pipelines.sdk.errors import XaiError
from xai_pipelines.sdk.retry import RetryPolicy, is_rate_limited


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
        self._local = threading.local()

    def policy(
        self, max_attempts: int = 5, initial_backoff_s: float = 0.5, max_backoff_s: float = 30.0
    ) -> RetryPolicy:
        """The retry policy to give the client (its callbacks are these hooks)."""
        return RetryPolicy(
            max_attempts=max_attempts,
            initial_backoff=initial_backoff_s,
            max_backoff=max_backoff_s,
            rate_limit_backoff=max(initial_backoff_s, min(2.0, max_backoff_s)),
            on_retry=self.on_retry,
            sleep=self.sleep,
        )

    @property
    def current(self) -> JobScope | None:
        """The job of the calling thread, if any."""
        return getattr(self._local, "scope", None)

    @contextmanager
    def scope(self, job: Job, timeout_s: float | None) -> Iterator[JobScope]:
        """Make ``job`` the calling thread's current job."""
        scope = JobScope(job, None if timeout_s is None else time.monotonic() + timeout_s)
        self._local.scope = scope
        try:
            yield scope
        finally:
            self._local.scope = None

    def on_retry(self, exc: BaseException, attempt: int, delay: float) -> None:
        """Record a failed attempt that is about to be retried."""
        scope = self.current
        if is_rate_limited(exc):
            self.limiter.note_rate_limited()
        if scope is None:
            return
        scope.failed_attempts += 1
        code = exc.code if isinstance(exc, XaiError) else type(exc).__name__
        message = exc.message if isinstance(exc, XaiError) else str(exc)
        self.sink.attempt_failed(scope.job, code, message, attempt)
        self.limiter.reconcile(scope.estimate, 0)  # a failed attempt used (almost) no tokens

    def sleep(self, delay: float) -> None:
        """Back off before a retry, then take a rate-limit token for it."""
        scope = self.current
        remaining = scope.remaining() if scope is not None else None
        if remaining is not None and remaining < delay:
            raise JobFailed("DEADLINE_EXCEEDED", "job deadline reached while retrying")
        if self.abort.wait(delay):
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
