"""The executor: runs a lazy stream of jobs on a thread pool with a bounded number in flight.

The plan is pulled one job at a time, only when a worker slot is free, so at
most ``concurrency`` jobs exist beyond those already finished: memory does not
grow with the size of the plan. Dispatch stops on Ctrl-C, on the first failure
with ``fail_fast``, or when the spent budget reaches ``budget_usd``; jobs already
in flight are allowed to finish (within ``grace_s`` after Ctrl-C).

A failed write into the output directory (see :mod:`xai_pipelines.run.sink`)
stops dispatch at once and sets ``abort``: no further call is made (a job
waiting for a rate-limit token or a retry gives up, unrecorded, and is run again
by a resumed run), while calls already sent finish and their results are kept.

Nothing a worker raises is lost in the thread pool: a runner's bug fails its
job (traceback in ``run.log``); an error anywhere else in a worker (the sink,
the bookkeeping) stops the run and :meth:`Executor.run` raises
:class:`WorkerError` once the jobs in flight are done.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from xai_pipelines.defaults import DEFAULTS
from xai_pipelines.plan import Job
from xai_pipelines.report import TICKS_PER_USD
from xai_pipelines.run.outcome import JobFailed, JobResult
from xai_pipelines.run.sink import ResultSink
from xai_pipelines.sdk.errors import AuthenticationError, PermissionDeniedError, XaiError
from xai_pipelines.store import ResumeState, RunStatus, WriteError

log = logging.getLogger(__name__)

#: Errors that no other job would escape (the key is refused): dispatch stops at once.
FATAL_ERRORS: tuple[type[XaiError], ...] = (AuthenticationError, PermissionDeniedError)


def is_fatal(failure: BaseException) -> bool:
    """Whether ``failure`` (or the client error it was raised from) refuses the key."""
    return isinstance(failure, FATAL_ERRORS) or isinstance(failure.__cause__, FATAL_ERRORS)


class WorkerError(RuntimeError):
    """A worker thread raised outside the job's own work (a bug); its traceback is logged.

    Attributes:
        job_id: The job the worker was running.
    """

    def __init__(self, job_id: str, error: BaseException) -> None:
        super().__init__(
            f"internal error while recording job {job_id}: {type(error).__name__}: {error} "
            "(the traceback is in run.log)"
        )
        self.job_id = job_id


#: Runs one job; raises :class:`JobFailed` when it fails for good.
JobFn = Callable[[Job], JobResult]
OnError = Literal["continue", "fail_fast"]
#: After Ctrl-C, how long in-flight jobs may take to finish (default of the run's ``grace_s``).
GRACE_S = 10.0


@dataclass(frozen=True)
class ExecutorOptions:
    """How jobs are dispatched.

    Attributes:
        concurrency: Most jobs in flight at once.
        on_error: ``continue`` past failed jobs, or ``fail_fast``: stop dispatching after one.
        budget_usd: Stop dispatching once this much has been spent (None: no budget).
        grace_s: After Ctrl-C, how long in-flight jobs may take to finish.
    """

    concurrency: int = DEFAULTS["execution.concurrency"]
    on_error: OnError = DEFAULTS["execution.on_error"]
    budget_usd: float | None = None
    grace_s: float = GRACE_S

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")


class Executor:
    """Dispatches jobs to ``run_job`` on worker threads and records what they produce.

    Args:
        run_job: Runs one job (chat or image, see :mod:`xai_pipelines.run.jobrun`).
        sink: Receives results and failures.
        options: Dispatch settings.
        stop: Set from outside (first Ctrl-C) to stop dispatching.
        abort: Set by the executor when the grace period ran out; job runners check it.
        resume: Jobs finished by earlier runs, skipped by id and digest.
    """

    def __init__(
        self,
        run_job: JobFn,
        sink: ResultSink,
        options: ExecutorOptions,
        *,
        stop: threading.Event | None = None,
        abort: threading.Event | None = None,
        resume: ResumeState | None = None,
    ) -> None:
        self.run_job = run_job
        self.sink = sink
        self.options = options
        self.stop = stop or threading.Event()
        self.abort = abort or threading.Event()
        self.resume = resume or ResumeState()
        self.reason: RunStatus | None = None
        self._halt = threading.Event()  # stop dispatching, for any reason
        self._slots = threading.BoundedSemaphore(options.concurrency)
        self._idle = threading.Condition()
        self._budget_ticks = (
            None if options.budget_usd is None else round(options.budget_usd * TICKS_PER_USD)
        )
        self._write_failed = threading.Event()
        self._crash: WorkerError | None = None
        sink.on_write_failure(self._on_write_failure)

    def _on_write_failure(self, failure: WriteError) -> None:
        """A write failed: no new job, and no further call from the jobs in flight."""
        self.reason = "failed"
        self._write_failed.set()
        self._halt.set()
        self.abort.set()

    def run(self, jobs: Iterable[Job]) -> RunStatus:
        """Run every job of ``jobs`` not already finished.

        Returns:
            ``completed`` (all succeeded), ``failed`` (some failed, or a write failed:
            see ``sink.write_failure``), ``interrupted`` (Ctrl-C) or ``budget_exhausted``.

        Raises:
            WorkerError: A worker raised outside its job's work (after the jobs in
                flight finished).
        """
        stats = self.sink.stats
        pool = ThreadPoolExecutor(self.options.concurrency, thread_name_prefix="job")
        try:
            for job in jobs:
                if self.resume.finished and self.resume.is_done(job.id, job.digest):
                    stats.skipped += 1
                    continue
                if not self._take_slot():
                    break
                stats.job_started()
                pool.submit(self._work, job)
            self._drain()
        finally:
            wait = not self.abort.is_set() or self._write_failed.is_set()
            pool.shutdown(wait=wait, cancel_futures=True)
        if self._crash is not None:
            raise self._crash
        if self.stop.is_set():
            return "interrupted"
        if self.reason is not None:
            return self.reason
        return "failed" if stats.failed else "completed"

    def _take_slot(self) -> bool:
        while True:
            if self._halted():
                return False
            if self._slots.acquire(timeout=0.1):
                if self._halted():
                    self._slots.release()
                    return False
                return True

    def _halted(self) -> bool:
        return self._halt.is_set() or self.stop.is_set()

    def _drain(self) -> None:
        """Wait for in-flight jobs; after Ctrl-C, only for ``grace_s``."""
        for _ in range(self.options.concurrency):
            while not self._slots.acquire(timeout=0.1):
                if self.stop.is_set() and self._wait_grace():
                    return
        for _ in range(self.options.concurrency):
            self._slots.release()

    def _wait_grace(self) -> bool:
        """Returns True (and sets ``abort``) when in-flight jobs outlast the grace period."""
        with self._idle:
            done = self._idle.wait_for(
                lambda: self.sink.stats.in_flight == 0, timeout=self.options.grace_s
            )
        if not done:
            self.abort.set()
        return not done

    def _work(self, job: Job) -> None:
        try:
            self._record(job)
        except BaseException as exc:  # never lost in the pool: the run raises it at the end
            log.exception("job %s: the worker raised %s; the run stops", job.id, type(exc).__name__)
            if self._crash is None:
                self._crash = WorkerError(job.id, exc)
                self._crash.__cause__ = exc
            self.reason = "failed"
            self._halt.set()
        finally:
            self._slots.release()
            with self._idle:
                self._idle.notify_all()

    def _record(self, job: Job) -> None:
        """Run ``job`` and hand what it produced to the sink."""
        try:
            result = self.run_job(job)
        except JobFailed as failure:
            if self._write_failed.is_set() and failure.code == "CANCELLED":
                # stopped before its call by the failed write: not a failure; resume runs it
                log.debug("job %s not run: a write failed", job.id)
                self.sink.stats.job_abandoned()
                return
            log.debug("job %s failed: %s (%d attempts)", job.id, failure, failure.attempts)
            self.sink.failed(job, failure)
            fatal = is_fatal(failure)
            if self.options.on_error == "fail_fast" or fatal:
                if fatal:
                    log.warning("the API refused the key (%s); dispatch stops", failure)
                self.reason = "failed"
                self._halt.set()
        except WriteError as exc:  # a file of the job (an image) could not be written
            log.debug("job %s: %s", job.id, exc)
            self.sink.write_failed(exc)
            self.sink.failed(job, JobFailed("WRITE_FAILED", str(exc)))
        except Exception as exc:  # a bug in a runner must not kill the run silently
            log.exception("job %s: the runner raised %s", job.id, type(exc).__name__)
            self.sink.failed(job, JobFailed("CLIENT_ERROR", f"{type(exc).__name__}: {exc}"))
        else:
            self.sink.finished(result)
            if self._budget_ticks is not None and self.sink.stats.cost_ticks >= self._budget_ticks:
                self.reason = "budget_exhausted"
                self._halt.set()
