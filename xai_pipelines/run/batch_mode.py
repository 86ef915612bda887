"""``execution: {mode: batch}``: the plan as one server-side batch (BatchMgmt).

Steps: spool the jobs not yet finished to disk (:class:`JobSpool`); re-attach to
the batch recorded in the manifest (same spec digest) or create one (within
``budget_usd``) and record it at once; add the jobs the batch does not hold yet
(each ``batch_request_id`` is the job id) in AddBatchRequests calls of at most
``page_size`` requests and 25 MB, at most 100 calls per 30 s; poll ``GetBatch``
with a growing interval until nothing is pending or the time limit passes; page
the results back through the executor, so every result and error line is written
exactly as in an online run. Ctrl-C (or the time limit) leaves the batch running
server-side: the same command re-attaches and collects.

Memory does not grow with the plan: the jobs are read from the spool a page at a
time, requests are built one add call at a time, and results are converted as
their pages arrive, a result looking its job up in the spool by id
(``tests/run/test_batch_scale.py`` measures it).

Submission takes one of two paths (``BatchSettings.submit``; the manifest's
``batch.submitted`` and the run log say which one a run took):

* ``file``: the jobs are written, one line per job, to a JSONL batch input file in
  the output directory (streamed from the spool, one line in memory at a time;
  :func:`~xai_pipelines.run.batch_jobs.write_input_file`), uploaded in chunks with
  the Files API, and the batch is created from it (``CreateBatchRequest.input_file_id``,
  the API's JSONL path since 2026-03: /work/shared/FIELD-NOTES.md "Batch API").
  The lines are the REST bodies of the requests the SDK builds
  (:mod:`xai_pipelines.sdk.batch_file`). The local file is removed once uploaded;
  the uploaded one expires after :data:`INPUT_FILE_TTL_S` (``input_file_ttl_s``).
* ``requests``: an empty batch is created and the jobs are added with
  AddBatchRequests, as above: the very protos the online runners send.
* ``auto`` (the default): ``file`` when every job has a JSONL form and the file fits
  the Files API's 50 MB; otherwise, or when the server refuses the file
  (UNIMPLEMENTED, FAILED_PRECONDITION, INVALID_ARGUMENT on upload or create),
  ``requests``, saying why. Plans over 50 MB of lines are not split into several
  files and batches: the manifest holds one batch, and AddBatchRequests carries them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from msgspec import UNSET

from xai_pipelines.plan import Job
from xai_pipelines.plan.estimate import Prices
from xai_pipelines.run.batch_budget import BatchBudgetError, BatchRefusedError, budget_refusal
from xai_pipelines.run.batch_jobs import (
    BatchResultRunner,
    JobSpool,
    NotWritten,
    batch_request,
    write_input_file,
)
from xai_pipelines.run.executor import Executor, ExecutorOptions
from xai_pipelines.run.outcome import JobFailed
from xai_pipelines.run.sink import ResultSink
from xai_pipelines.sdk import Client
from xai_pipelines.sdk.batch import (
    ADD_REQUESTS_CALLS_PER_WINDOW,
    ADD_REQUESTS_MAX_BYTES,
    ADD_REQUESTS_WINDOW_S,
    BatchInfo,
    add_request_chunks,
    batch_request_proto,
)
from xai_pipelines.sdk.batch_file import FILE_MAX_BYTES
from xai_pipelines.sdk.errors import NotFoundError, XaiError
from xai_pipelines.store import ManifestWriter, ResumeState, RunStatus

#: A batch lives 24 hours on the hosted API; waiting longer cannot help.
BATCH_LIFETIME_S = 24 * 3600.0
#: Largest page of results or request metadata asked for (the emulator's cap too).
LIST_PAGE_MAX = 1000
#: Life of an uploaded batch input file: the batch's 24 hours and as long again, so that
#: a file is not gone while its batch runs, and one whose batch was never created (a
#: crash between upload and create) does not stay forever. Inside the Files API's
#: 3,600 s to 30 days (see the emulator's files_store.py for the source).
INPUT_FILE_TTL_S = 2 * 24 * 3600
#: Status codes with which a server refuses the file path (upload or create); ``auto``
#: then adds the requests instead.
FILE_REFUSED = frozenset({"UNIMPLEMENTED", "FAILED_PRECONDITION", "INVALID_ARGUMENT"})
#: How a new batch receives its jobs (see the module docstring).
SubmitPath = Literal["auto", "file", "requests"]
SUBMIT_PATHS: tuple[SubmitPath, ...] = ("auto", "file", "requests")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchSettings:
    """How a batch is submitted and awaited.

    Attributes:
        page_size: Requests per ``AddBatchRequests`` call (fewer when 25 MB is reached
            first), and results per page (at most :data:`LIST_PAGE_MAX`). 5,000 adds a
            million jobs in 200 calls: two windows of the API's 100 calls per 30 s.
        poll_initial_s: First interval between ``GetBatch`` polls.
        poll_max_s: Longest interval between polls.
        timeout_s: Stop waiting after this long (the batch keeps running server-side).
        add_calls_per_window: ``AddBatchRequests`` calls at most per ``add_window_s``.
        add_window_s: The window of ``add_calls_per_window``.
        submit: ``auto`` (a JSONL file when it can, else AddBatchRequests), ``file`` (a
            JSONL file or refuse the run) or ``requests`` (AddBatchRequests only).
        file_max_bytes: Largest batch input file written (the Files API's limit).
        input_file_ttl_s: ``expires_after`` of the uploaded input file, in seconds.
    """

    page_size: int = 5000
    poll_initial_s: float = 1.0
    poll_max_s: float = 30.0
    timeout_s: float = BATCH_LIFETIME_S
    add_calls_per_window: int = ADD_REQUESTS_CALLS_PER_WINDOW
    add_window_s: float = ADD_REQUESTS_WINDOW_S
    submit: SubmitPath = "auto"
    file_max_bytes: int = FILE_MAX_BYTES
    input_file_ttl_s: int = INPUT_FILE_TTL_S

    @property
    def list_page(self) -> int:
        """Results (or request metadata) asked for per page."""
        return min(self.page_size, LIST_PAGE_MAX)

    def __post_init__(self) -> None:
        if not 1 <= self.page_size <= 100_000:
            raise ValueError("page_size must be in [1, 100000]")
        if self.add_calls_per_window < 1 or self.add_window_s < 0:
            raise ValueError("add_calls_per_window must be >= 1 and add_window_s >= 0")
        if self.poll_initial_s <= 0 or self.poll_max_s < self.poll_initial_s:
            raise ValueError("poll intervals must be positive, initial <= max")
        if self.submit not in SUBMIT_PATHS:
            raise ValueError(f"submit must be one of {', '.join(SUBMIT_PATHS)}")
        if self.file_max_bytes < 1:
            raise ValueError("file_max_bytes must be positive")


def batch_settings(timeout_s: float | None, submit: str | None) -> BatchSettings:
    """The settings of ``--batch-timeout`` and ``--batch-submit`` (None and the rest: default).

    Raises:
        ValueError: ``submit`` is not one of :data:`SUBMIT_PATHS` (the message names them).
    """
    if submit is None:
        submit = BatchSettings.submit
    if submit not in SUBMIT_PATHS:
        raise ValueError(f"--batch-submit must be one of {', '.join(SUBMIT_PATHS)}, got {submit!r}")
    path: SubmitPath = submit  # type: ignore[assignment]
    if timeout_s is None:
        return BatchSettings(submit=path)
    return BatchSettings(timeout_s=timeout_s, submit=path)


@dataclass
class BatchContext:
    """What the session hands to batch mode.

    Attributes:
        client: SDK client of the run.
        sink: Result and error lines, counters.
        runner: Converts fetched results into result lines.
        manifest: The run's manifest (the batch id is recorded in it).
        resume: What earlier runs finished, and their manifest.
        spec_digest: Digest of the spec (a batch is re-attached only for the same one).
        name: Name given to a new batch.
        concurrency: Results converted at once (image downloads).
        stop: Set on Ctrl-C.
        notify: Messages for the user (batch id, re-attaching, how to resume or cancel).
        settings: Paging, polling and time limit.
        show_progress: Also notify the batch's counts as they change.
        budget_usd: ``execution.budget_usd``: a new batch is created only when the
            cost ceiling of its jobs is within it (see :func:`budget_refusal`).
        grader: ``evals.grader`` (for the grader's share of the ceiling).
    """

    client: Client
    sink: ResultSink
    runner: BatchResultRunner
    manifest: ManifestWriter
    resume: ResumeState
    spec_digest: str
    name: str
    concurrency: int
    stop: threading.Event
    notify: Callable[[str], None]
    settings: BatchSettings
    show_progress: bool = True
    budget_usd: float | None = None
    grader: str | None = None


class BatchMode:
    """Runs a plan as one server-side batch (see the module docstring)."""

    def __init__(self, ctx: BatchContext) -> None:
        self.ctx = ctx
        self.batch_id = ""
        # Set when the batch was created from a JSONL input file by this run.
        self._file_lines, self._file_id = 0, ""

    def run(self, jobs: Iterator[Job]) -> RunStatus:
        """Submit (or re-attach), wait, collect; returns the run status.

        Raises:
            BatchBudgetError: A new batch's cost ceiling is above ``budget_usd``.
            BatchRefusedError: ``submit: file`` and the jobs cannot go into one file, or
                the server refused it (nothing was submitted).
        """
        ctx, stats = self.ctx, self.ctx.sink.stats

        def pending() -> Iterator[Job]:
            for job in jobs:
                if ctx.resume.is_done(job.id, job.digest):
                    stats.skipped += 1
                else:
                    yield job

        with JobSpool(ctx.runner.out.root) as spool:
            spool.fill(pending())
            if not spool.count:
                return "completed"
            try:
                return self._run(spool)
            except XaiError as exc:  # retries are spent: the batch itself may be fine
                self.ctx.notify(f"a batch API call failed: {exc}")
                return self._left_running("failed") if self.batch_id else "failed"

    def _run(self, spool: JobSpool) -> RunStatus:
        held = self._attach(spool)
        if not self._submit(spool, held):
            return self._left_running("interrupted")
        finished = self._wait()
        if finished is None:
            return self._left_running("interrupted")
        status = self._collect(spool)
        if self.ctx.sink.write_failure is not None:
            return "failed"  # not all collected: a rerun re-attaches instead of paying again
        if status == "interrupted":
            return self._left_running(status)
        if not finished:
            return self._left_running("interrupted", timed_out=True)
        self.ctx.manifest.update_batch(collected=True)
        return status

    # --- submit ------------------------------------------------------------------------

    def _attach(self, spool: JobSpool) -> int:
        """Re-attach to the recorded batch or create a new one; the requests it holds.

        The ids a re-attached batch holds are marked in the spool. A new batch is
        created only within ``budget_usd`` (a re-attached one was checked when it
        was created).
        """
        ctx = self.ctx
        previous = dict((ctx.resume.previous_manifest or {}).get("batch") or {})
        if (
            not previous.get("batch_id")
            and previous.get("input_file_id")
            and previous.get("spec_digest") == ctx.spec_digest
        ):
            # The last run uploaded its input file and stopped before it recorded the
            # batch made from it (if any): find that batch rather than pay twice.
            previous["batch_id"] = self._batch_of_file(previous["input_file_id"])
        # A batch whose results were all collected is not re-attached: its failed
        # requests go into a new batch, as an online re-run retries them.
        if (
            previous.get("batch_id")
            and previous.get("spec_digest") == ctx.spec_digest
            and not previous.get("collected")
        ):
            try:
                ctx.client.batch.get(previous["batch_id"])
            except NotFoundError:
                ctx.notify(
                    f"batch {previous['batch_id']} is gone from the server (expired?); "
                    "submitting the remaining jobs as a new batch"
                )
            else:
                self.batch_id = previous["batch_id"]
                how = {k: previous[k] for k in ("submitted", "input_file_id") if previous.get(k)}
                self._record(previous.get("created_at"), attached=True, **how)
                ctx.notify(f"re-attached to batch {self.batch_id}")
                held = 0

                def ids() -> Iterator[str]:
                    nonlocal held
                    metadata = ctx.client.batch.iter_request_metadata(
                        self.batch_id, ctx.settings.list_page
                    )
                    for meta in metadata:
                        held += 1
                        yield meta.batch_request_id

                spool.mark_held(ids())
                return held
        if ctx.budget_usd is not None:
            prices = Prices.from_models(
                ctx.client.models.list_language_models(),
                ctx.client.models.list_image_generation_models(),
            )
            refusal = budget_refusal(spool.jobs(), ctx.budget_usd, prices, ctx.grader)
            if refusal is not None:
                raise BatchBudgetError(refusal)
        if ctx.settings.submit != "requests":
            from_file = self._create_from_file(spool)
            if from_file is not None:
                return from_file
        info = ctx.client.batch.create(ctx.name)
        self.batch_id = info.batch_id
        self._record(None, attached=False, submitted="requests", input_file_id=UNSET)
        ctx.notify(f"created batch {self.batch_id}")
        log.info("batch %s: jobs sent with AddBatchRequests", self.batch_id)
        return 0

    def _create_from_file(self, spool: JobSpool) -> int | None:
        """Create the batch from a JSONL input file of the spooled jobs; the requests it
        holds, or None when ``auto`` falls back to AddBatchRequests (the reason said)."""
        ctx = self.ctx
        path = ctx.runner.out.root / f".batch-input.jsonl.{os.getpid()}.part"
        try:
            written = write_input_file(
                ctx.client, spool.jobs(), path, ctx.settings.file_max_bytes, spool.count
            )
        except NotWritten as exc:
            self._no_file(f"no JSONL batch input file: {exc.reason}")
            return None
        file_id = None
        try:
            uploaded = ctx.client.files.upload(
                written.path,
                filename=f"{ctx.name}.jsonl",
                expires_after=ctx.settings.input_file_ttl_s,
            )
            file_id = uploaded.id
            # Recorded before the batch exists: a run stopped between the two finds the
            # batch by its file (:meth:`_batch_of_file`) instead of creating another.
            ctx.manifest.update_batch(
                batch_id="", spec_digest=ctx.spec_digest, submitted="file",
                input_file_id=file_id, collected=False,
            )  # fmt: skip
            info = ctx.client.batch.create(ctx.name, input_file_id=file_id)
        except XaiError as exc:
            if exc.code not in FILE_REFUSED:
                raise
            if file_id is not None:
                self._forget_file(file_id)
            self._no_file(f"the server refused the batch input file: {exc}")
            return None
        finally:
            path.unlink(missing_ok=True)
        self.batch_id = info.batch_id
        self._record(None, attached=False, submitted="file", input_file_id=file_id)
        spool.mark_all_held()
        self._file_lines, self._file_id = written.lines, file_id
        ctx.notify(f"created batch {self.batch_id} from file {file_id} ({written.size} bytes)")
        log.info(
            "batch %s: created from JSONL input file %s (%d lines, %d bytes)",
            self.batch_id, file_id, written.lines, written.size,
        )  # fmt: skip
        return written.lines

    def _batch_of_file(self, file_id: str) -> str | None:
        """The id of the caller's batch created from input file ``file_id``, if any."""
        for info in self.ctx.client.batch.iter_batches(LIST_PAGE_MAX):
            if info.input_file_id == file_id:
                return info.batch_id
        return None

    def _no_file(self, why: str) -> None:
        """Refuse (``submit: file``) or say why AddBatchRequests is used instead."""
        if self.ctx.settings.submit == "file":
            raise BatchRefusedError(f"batch.submit is file, but {why}; nothing was submitted")
        self.ctx.notify(f"{why}; adding the requests with AddBatchRequests instead")
        log.info("batch: %s; falling back to AddBatchRequests", why)

    def _forget_file(self, file_id: str) -> None:
        try:
            self.ctx.client.files.delete(file_id)
        except XaiError as exc:  # it expires anyway (INPUT_FILE_TTL_S)
            log.warning("could not delete the refused batch input file %s: %s", file_id, exc)

    def _record(self, created_at: Any, attached: bool, **submission: Any) -> None:
        self.ctx.manifest.update_batch(
            batch_id=self.batch_id,
            spec_digest=self.ctx.spec_digest,
            created_at=created_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            attached=attached,
            collected=False,
            **submission,
        )

    def _submit(self, spool: JobSpool, held: int) -> bool:
        """Add the spooled jobs the batch does not hold; False when Ctrl-C stopped it."""
        ctx = self.ctx
        requests = (
            batch_request_proto((job.id, batch_request(ctx.client, job))) for job in spool.unheld()
        )
        pace = _CallWindow(ctx.settings.add_calls_per_window, ctx.settings.add_window_s)
        added = 0
        for chunk in add_request_chunks(requests, ctx.settings.page_size, ADD_REQUESTS_MAX_BYTES):
            if ctx.stop.is_set() or not pace.wait(ctx.stop):
                return False
            ctx.client.batch.add_requests(self.batch_id, chunk)
            added += len(chunk)
        added += self._file_lines
        ctx.manifest.update_batch(requests=held + added - self._file_lines, added=added)
        if added:
            how = f" with input file {self._file_id}" if self._file_lines else ""
            ctx.notify(f"added {added} requests to batch {self.batch_id}{how}")
        return True

    # --- wait --------------------------------------------------------------------------

    def _wait(self) -> bool | None:
        """Poll until nothing is pending: True; time limit: False; Ctrl-C: None."""
        ctx, settings = self.ctx, self.ctx.settings
        deadline = time.monotonic() + settings.timeout_s
        delay, last = settings.poll_initial_s, None
        while True:
            info = ctx.client.batch.get(self.batch_id)
            seen = (info.num_success, info.num_error, info.num_cancelled, info.num_requests)
            if seen != last:
                if ctx.show_progress:
                    ctx.notify(_progress(info))
                last, delay = seen, settings.poll_initial_s
            else:
                delay = min(delay * 1.5, settings.poll_max_s)
            if info.done:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if ctx.stop.wait(min(delay, remaining)):
                return None

    # --- collect -----------------------------------------------------------------------

    def _collect(self, spool: JobSpool) -> RunStatus:
        """Write every finished result and every request cancelled server-side."""
        ctx = self.ctx
        options = ExecutorOptions(concurrency=ctx.concurrency)  # spent already: no budget stop
        executor = Executor(ctx.runner.run, ctx.sink, options, stop=ctx.stop)
        status = executor.run(self._fetched(spool))
        if status == "interrupted":
            return status
        cancelled = ctx.client.batch.iter_request_metadata(
            self.batch_id, ctx.settings.list_page, states=["cancelled"]
        )
        for meta in cancelled:
            job = spool.take(meta.batch_request_id)
            if job is not None:
                ctx.sink.stats.job_started()
                message = f"request cancelled in batch {self.batch_id}"
                ctx.sink.failed(job, JobFailed("CANCELLED", message, 1))
        return "failed" if ctx.sink.stats.failed else status

    def _fetched(self, spool: JobSpool) -> Iterator[Job]:
        """Jobs whose result arrived, each offered to the runner first (page by page: the
        executor takes the next job only when a worker is free)."""
        ctx = self.ctx
        for result in ctx.client.batch.iter_results(self.batch_id, ctx.settings.list_page):
            job = spool.take(result.batch_request_id)
            if job is None:  # not in this selection (--only, --shard) or already written
                continue
            ctx.runner.offer(result)
            yield job

    def _left_running(self, status: RunStatus, timed_out: bool = False) -> RunStatus:
        why = "still running after the time limit" if timed_out else "left running"
        self.ctx.notify(
            f"Batch {self.batch_id} is {why} on the server. Run the same command again "
            "(same --out) to re-attach and collect its results; to cancel it instead: "
            f"python -c \"from xai_pipelines.sdk import Client; Client().batch.cancel('{self.batch_id}')\""
        )
        return status


def _progress(info: BatchInfo) -> str:
    done = info.num_success + info.num_error + info.num_cancelled
    return (
        f"batch {info.batch_id}: {done}/{info.num_requests} finished "
        f"({info.num_success} ok, {info.num_error} failed, {info.num_cancelled} cancelled)"
    )


class _CallWindow:
    """At most ``calls`` calls in any ``window_s`` seconds (a sliding window)."""

    def __init__(self, calls: int, window_s: float) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque(maxlen=calls)

    def wait(self, stop: threading.Event) -> bool:
        """Wait for a free call; False when ``stop`` was set meanwhile."""
        if len(self._times) == self._times.maxlen:
            delay = self._times[0] + self.window_s - time.monotonic()
            if delay > 0 and stop.wait(delay):
                return False
        self._times.append(time.monotonic())
        return True
