"""Running one job: the shared frame (span, deadline, timing, result line) around ``execute``.

:class:`JobRunner` is a template: :meth:`JobRunner.arun` (online runs, a task of
the executor's event loop) and :meth:`JobRunner.run` (batch results, on a pool
thread) do the work common to every job kind and turn client errors into
:class:`JobFailed`; subclasses implement only the calls: :meth:`JobRunner.aexecute`
(the chat and image runners, on the async client) or :meth:`JobRunner.execute`
(batch results), each returning the kind-specific part of the result line.

In :meth:`JobRunner.arun` the blocking steps run on the executor's pool
(``asyncio.to_thread``, which keeps the job's context): the cache's lookup and
replay, and the scoring of a job with model-graded checks, whose grader calls go
through the sync client on that thread. Checks without a grader score inline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any

import msgspec
from opentelemetry import context as otel_context
from opentelemetry import trace

from xai_pipelines.evals import Evaluator, Grader
from xai_pipelines.evals.grader import LlmRubric
from xai_pipelines.plan import Job
from xai_pipelines.records import (
    UNSET,
    CacheProvenance,
    ChatReply,
    ImageReply,
    ResultLine,
    UnsetType,
    Usage,
    to_plain,
)
from xai_pipelines.report import PriceTable, resolve_cost
from xai_pipelines.run.attempts import AttemptHooks, JobScope, ScopeBlock
from xai_pipelines.run.outcome import DeferredWrite, JobFailed, JobResult
from xai_pipelines.run.telemetry import RUN_ID_ATTR
from xai_pipelines.sdk import Client, telemetry
from xai_pipelines.sdk.errors import XaiError
from xai_pipelines.spec.canonical import encode_mapping
from xai_pipelines.store import utc_now

if TYPE_CHECKING:
    from xai_pipelines.run.cache import CacheEntry, JobCache


_JSON_ENCODER = msgspec.json.Encoder(enc_hook=encode_mapping)
_JSON_DECODER = msgspec.json.Decoder()


#: What :func:`plain` copies by a JSON round trip (anything else is walked).
_ROUND_TRIPPED = dict | list | tuple | MappingProxyType


def plain(value: Any) -> Any:
    """A JSON-able copy: mappings become dicts, tuples and sets lists."""
    if isinstance(value, _ROUND_TRIPPED):
        # a JSON round trip copies plain data four times faster than the walk below (a
        # job's request, expect and meta are copied into every result line); the line
        # is JSON, so what it holds reads back the same
        try:
            return _JSON_DECODER.decode(_JSON_ENCODER.encode(value))
        except TypeError:  # a mapping proxy or another Mapping inside: walk
            pass
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return value


def plain_parts(job: Job) -> tuple[Any, Any, Any]:
    """:func:`plain` copies of ``job``'s request, expect and meta, in one JSON round trip.

    Each of the three takes :func:`plain`'s round trip when copied alone (a dict,
    a tuple or list, a mapping proxy), so one round trip of the three gives the same
    copies; anything else is copied by :func:`plain` one by one.
    """
    if (
        isinstance(job.request, _ROUND_TRIPPED)
        and isinstance(job.expect, _ROUND_TRIPPED)
        and isinstance(job.meta, _ROUND_TRIPPED)
    ):
        try:
            parts = (job.request, job.expect, job.meta)
            request, expect, meta = _JSON_DECODER.decode(_JSON_ENCODER.encode(parts))
        except TypeError:  # as plain(): something inside needs the walk
            pass
        else:
            return request, expect, meta
    return plain(job.request), plain(job.expect), plain(job.meta)


def call_usage(usage: Usage, images: int | UnsetType = UNSET) -> Usage:
    """One call's usage as the result line holds it (``images``: what an image call returned)."""
    return usage if images is UNSET else msgspec.structs.replace(usage, images=images)


@contextmanager
def _attached(ctx: otel_context.Context | None) -> Iterator[None]:
    """Make ``ctx`` current (its span and baggage) on this worker thread."""
    token = otel_context.attach(ctx) if ctx is not None else None
    try:
        yield
    finally:
        if token is not None:
            otel_context.detach(token)


