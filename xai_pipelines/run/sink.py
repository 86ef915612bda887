"""Where the executor puts what jobs produce: result and error lines, plus live counters.

A write that fails (disk full, read-only or immutable file, I/O error) never
loses a finished job silently. The first failure is latched
(:attr:`ResultSink.write_failure`) and announced to the listeners (the
executor stops dispatching and lets no further call start); from then on, and
for the line that failed, lines are kept in memory. :meth:`ResultSink.flush`
tries them again at the end of the run; what still cannot be written is
counted (:attr:`ResultSink.unsaved_results`) for the run's final message.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec

from xai_pipelines.plan import Job
from xai_pipelines.records import ErrorLine, ResultLine
from xai_pipelines.run.outcome import JobFailed, JobResult
from xai_pipelines.run.stats import RunStats
from xai_pipelines.store import JsonlAppender, WriteError, utc_now

log = logging.getLogger(__name__)

#: Called once, with the first failed write of the run.
WriteFailureListener = Callable[[WriteError], None]


@dataclass
class _Kept:
    """A line not written yet, with the job result it records (None for an error line)."""

    appender: JsonlAppender
    line: ResultLine | ErrorLine
    result: JobResult | None = None

    def write(self) -> None:
        """Write the job's image files still in memory, then the line.

        The line comes last: a result line on disk means its files are too.
        """
        if self.result is not None:
            while self.result.deferred:
                self.result.deferred[0].write()
                self.result.deferred.pop(0)
        self.appender.append_record(self.line)


class ResultSink:
    """Appends result and error lines and keeps :class:`RunStats` in step.

    Args:
        results: Appender of ``results.jsonl``.
        errors: Appender of ``errors.jsonl``.
        stats: Live counters.
        run_id: Written on every line.
    """

    def __init__(
        self, results: JsonlAppender, errors: JsonlAppender, stats: RunStats, run_id: str
    ) -> None:
        self.results = results
        self.errors = errors
        self.stats = stats
        self.run_id = run_id
        self.write_failure: WriteError | None = None
        self._kept: list[_Kept] = []
        self._listeners: list[WriteFailureListener] = []
        self._lock = threading.Lock()

    def on_write_failure(self, listener: WriteFailureListener) -> None:
        """Call ``listener`` with the first failed write (at once if one already failed)."""
        with self._lock:
            self._listeners.append(listener)
            failure = self.write_failure
        if failure is not None:
            listener(failure)

    @property
    def unsaved_results(self) -> int:
        """Finished jobs whose result line is only in memory."""
        with self._lock:
            return sum(1 for k in self._kept if k.result is not None)

    @property
    def unsaved_errors(self) -> int:
        """Error lines only in memory."""
        with self._lock:
            return sum(1 for k in self._kept if k.result is None)

    def finished(self, result: JobResult) -> bool:
        """Record a finished job (kept in memory when its line or files cannot be written).

        Returns:
            False when the run was already closed (an abort): the job stays unfinished.
        """
        line = msgspec.structs.replace(result.line, run_id=self.run_id)
        for deferred in result.deferred:  # an image file the runner could not write
            self.write_failed(deferred.error)
        try:
            written = self._write(_Kept(self.results, line, result))
        except ValueError:
            self.stats.job_abandoned()
            return False
        if written:
            self.stats.job_finished(result.tokens, result.images, result.cost_ticks)
            if result.recorded is not None:
                result.recorded()
        else:
            self.stats.job_unsaved(result.tokens, result.images, result.cost_ticks)
        return True

    def failed(self, job: Job, failure: JobFailed) -> None:
        """Record a job that failed for good."""
        self._error(job, failure.code, failure.message, failure.attempts, True, failure.request_id)
        self.stats.job_failed(failure.code)

    def attempt_failed(
        self, job: Job, code: str, message: str, attempt: int, request_id: str | None = None
    ) -> None:
        """Record a failed attempt that will be retried."""
        self._error(job, code, message, attempt, False, request_id)
        self.stats.retried()

    def write_failed(self, failure: OSError) -> None:
        """Latch a failed write; the first one is logged and announced to the listeners.

        Also for writes outside the sink (the manifest's checkpoints): an ``OSError``
        that is not a :class:`WriteError` is named by its ``filename``.
        """
        if not isinstance(failure, WriteError):
            failure = WriteError(Path(str(failure.filename or "the output directory")), failure)
        with self._lock:
            if self.write_failure is not None:
                return
            self.write_failure = failure
            listeners = list(self._listeners)
        # INFO: the run ends with this failure as its one message (the CLI prints it)
        log.info("%s; no further job is started", failure)
        for listener in listeners:
            listener(failure)

    def flush(self) -> int:
        """Try again to write every line kept in memory (at the end of the run).

        Returns:
            The number of finished results still not written.
        """
        with self._lock:
            kept, self._kept = self._kept, []
        still: list[_Kept] = []
        for entry in kept:
            try:
                entry.write()
            except (WriteError, ValueError) as exc:
                log.debug("still cannot write a kept line: %s", exc)
                still.append(entry)
                continue
            if entry.result is not None:
                self.stats.unsaved_written()
                if entry.result.recorded is not None:
                    entry.result.recorded()
        with self._lock:
            self._kept[:0] = still
        saved = sum(1 for k in kept if k.result is not None) - self.unsaved_results
        if kept:
            log.info("%d kept result lines written at the end of the run", saved)
        return self.unsaved_results

    def failure_message(self) -> str | None:
        """The run's one message about its failed write (None when every write succeeded).

        For example ``cannot write out/results.jsonl: [Errno 28] No space left on device;
        12 finished results could not be saved; free space and rerun to resume``.
        """
        failure = self.write_failure
        if failure is None:
            return None
        lost, errors = self.unsaved_results, self.unsaved_errors
        parts = [str(failure)]
        if lost:
            parts.append(f"{lost} finished result{'s' if lost != 1 else ''} could not be saved")
        else:
            parts.append("every finished result was saved")
        if errors:
            parts.append(f"{errors} error line{'s' if errors != 1 else ''} could not be saved")
        if failure.out_of_space:
            hint = "free space and rerun to resume"
        elif failure.errno in (errno.EPERM, errno.EACCES, errno.EROFS):
            hint = f"make {failure.path} writable and rerun to resume"
        else:
            hint = f"check the device of {failure.path} and rerun to resume"
        parts.append(hint)
        return "; ".join(parts)

    def _write(self, entry: _Kept) -> bool:
        """Write ``entry`` now, or keep it (a write already failed, or this one does).

        Raises:
            ValueError: The appender is closed (an abort): nothing is kept.
        """
        with self._lock:
            if self.write_failure is not None:
                self._kept.append(entry)
                return False
        try:
            entry.write()
        except WriteError as exc:
            with self._lock:
                self._kept.append(entry)
            self.write_failed(exc)
            return False
        return True

    def _error(
        self, job: Job, code: str, message: str, attempt: int, final: bool, request_id: str | None
    ) -> None:
        line = ErrorLine(
            id=job.id,
            kind=job.kind,
            model=job.model,
            digest=job.digest,
            task=job.task,
            attempt=attempt,
            final=final,
            code=code,
            message=message,
            at=utc_now(),
            run_id=self.run_id,
        )
        if request_id:  # the server's id of the failed request, for support
            line.request_id = request_id
        if final:  # what the reports need of a job that has no result line
            line.index = job.index
            line.matrix = dict(job.meta.get("matrix") or {})
            line.expects = len(job.expect)
        # The run was closed (an abort): the line is dropped, as a finished one is.
        with contextlib.suppress(ValueError):
            self._write(_Kept(self.errors, line))
