"""Jobs as server-side batch requests, and batch results as result lines.

Requests are built by the SDK's own builders (``client.chat.create`` and
``build_image_request``) from the job's request exactly as the online runners
send them; results go through the same :class:`JobRunner` template (span,
cost, result line) and the same reply/image functions as online jobs, so
``results.jsonl`` cannot tell the two modes apart beyond ``latency_s``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from xai_pipelines.plan import ChatJob, ImageJob, Job, job_from_dict
from xai_pipelines.run.attachments import resolve_files
from xai_pipelines.run.attempts import AttemptHooks, JobScope
from xai_pipelines.run.chat_job import reply_fields
from xai_pipelines.run.image_job import saved_images
from xai_pipelines.run.jobrun import Executed, JobRunner, call_usage, plain
from xai_pipelines.run.outcome import JobFailed, JobResult
from xai_pipelines.sdk import Client, build_image_request
from xai_pipelines.sdk.batch import BatchItem, BatchResult, batch_request_proto
from xai_pipelines.sdk.batch_file import NotExpressibleError, jsonl_line
from xai_pipelines.store import OutputDir

BATCHABLE_MODES = frozenset({"sample"})


class NotBatchableError(ValueError):
    """A job of the plan cannot be sent as a batch request (multi-turn, stream or defer)."""


def check_batchable(jobs: Iterable[Job]) -> int:
    """Walk the plan and refuse the first job a batch cannot carry.

    Returns:
        The number of jobs.

    Raises:
        NotBatchableError: Naming the job and its task.
    """
    count = 0
    for job in jobs:
        count += 1
        if not isinstance(job, ChatJob):
            continue
        where = f"job {job.id!r} (task {job.task!r})"
        if job.turns:
            raise NotBatchableError(
                f"{where} has {len(job.turns) + 1} turns: execution.mode: batch sends one "
                "request per job; run multi-turn chats with mode: online"
            )
        if job.mode not in BATCHABLE_MODES:
            raise NotBatchableError(
                f"{where} uses mode: {job.mode}, which a batch cannot do (batch requests are "
                "answered whole); drop mode: or use execution.mode: online"
            )
    return count


def batch_request(client: Client, job: Job) -> BatchItem:
    """The request proto ``job`` sends, built as the online runners build it.

    Local files are uploaded first (once per run), as the online runners do.
    """
    params = resolve_files(plain(job.request), client.uploads)
    model = params.pop("model")
    n = int(params.pop("n", 1) or 1)
    if isinstance(job, ImageJob):
        prompt = params.pop("prompt")
        return build_image_request(prompt, model, n=None if n == 1 else n, **params)
    messages = params.pop("messages", [])
    request = client.chat.create(model, messages, **params).request
    if n > 1:
        request.n = n  # as Chat.sample_batch(n) sends it
    return request


@dataclass(frozen=True)
class InputFile:
    """A batch input file written to disk: where, how many lines, how many bytes."""

    path: Path
    lines: int
    size: int


class NotWritten(Exception):
    """The jobs cannot go into one batch input file (see :attr:`reason`); the file was removed.

    Attributes:
        reason: Which job and field has no JSONL form, or the size limit passed.
        job_id: The job, when one job is the cause.
    """

    def __init__(self, reason: str, job_id: str | None = None) -> None:
        self.reason = reason
        self.job_id = job_id
        super().__init__(reason)


#: Lines written before the file's size is extrapolated to all the jobs.
ESTIMATE_AFTER_LINES = 2000
#: An extrapolated size over the limit times this gives up at once (lines vary in length:
#: only a clear overshoot is trusted; a near one is found by writing on).
ESTIMATE_MARGIN = 1.25


def write_input_file(
    client: Client, jobs: Iterable[Job], path: Path, max_bytes: int, total: int | None = None
) -> InputFile:
    """Write ``jobs`` as a JSONL batch input file at ``path``, one line per job, streamed.

    Each job's request is built exactly as for AddBatchRequests (:func:`batch_request`,
    local files uploaded first) and translated by :func:`~xai_pipelines.sdk.batch_file.
    jsonl_line`; one line is held at a time, so memory does not grow with the jobs.
    With ``total`` (the number of jobs), a file whose first
    :data:`ESTIMATE_AFTER_LINES` lines say it would pass ``max_bytes`` by far is given
    up then, not after writing ``max_bytes`` (a million short jobs: 1.5 min of CPU).

    Raises:
        NotWritten: A job whose request has no JSONL form, or a file that would pass
            ``max_bytes`` (the Files API's limit on one file); the partial file is removed.
    """
    lines = size = 0
    try:
        with path.open("w", encoding="utf-8", newline="\n") as fh:
            for job in jobs:
                request = batch_request_proto((job.id, batch_request(client, job)))
                try:
                    line = jsonl_line(request)
                except NotExpressibleError as exc:
                    raise NotWritten(
                        f"job {job.id!r} (task {job.task!r}): {exc.field} {exc.reason}", job.id
                    ) from None
                size += len(line.encode("utf-8"))
                if size > max_bytes:
                    raise NotWritten(
                        f"the batch input file would pass {max_bytes} bytes, the largest "
                        f"file the Files API takes, at job {job.id!r} (line {lines + 1})"
                    )
                fh.write(line)
                lines += 1
                if total is not None and lines == ESTIMATE_AFTER_LINES:
                    estimate = size * total // lines
                    if estimate > max_bytes * ESTIMATE_MARGIN:
                        raise NotWritten(
                            f"the batch input file would pass {max_bytes} bytes, the largest "
                            f"file the Files API takes: about {estimate} bytes for {total} "
                            f"jobs, from its first {lines} lines"
                        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return InputFile(path, lines, size)


#: Rows written to the spool per transaction.
_SPOOL_CHUNK = 5000


class JobSpool:
    """The jobs of a batch, spooled to an SQLite file so that batch mode holds none in memory.

    Batch mode walks its jobs several times (budget, submission, re-attaching, and
    collection, where a result names its job by id, in any order); at a million jobs
    a dict of them would be gigabytes. The spool keeps each job's plan line by id and
    what became of it (held by the batch, written), on disk, with a small page cache.
    The file lives in the output directory as ``.batch-spool.<pid>.part`` (resume
    removes one left by a dead process) and is deleted on :meth:`close`.
    """

    #: SQLite page cache of the spool, KiB.
    CACHE_KIB = 2048

    def __init__(self, directory: Path) -> None:
        self.path = directory / f".batch-spool.{os.getpid()}.part"
        self.path.unlink(missing_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "temp_store=FILE",
                       f"cache_size=-{self.CACHE_KIB}"):  # fmt: skip
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute(
            "CREATE TABLE jobs (seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL,"
            " line TEXT NOT NULL, held INTEGER DEFAULT 0, written INTEGER DEFAULT 0)"
        )
        self.count = 0

    def close(self) -> None:
        """Close and delete the spool."""
        with self._lock:
            self._db.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> JobSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _many(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
        it = iter(rows)
        while chunk := list(islice(it, _SPOOL_CHUNK)):
            with self._lock:
                self._db.execute("BEGIN")
                self._db.executemany(sql, chunk)
                self._db.execute("COMMIT")

    def fill(self, jobs: Iterable[Job]) -> None:
        """Spool ``jobs`` in their order (a repeated id is an error of the plan, refused there)."""

        def rows() -> Iterator[tuple[str, str]]:
            for job in jobs:
                self.count += 1
                yield job.id, json.dumps(job.to_dict(), separators=(",", ":"))

        self._many("INSERT INTO jobs (id, line) VALUES (?, ?)", rows())

    def _read(self, sql: str, *args: Any) -> Iterator[Job]:
        """Jobs selected by ``sql``, read page by page (the connection is not held between)."""
        last = 0
        while True:
            with self._lock:
                page = self._db.execute(sql, (*args, last, _SPOOL_CHUNK)).fetchall()
            if not page:
                return
            for _seq, line in page:
                yield job_from_dict(json.loads(line))
            last = page[-1][0]

    def jobs(self) -> Iterator[Job]:
        """Every spooled job, in plan order."""
        return self._read("SELECT seq, line FROM jobs WHERE seq > ? ORDER BY seq LIMIT ?")

    def unheld(self) -> Iterator[Job]:
        """The jobs the batch does not hold yet, in plan order."""
        return self._read(
            "SELECT seq, line FROM jobs WHERE held = 0 AND seq > ? ORDER BY seq LIMIT ?"
        )

    def mark_all_held(self) -> None:
        """Record that the batch holds every spooled job (it was created from a file of them)."""
        with self._lock:
            self._db.execute("UPDATE jobs SET held = 1")

    def mark_held(self, ids: Iterable[str]) -> None:
        """Record ids the batch already holds (ids not spooled are ignored)."""
        self._many("UPDATE jobs SET held = 1 WHERE id = ?", ((i,) for i in ids))

    def take(self, job_id: str) -> Job | None:
        """The job of ``job_id`` the first time its outcome is taken; None after, or when
        the id is not spooled (not in this selection: ``--only``, ``--shard``)."""
        with self._lock:
            row = self._db.execute(
                "SELECT seq, line FROM jobs WHERE id = ? AND written = 0", (job_id,)
            ).fetchone()
            if row is None:
                return None
            self._db.execute("UPDATE jobs SET written = 1 WHERE seq = ?", (row[0],))
        return job_from_dict(json.loads(row[1]))


class BatchResultRunner(JobRunner):
    """Turns fetched batch results into result lines through the :class:`JobRunner` template.

    :meth:`offer` hands over the result of a job; :meth:`run` (from the executor's
    workers) then builds its line, saving images, or raises :class:`JobFailed` for a
    request the server answered with an error.

    Args:
        client: The SDK client (its image client downloads ``url`` images).
        hooks: Attempt bookkeeping.
        out: Where images are saved.
        **kwargs: As for :class:`JobRunner`.
    """

    def __init__(self, client: Client, hooks: AttemptHooks, out: OutputDir, **kwargs: Any) -> None:
        super().__init__(client, hooks, **kwargs)
        self.out = out
        self._results: dict[str, BatchResult] = {}
        self._lock = threading.Lock()

    def offer(self, result: BatchResult) -> None:
        """Keep ``result`` until its job is run."""
        with self._lock:
            self._results[result.batch_request_id] = result

    def run(self, job: Job) -> JobResult:
        """The result line of ``job`` (latency is not measured for batch requests)."""
        result = super().run(job)
        result.line.latency_s = None
        return result

    def execute(self, job: Job, scope: JobScope) -> Executed:
        """Convert the offered result of ``job``."""
        with self._lock:
            result = self._results.pop(job.id, None)
        if result is None:
            raise JobFailed("CLIENT_ERROR", f"no batch result was fetched for {job.id!r}", 1)
        if result.error is not None:
            raise result.error
        if isinstance(job, ImageJob):
            prompt = str(job.request["prompt"])
            return saved_images(self.out, job.id, prompt, job.model, list(result.images))
        responses = result.responses
        if not responses:
            raise JobFailed("CLIENT_ERROR", f"batch result of {job.id!r} holds no chat answer", 1)
        return Executed(
            reply=reply_fields(job.mode, responses), usage=call_usage(responses[0].usage)
        )