@dataclass
class Executed:
    """What ``execute`` returns: the kind-specific part of the result line, and the bookkeeping.

    Attributes:
        reply: The chat or image part of the line (None until the first answer).
        usage: Summed usage of every call of the job (None before the first call).
        calls: Logical calls made (turns, or 1).
        attempts: Attempts those calls took, retries included.
        ttft_s: Time to first token of the (last) streamed call.
        files: Saved image files by image index (the response cache stores their bytes).
        deferred: Image files that could not be written yet (kept in memory; see
            :mod:`xai_pipelines.run.sink`).
    """

    reply: ChatReply | ImageReply | None = None
    usage: Usage | None = None
    calls: int = 1
    attempts: int = 1
    ttft_s: float | None = None
    files: dict[int, Path] = field(default_factory=dict)
    deferred: list[DeferredWrite] = field(default_factory=list)

    def add_usage(self, usage: Usage) -> None:
        """Add one call's usage to the job's (the cost stays None once any call lacked it)."""
        self.usage = usage if self.usage is None else self.usage + usage


@dataclass(frozen=True)
class RunnerSettings:
    """Deadlines of a job runner, and its grader model.

    Attributes:
        call_timeout_s: Deadline of each API call (None: the client default).
        job_timeout_s: Deadline of a whole job, retries and turns included (None: none).
        grader_model: The pipeline's ``evals.grader`` (None: each job's own model grades it).
    """

    call_timeout_s: float | None = None
    job_timeout_s: float | None = None
    grader_model: str | None = None


