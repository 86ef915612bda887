"""Where the executor puts what jobs produce: result and error lines, plus live counters."""

from __future__ import annotations

import contextlib

import msgspec

from xai_pipelines.plan import Job
from xai_pipelines.records import ErrorLine
from xai_pipelines.run.outcome import JobFailed, JobResult
from xai_pipelines.run.stats import RunStats
from xai_pipelines.store import JsonlAppender, utc_now


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

    def finished(self, result: JobResult) -> bool:
        """Record a finished job.

        Returns:
            False when the run was already closed (an abort): the job stays unfinished.
        """
        try:
            self.results.append_record(msgspec.structs.replace(result.line, run_id=self.run_id))
        except ValueError:
            self.stats.job_abandoned()
            return False
        self.stats.job_finished(result.tokens, result.images, result.cost_ticks)
        if result.recorded is not None:
            result.recorded()
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
            self.errors.append_record(line)
