"""Jobs as server-side batch requests, and batch results as result lines.

Requests are built by the SDK's own builders (``client.chat.create`` and
``build_image_request``) from the job's request exactly as the online runners
send them; results go through the same :class:`JobRunner` template (span,
cost, result line) and the same reply/image functions as online jobs, so
``results.jsonl`` cannot tell the two modes apart beyond ``latency_s``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from xai_pipelines.plan import ChatJob, ImageJob, Job
from xai_pipelines.run.attachments import resolve_files
from xai_pipelines.run.attempts import AttemptHooks, JobScope
from xai_pipelines.run.chat_job import reply_fields
from xai_pipelines.run.image_job import saved_images
from xai_pipelines.run.jobrun import Executed, JobRunner, call_usage, plain
from xai_pipelines.run.outcome import JobFailed, JobResult
from xai_pipelines.sdk import Client, build_image_request
from xai_pipelines.sdk.batch import BatchItem, BatchResult
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