class JobRunner:
    """Runs jobs of one kind through an SDK client.

    Args:
        client: The SDK client (built with ``hooks.policy()`` as its retry policy).
        hooks: Attempt bookkeeping shared with the client's retry policy.
        settings: Deadlines.
        prices: Price table for jobs whose response carries no cost.
        run_id: Id of the run (span attribute).
        run_context: OpenTelemetry context of the run span (parent of job spans).
        tracer: Tracer of the job spans (default: from the global provider).
        cache: The response cache (None: every job calls the API).

    With a cache, a job whose answer is stored is served from it (:meth:`replay`:
    no call, no rate-limit token) and a job that succeeds is stored once its line
    is written (:attr:`JobResult.recorded`); see :mod:`xai_pipelines.run.cache`.

    After a job succeeds its ``expect`` is scored into the line's ``scores``
    (:mod:`xai_pipelines.evals`); model-graded checks call the grader through the
    same client, retry policy and rate limiter, inside the job's scope and span,
    but outside its ``latency_s`` and ``usage`` (``scores.grader`` has their usage).
    """

    kind = "job"

    def __init__(
        self,
        client: Client,
        hooks: AttemptHooks,
        settings: RunnerSettings | None = None,
        prices: PriceTable | None = None,
        run_id: str = "",
        run_context: otel_context.Context | None = None,
        tracer: trace.Tracer | None = None,
        cache: JobCache | None = None,
    ) -> None:
        self.client = client
        self.hooks = hooks
        self.settings = settings or RunnerSettings()
        self.prices = prices
        self.run_id = run_id
        self.run_context = run_context
        self.tracer = tracer or trace.get_tracer("xai_pipelines.run")
        self.cache = cache
        grader_options: dict[str, Any] = {
            "default_model": self.settings.grader_model,
            "timeout_s": self.settings.call_timeout_s,
            "acquire": hooks.acquire,
            "reconcile": hooks.limiter.reconcile,
        }
        if cache is None:
            grader = Grader(client, **grader_options)
        else:
            from xai_pipelines.run.cache import CachedGrader

            grader = CachedGrader(cache, client, **grader_options)
        self.evaluator = Evaluator(grader)

    def call_timeout(self, scope: JobScope) -> float | None:
        """Deadline for the next call: the per-call one, cut to what the job has left."""
        remaining = scope.remaining()
        if remaining is not None and remaining <= 0:
            raise JobFailed("DEADLINE_EXCEEDED", "job deadline reached", scope.failed_attempts)
        limits = [t for t in (self.settings.call_timeout_s, remaining) if t is not None]
        return min(limits) if limits else None

    def execute(self, job: Any, scope: JobScope) -> Executed:
        """Make the job's calls, blocking (runners of :meth:`run` implement this)."""
        raise NotImplementedError(f"{type(self).__name__} runs jobs with arun()")

    async def aexecute(self, job: Any, scope: JobScope) -> Executed:
        """Make the job's calls on the event loop (runners of :meth:`arun` implement this)."""
        raise NotImplementedError(f"{type(self).__name__} runs jobs with run()")

    def replay(self, job: Any, entry: CacheEntry) -> Executed:
        """The result-line part of ``job`` from its cache entry (image jobs write their files).

        Tokens are copied; the cost is 0; no call was made.
        """
        return Executed(
            reply=msgspec.convert(entry.record.get("fields") or {}, ChatReply),
            usage=replayed_usage(entry),
            calls=0,
            attempts=0,
        )

    def run(self, job: Job) -> JobResult:
        """Run ``job`` with :meth:`execute` (or serve it from the cache); build its result line.

        Raises:
            JobFailed: When the job failed for good (error code, message, attempts).
        """
        return self._run(job, None)

    def serve(self, job: Job, entry: CacheEntry) -> JobResult:
        """The result of ``job`` from a cache entry already looked up (batch mode's hits)."""
        return self._run(job, entry)

    async def arun(self, job: Job) -> JobResult:
        """Run ``job`` with :meth:`aexecute` (or serve it from the cache), as a task of the
        executor's loop; build its result line.

        Raises:
            JobFailed: When the job failed for good (error code, message, attempts).
        """
        with self._frame(job) as (span, scope):
            started = time.perf_counter()
            key = None if self.cache is None else self.cache.key(job)
            entry = None
            if self.cache is not None:
                entry = await asyncio.to_thread(self.cache.lookup, job, key)
            if entry is not None:
                span.set_attribute("xai_pipelines.job.cached", True)
                done = await asyncio.to_thread(self.replay, job, entry)
            else:
                try:
                    done = await self.aexecute(job, scope)
                except XaiError as exc:
                    raise _failed(exc, span, scope) from exc
                except JobFailed as exc:
                    _mark(exc, span, scope)
                    raise
            line = self._line(job, entry, done, time.perf_counter() - started - scope.queued_s)
            if not line.expect:  # nothing to score (score() would say None)
                line.scores = None
            elif graded(job):  # the grader's calls block: on the pool, in the job's scope
                line.scores = await asyncio.to_thread(self.evaluator.score, to_plain(line))
            else:
                line.scores = self.evaluator.score(to_plain(line))
            return self._result(job, line, entry, key, done, span)

    def _run(self, job: Job, entry: CacheEntry | None) -> JobResult:
        with self._frame(job) as (span, scope):
            started = time.perf_counter()
            key = None if self.cache is None else self.cache.key(job)
            if entry is None and self.cache is not None:
                entry = self.cache.lookup(job, key)
            if entry is not None:
                span.set_attribute("xai_pipelines.job.cached", True)
                done = self.replay(job, entry)
            else:
                try:
                    done = self.execute(job, scope)
                except XaiError as exc:
                    raise _failed(exc, span, scope) from exc
                except JobFailed as exc:
                    _mark(exc, span, scope)
                    raise
            line = self._line(job, entry, done, time.perf_counter() - started - scope.queued_s)
            line.scores = self.evaluator.score(to_plain(line))
            return self._result(job, line, entry, key, done, span)

    def _frame(self, job: Job) -> AbstractContextManager[tuple[trace.Span, JobScope]]:
        """The job's span (child of the run's) and scope (deadline, attempts, place).

        With a no-op tracer (telemetry off) no span is made: the job gets the invalid
        span, whose methods do nothing, and its attributes are not built.
        """
        if not telemetry.recording(self.tracer):
            return _Untraced(self.hooks.scope(job, self.settings.job_timeout_s))
        return self._traced_frame(job)

    @contextmanager
    def _traced_frame(self, job: Job) -> Iterator[tuple[trace.Span, JobScope]]:
        with (
            _attached(self.run_context),
            self.tracer.start_as_current_span(
                f"job {job.id}",
                attributes={
                    RUN_ID_ATTR: self.run_id,
                    "xai_pipelines.job.id": job.id,
                    "xai_pipelines.job.kind": job.kind,
                    "xai_pipelines.job.digest": job.digest,
                    "gen_ai.request.model": job.model,
                },
            ) as span,
            self.hooks.scope(job, self.settings.job_timeout_s) as scope,
        ):
            yield span, scope

    def _line(
        self, job: Job, entry: CacheEntry | None, done: Executed, latency: float
    ) -> ResultLine:
        """The result line of a job that succeeded (``scores`` not yet filled in)."""
        usage = done.usage or Usage()
        cost: int | None
        source: str | None
        if entry is not None:
            cost, source = 0, "cache"
        else:
            cost, source = resolve_cost(job.kind, job.model, usage, self.prices)
        reply = {} if done.reply is None else msgspec.structs.asdict(done.reply)
        request, expect, meta = plain_parts(job)
        line = ResultLine(
            id=job.id,
            kind=job.kind,
            digest=job.digest,
            task=job.task,
            index=job.index,
            model=job.model,
            seed=job.seed,
            request=request,
            **reply,
            usage=usage,
            cost_usd_ticks=cost,
            cost_source=source,
            latency_s=round(latency, 6),
            ttft_s=None if done.ttft_s is None else round(done.ttft_s, 6),
            calls=done.calls,
            attempts=done.attempts,
            expect=expect,
            meta=meta,
            finished_at=utc_now(),
        )
        if entry is not None:
            line.cached = True
            line.cache = msgspec.convert(entry.provenance(), CacheProvenance)
        return line

    def _result(
        self,
        job: Job,
        line: ResultLine,
        entry: CacheEntry | None,
        key: str | None,
        done: Executed,
        span: trace.Span,
    ) -> JobResult:
        """The job's result: its scored line, what it spent (grading included), its storing."""
        span.set_attribute("xai_pipelines.job.attempts", done.attempts)
        usage, cost = line.usage, line.cost_usd_ticks
        graded_ticks = self.evaluator.grader_cost_ticks(line.scores)
        spent = cost + graded_ticks if cost is not None else graded_ticks or None
        result = JobResult(line, usage.tokens, usage.image_count, spent, deferred=done.deferred)
        if entry is None and self.cache is not None and key is not None:
            result.recorded = _storing(self.cache, key, line, done)
        return result


