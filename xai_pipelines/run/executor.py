"""The executor: runs a lazy stream of jobs as tasks of one event loop, a bounded number in flight.

Every job in flight is one coroutine on one ``asyncio`` event loop, run on the
thread that calls :meth:`Executor.run`; its API calls are ``grpc.aio`` calls (the
runners use :class:`xai_pipelines.sdk.aio.AsyncClient`), so thousands of calls are in
flight without an OS thread each. The blocking part of a job (cache lookups and
stores, local file uploads, model-graded checks on the sync client, image saves)
runs on the executor's thread pool (:data:`WORK_THREADS` threads, the loop's default
executor, so ``asyncio.to_thread`` lands there with the job's context); a job
function that is not a coroutine function (batch mode's result conversion) runs
there whole. Result and error lines are appended from the loop: one ``write``
each, the fsync is the appender's background thread's.

The plan is pulled one job at a time, only when a slot is free, so at most
``concurrency`` jobs exist beyond those already finished: memory does not grow
with the size of the plan. Dispatch stops on Ctrl-C, on the first failure with
``fail_fast``, on a refused key, or when the spent budget reaches ``budget_usd``;
jobs already in flight are allowed to finish (within ``grace_s`` after Ctrl-C,
after which ``abort`` is set and their tasks are cancelled, which cancels their calls).

A failed write into the output directory (see :mod:`xai_pipelines.run.sink`)
stops dispatch at once and sets ``abort``: no further call is made (a job
waiting for a rate-limit token or a retry gives up, unrecorded, and is run again
by a resumed run), while calls already sent finish and their results are kept.

Nothing a job task raises is lost: a runner's bug fails its job (traceback in
``run.log``); an error anywhere else (the sink, the bookkeeping) stops the run and
:meth:`Executor.run` raises :class:`WorkerError` once the jobs in flight are done.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from xai_pipelines.defaults import DEFAULTS
from xai_pipelines.eventloop import new_event_loop
from xai_pipelines.plan import Job
from xai_pipelines.report import TICKS_PER_USD
from xai_pipelines.run.gctune import calm_gc
from xai_pipelines.run.outcome import JobFailed, JobResult
from xai_pipelines.run.sink import ResultSink
from xai_pipelines.sdk.errors import AuthenticationError, PermissionDeniedError, XaiError
from xai_pipelines.store import ResumeState, RunStatus, WriteError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Errors that no other job would escape (the key is refused): dispatch stops at once.
FATAL_ERRORS: tuple[type[XaiError], ...] = (AuthenticationError, PermissionDeniedError)


def is_fatal(failure: BaseException) -> bool:
    """Whether ``failure`` (or the client error it was raised from) refuses the key."""
    return isinstance(failure, FATAL_ERRORS) or isinstance(failure.__cause__, FATAL_ERRORS)


class WorkerError(RuntimeError):
    """A job's task raised outside the job's own work (a bug); its traceback is logged.

    Attributes:
        job_id: The job the worker was running.
    """

    def __init__(self, job_id: str, error: BaseException) -> None:
        super().__init__(
            f"internal error while recording job {job_id}: {type(error).__name__}: {error} "
            "(the traceback is in run.log)"
        )
        self.job_id = job_id


class WorkerLost(WorkerError):
    """A worker process of ``--processes`` died: its jobs in flight stay unrecorded (a
    resumed run runs them) and the run stops; ``str()`` is the one message."""

    def __init__(self, message: str) -> None:
        RuntimeError.__init__(self, message)
        self.job_id = ""


#: Runs one job (a coroutine function, or a plain one run on the pool); raises
#: :class:`JobFailed` when it fails for good.
JobFn = Callable[[Job], JobResult] | Callable[[Job], Awaitable[JobResult]]
OnError = Literal["continue", "fail_fast"]
#: After Ctrl-C, how long in-flight jobs may take to finish (default of the run's ``grace_s``).
GRACE_S = 10.0
#: Threads of the pool for the blocking work of jobs (see the module docstring): the
#: calls themselves hold none, so a few dozen keep the disk and the grader busy.
WORK_THREADS = 32
#: How often the loop looks at the stop and halt events set from other threads.
WATCH_S = 0.05
#: After an abort, how long cancelled tasks get to unwind (spans, places) before the loop ends.
UNWIND_S = 1.0


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
    """Runs jobs as tasks of one event loop and records what they produce.

    Args:
        run_job: Runs one job (chat or image, see :mod:`xai_pipelines.run.jobrun`).
        sink: Receives results and failures.
        options: Dispatch settings.
        stop: Set from outside (first Ctrl-C) to stop dispatching.
        abort: Set by the executor when the grace period ran out; job runners check it.
        resume: Jobs finished by earlier runs, skipped by id and digest.
        on_close: Awaited on the executor's loop when the run ends (closes the async
            client's channels, which belong to that loop).
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
        on_close: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.run_job = run_job
        self.sink = sink
        self.options = options
        self.stop = stop or threading.Event()
        self.abort = abort or threading.Event()
        self.resume = resume or ResumeState()
        self.on_close = on_close
        self.reason: RunStatus | None = None
        self._halt = threading.Event()  # stop dispatching, for any reason
        self._budget_ticks = (
            None if options.budget_usd is None else round(options.budget_usd * TICKS_PER_USD)
        )
        self._write_failed = threading.Event()
        self._crash: WorkerError | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._is_async = inspect.iscoroutinefunction(run_job)
        sink.on_write_failure(self._on_write_failure)

    def _on_write_failure(self, failure: WriteError) -> None:
        """A write failed: no new job, and no further call from the jobs in flight."""
        self.reason = "failed"
        self._write_failed.set()
        self._halt.set()
        self.abort.set()

    def run(self, jobs: Iterable[Job]) -> RunStatus:
        """Run every job of ``jobs`` not already finished, on a new event loop on this thread.

        Returns:
            ``completed`` (all succeeded), ``failed`` (some failed, or a write failed:
            see ``sink.write_failure``), ``interrupted`` (Ctrl-C) or ``budget_exhausted``.

        Raises:
            WorkerError: A job's task raised outside its job's work (after the jobs in
                flight finished).
        """
        stats = self.sink.stats
        pool = ThreadPoolExecutor(min(self.options.concurrency, WORK_THREADS),
                                  thread_name_prefix="job")  # fmt: skip
        loop = new_event_loop("executor")
        loop.set_default_executor(pool)
        try:
            with calm_gc():
                loop.run_until_complete(self._main(jobs))
        finally:
            try:
                _cancel_all(loop)
                if self.on_close is not None:
                    loop.run_until_complete(self.on_close())
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                # after an abort, blocking work left on the pool is not waited for
                wait = not self.abort.is_set() or self._write_failed.is_set()
                pool.shutdown(wait=wait, cancel_futures=True)
                loop.close()
        if self._crash is not None:
            raise self._crash
        if self.stop.is_set():
            return "interrupted"
        if self.reason is not None:
            return self.reason
        return "failed" if stats.failed else "completed"

    async def _main(self, jobs: Iterable[Job]) -> None:
        self._jobs = iter(jobs)
        self._plan_error: BaseException | None = None
        self._idle = asyncio.Event()
        self._spawn()
        await self._drain()
        if self._plan_error is not None:  # the jobs in flight are cancelled by run()
            raise self._plan_error

    def _halted(self) -> bool:
        return self._halt.is_set() or self.stop.is_set()

    def _spawn(self) -> None:
        """Start one more worker (up to ``concurrency`` of them)."""
        task = asyncio.create_task(self._worker())
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not self._tasks:
            self._idle.set()

    def _next(self) -> Job | None:
        """The next job to run, or None once the plan ended or dispatch stopped."""
        stats = self.sink.stats
        try:
            for job in self._jobs:
                if self.resume.finished and self.resume.is_done(job.id, job.digest):
                    stats.skipped += 1
                    continue
                return None if self._halted() else job
        except Exception as exc:  # the plan could not be read: the run raises it
            self._plan_error = self._plan_error or exc
            self._halt.set()
            self._idle.set()  # wakes _drain
        return None

    async def _worker(self) -> None:
        """Run jobs one after another while the plan has some and dispatch goes on.

        A job finishing starts the next one on the same coroutine (a task per job cost
        a task, a done callback and a semaphore wake-up each). A worker that takes a
        job starts another while fewer than ``concurrency`` exist, so there are never
        many more workers than jobs: a small plan does not create ``concurrency`` of them.
        """
        while not self._halted():
            job = self._next()
            if job is None:
                return
            self.sink.stats.job_started()
            if len(self._tasks) < self.options.concurrency:
                self._spawn()
            await self._work(job)

    async def _drain(self) -> None:
        """Wait for the jobs in flight; after Ctrl-C only for ``grace_s``, then abort them."""
        while self._tasks:
            if self.stop.is_set():
                try:
                    await asyncio.wait_for(self._idle.wait(), self.options.grace_s)
                except TimeoutError:
                    self.abort.set()
                    pending = list(self._tasks)
                    for task in pending:
                        task.cancel()
                    await asyncio.wait(pending, timeout=UNWIND_S)
                return
            if self._plan_error is not None:
                return
            try:
                await asyncio.wait_for(self._idle.wait(), WATCH_S * 4)
            except TimeoutError:
                continue

    async def _work(self, job: Job) -> None:
        try:
            await self._record(job)
        except asyncio.CancelledError:  # aborted after the grace period: resume runs it
            self.sink.stats.job_abandoned()
        except WorkerLost as exc:  # its process died: resume runs it; the run stops
            self.sink.stats.job_abandoned()
            self._crash = self._crash or exc
            self.reason = "failed"
            self._halt.set()
        except BaseException as exc:  # never lost: the run raises it at the end
            log.exception("job %s: the worker raised %s; the run stops", job.id, type(exc).__name__)
            if self._crash is None:
                self._crash = WorkerError(job.id, exc)
                self._crash.__cause__ = exc
            self.reason = "failed"
            self._halt.set()

    def _call(self, job: Job) -> Awaitable[JobResult]:
        # the job's own coroutine when it has one (no coroutine of ours around it)
        if self._is_async:
            return self.run_job(job)  # type: ignore[return-value]
        return _on_pool(self.run_job, job)  # type: ignore[arg-type]

    async def _record(self, job: Job) -> None:
        """Run ``job`` and hand what it produced to the sink."""
        try:
            result = await self._call(job)
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
        except WorkerLost:
            raise
        except WriteError as exc:  # a file of the job (an image) could not be written
            log.debug("job %s: %s", job.id, exc)
            self.sink.write_failed(exc)
            self.sink.failed(job, JobFailed("WRITE_FAILED", str(exc)))
        except Exception as exc:  # a bug in a runner must not kill the run silently
            log.exception("job %s: the runner raised %s", job.id, type(exc).__name__)
            self.sink.failed(job, JobFailed("CLIENT_ERROR", f"{type(exc).__name__}: {exc}"))
        else:
            if result.recorded is not None or result.deferred:
                # the cache's store (SQLite) or image files: blocking, so on the pool
                await _on_pool(self.sink.finished, result)
            else:
                self.sink.finished(result)  # one buffered line: cheaper here than a hand-off
            if self._budget_ticks is not None and self.sink.stats.cost_ticks >= self._budget_ticks:
                self.reason = "budget_exhausted"
                self._halt.set()


async def _on_pool(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` on the loop's pool, in the caller's context (the job's scope and span)."""
    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()
    return await loop.run_in_executor(None, functools.partial(ctx.run, fn, *args))


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel the tasks still on ``loop`` (after an interrupt) and let them unwind."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    if not pending:
        return
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.wait(pending, timeout=UNWIND_S))