class _Untraced:
    """The frame of a job without a span: its scope's block, entered as ``(span, scope)``."""

    __slots__ = ("_block",)

    def __init__(self, block: ScopeBlock) -> None:
        self._block = block

    def __enter__(self) -> tuple[trace.Span, JobScope]:
        return trace.INVALID_SPAN, self._block.__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._block.__exit__(exc_type, exc, tb)


def graded(job: Job) -> bool:
    """Whether ``job`` has a model-graded check (its scoring makes calls)."""
    return any(isinstance(e, Mapping) and LlmRubric.type in e for e in job.expect)


def _failed(exc: XaiError, span: trace.Span, scope: JobScope) -> JobFailed:
    """The job's failure for a client error, with its attempts."""
    span.set_attribute("error.type", exc.code)
    return JobFailed(exc.code, exc.message, scope.failed_attempts + 1, exc.request_id)


def _mark(exc: JobFailed, span: trace.Span, scope: JobScope) -> None:
    """A runner's own failure of the job: on the span, with its attempts filled in."""
    span.set_attribute("error.type", exc.code)
    exc.attempts = exc.attempts or scope.failed_attempts + 1


def _storing(cache: JobCache, key: str, line: ResultLine, done: Executed) -> Callable[[], None]:
    reply, files = done.reply, done.files
    return lambda: cache.store_job(key, line, reply, files)


def replayed_usage(entry: CacheEntry) -> Usage:
    """The usage of a cache hit: the stored tokens (and images), at no cost."""
    return msgspec.convert({**(entry.record.get("usage") or {}), "cost_usd_ticks": 0}, Usage)
