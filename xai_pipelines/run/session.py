"""One ``xai-run`` run of a pipeline into an output directory, start to finish.

Order of events: lock the directory; read what an earlier run finished and
refuse a changed spec; expand the plan once into ``plan.jsonl`` (nothing is
sent before the whole plan is known to be valid); connect to the API the caller
opened (``cli/connect.py`` starts the ``--local`` emulator); run the jobs
``plan.jsonl`` lists, read lazily, through the executor; write the manifest,
``usage.json`` and ``summary.md``.

A write into the output directory that fails (disk full, read-only, I/O error)
stops the run (see :mod:`xai_pipelines.run.sink`): it ends with
:class:`OutputWriteError`, one message naming the file and the OS error, and
the manifest marked ``failed``. Disk space held back from the start
(:class:`~xai_pipelines.store.SpaceReserve`) is released for those last writes.
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from xai_pipelines.plan import ChatJob, Job, iter_jobs, job_from_dict
from xai_pipelines.plan.shard import Shard, resume_shard
from xai_pipelines.records import PlanInfo, SpecInfo, UnsetType
from xai_pipelines.report import ModelPrice
from xai_pipelines.run.adaptive import AdaptiveConcurrency, AdaptiveSettings
from xai_pipelines.run.attempts import AttemptHooks
from xai_pipelines.run.batch_budget import BatchRefusedError
from xai_pipelines.run.batch_jobs import BatchResultRunner, NotBatchableError, check_batchable
from xai_pipelines.run.batch_mode import BatchContext, BatchMode, BatchSettings
from xai_pipelines.run.cache import (
    CacheEntry,
    CacheError,
    JobCache,
    ModelResolver,
    ResponseCache,
    backend_id,
    split_hits,
)
from xai_pipelines.run.chat_job import ChatRunner
from xai_pipelines.run.executor import GRACE_S, Executor, ExecutorOptions, is_fatal
from xai_pipelines.run.image_job import ImageRunner
from xai_pipelines.run.jobrun import RunnerSettings
from xai_pipelines.run.outcome import JobResult
from xai_pipelines.run.processes import ProcessPool, merged_history, shares
from xai_pipelines.run.progress import ProgressDisplay, ProgressMode
from xai_pipelines.run.ratelimit import RateLimiter
from xai_pipelines.run.reporting import final_counts, with_catalog_prices, write_reports
from xai_pipelines.run.runlog import RUN_LOG, run_log
from xai_pipelines.run.signals import EXIT_INTERRUPTED, Interrupts
from xai_pipelines.run.sink import ResultSink
from xai_pipelines.run.stats import RunStats
from xai_pipelines.run.telemetry import RUN_ID_ATTR, install_run_id_processor, run_context
from xai_pipelines.run.worker import WorkerConfig
from xai_pipelines.sdk import Client
from xai_pipelines.sdk.aio import AsyncClient
from xai_pipelines.sdk.client import DEFAULT_HOST
from xai_pipelines.sdk.errors import XaiError
from xai_pipelines.spec import PipelineSpec
from xai_pipelines.store import (
    ManifestWriter,
    OutputDir,
    ResumeState,
    RunStatus,
    SpaceReserve,
    SpecChangedError,
    check_spec,
    load_resume_state,
    read_jsonl,
)
from xai_pipelines.store.compact import compact, plan_ids
from xai_pipelines.store.datasets import dataset_changes, dataset_digests
from xai_pipelines.store.files import dumps_line

EXIT_CODES: dict[str, int] = {
    "completed": 0,
    "failed": 1,
    "budget_exhausted": 1,
    "interrupted": EXIT_INTERRUPTED,
}


log = logging.getLogger(__name__)


class RunInputError(Exception):
    """The run cannot start because of its input (exit status 2)."""


class OutputWriteError(Exception):
    """The run stopped because a write into its output directory failed (exit status 1).

    ``str()`` is the one message for the user: the file, the OS error, what was
    not saved, and what to do.
    """


#: Calls one connection of the async client carries before another is opened: the
#: hosted API allows about 100 concurrent streams per HTTP/2 connection (issue 11,
#: measured by helper E1; the emulator takes 10,000 on one).
CALLS_PER_CONNECTION = 100

#: Plan lines joined into one write (the plan is rewritten whole by every run, so a
#: torn chunk costs nothing a line-by-line write would not).
PLAN_WRITE_LINES = 256

#: Holds disk space back for the run's last writes (removed when the run ends).
SPACE_RESERVE = ".space-reserve"


@dataclass
class RunOptions:
    """Everything a run needs besides the spec; CLI flags map onto these.

    Attributes:
        out_dir: Output directory (default: the spec's ``output.dir``).
        api_key: API key (default: ``XAI_API_KEY``); never written anywhere.
        endpoint: API host (default: ``api.x.ai:443``).
        local: ``endpoint`` is the in-process emulator the caller started
            (``cli.connect.open_api``); recorded as such, and the cache keys say so.
        only: Run only jobs whose id (or task) matches this glob.
        limit: Run at most this many jobs (after ``only``).
        force: Resume even though the spec changed.
        progress: Progress display mode.
        args: CLI arguments, recorded (redacted) in the manifest.
        grace_s: How long in-flight jobs may finish after Ctrl-C.
        adaptive: Constants of the adaptive concurrency limit (default: run/adaptive.py's).
        fsync_interval_s: Longest time between a result line and its fsync.
        responses: The ``--local`` emulator's scripted answers (part of the cache keys).
        notify: Receives messages for the user (spec changes under ``--force``, Ctrl-C).
        tracer_provider: Tracer provider for the run, job and call spans (default: global).
        shard: Run only this shard of the plan (``--shard K/N``); a resumed run keeps its own.
        batch: Paging, polling and time limit of ``execution.mode: batch``.

    Settings flags (``--concurrency``, ``--fail-fast``, ``--cache``, ...) are not
    here: :func:`xai_pipelines.spec.flags.with_flags` puts them into the spec.
    """

    out_dir: Path | None = None
    api_key: str | None = None
    endpoint: str | None = None
    local: bool = False
    only: str | None = None
    limit: int | None = None
    force: bool = False
    progress: ProgressMode = "auto"
    args: Mapping[str, Any] = field(default_factory=dict)
    grace_s: float = GRACE_S
    adaptive: AdaptiveSettings | None = None
    fsync_interval_s: float = 0.5
    responses: Path | None = None
    notify: Callable[[str], None] | None = None
    tracer_provider: trace.TracerProvider | None = None
    shard: Shard | None = None
    batch: BatchSettings = field(default_factory=BatchSettings)


@dataclass
class RunOutcome:
    """How a run ended.

    Attributes:
        status: ``completed``, ``failed``, ``interrupted`` or ``budget_exhausted``.
        exit_code: 0, 1 or 130.
        run_id: The run's id.
        out: The output directory.
        stats: Counters snapshot at the end.
        spec_changes: What changed since the directory's previous run (``--force``).
        usage: The usage document written.
        fail_under: The run's eval pass-rate threshold (``evals.fail_under``), if any.
    """

    status: RunStatus
    exit_code: int
    run_id: str
    out: OutputDir
    stats: dict[str, Any]
    spec_changes: list[str]
    usage: dict[str, Any]
    fail_under: float | None = None


def select_jobs(jobs: Iterator[Job], only: str | None, limit: int | None) -> Iterator[Job]:
    """Filter the plan by ``--only`` (glob over id or task) and ``--limit``, lazily."""
    taken = 0
    for job in jobs:
        if limit is not None and taken >= limit:
            return
        if only is None or fnmatch.fnmatchcase(job.id, only) or fnmatch.fnmatchcase(job.task, only):
            taken += 1
            yield job


def _lock(stack: ExitStack, out: OutputDir) -> None:
    fd = os.open(out.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    stack.callback(os.close, fd)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise RunInputError(f"another xai-run is writing to {out.root}") from None


def _prices(client: Client, served: dict[str, str] | None = None) -> dict[str, ModelPrice]:
    """The Models price table; also the first call, so a rejected key stops the run here.

    ``served`` receives every listed name and alias -> the model's own name.
    """
    table: dict[str, ModelPrice] = {}
    served = {} if served is None else served
    try:
        for m in client.models.list_language_models():
            price = ModelPrice(
                m.prompt_text_token_price,
                m.cached_prompt_token_price,
                m.completion_text_token_price,
            )
            for name in (m.name, *m.aliases):
                table[name] = price
                served[name] = m.name
        for im in client.models.list_image_generation_models():
            for name in (im.name, *im.aliases):
                table[name] = ModelPrice(image_price=im.image_price)
                served[name] = im.name
    except XaiError as exc:
        if is_fatal(exc):
            raise RunInputError(
                f"the API refused the key ({exc}); check XAI_API_KEY, or use --local"
            ) from None
        log.warning("the Models service gave no prices (%s): the bundled catalog prices jobs", exc)
        # otherwise carry on: prices are a fallback, the responses' own cost comes first
    return with_catalog_prices(table)  # unreachable: the catalog's; else + long-context rates


@dataclass(frozen=True)
class RunnerShared:
    """What every job runner of one run shares (chat, image and batch results alike).

    Attributes:
        settings: Deadlines and the grader model.
        prices: Model name -> price (Models service, else the bundled catalog).
        run_id: The run's id.
        run_context: The OpenTelemetry context of the run's span (job spans are its children).
        tracer: The run's tracer.
        cache: The response cache as this run uses it, or ``None``.
    """

    settings: RunnerSettings
    prices: Mapping[str, ModelPrice]
    run_id: str
    run_context: otel_context.Context
    tracer: trace.Tracer
    cache: JobCache | None

    def kwargs(self, **replace: Any) -> dict[str, Any]:
        """The runners' keyword arguments (``replace`` swaps some, e.g. a storing-only cache)."""
        return {f.name: getattr(self, f.name) for f in fields(self)} | replace


@dataclass(frozen=True)
class RunResources:
    """The parts of one run, opened by ``PipelineRun._open`` and closed with the run.

    Attributes:
        client: The SDK client (the pipeline's timeout and retries, the attempt hooks).
        sink: Writes result and error lines, counts them.
        hooks: Attempt bookkeeping shared by the client's retries and the runners.
        executor: Dispatches the online run's jobs.
        manifest: ``manifest.json`` of this run.
        span: The run's span.
        shared: What the job runners share.
    """

    client: Client
    sink: ResultSink
    hooks: AttemptHooks
    executor: Executor
    manifest: ManifestWriter
    span: trace.Span
    shared: RunnerShared


class PipelineRun:
    """Runs one spec into one output directory (see the module docstring).

    Args:
        spec: The loaded pipeline.
        options: Run options.
        plan: Builds the job stream (default: ``iter_jobs(spec)``); called once, to write
            ``plan.jsonl``, which is what the run then executes.
    """

    def __init__(
        self,
        spec: PipelineSpec,
        options: RunOptions,
        plan: Callable[[], Iterator[Job]] | None = None,
    ) -> None:
        self.spec = spec
        self.options = options
        self.plan = plan or (lambda: iter_jobs(spec))
        self.out = OutputDir(options.out_dir or spec.output.dir)
        self.run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        self.stats = RunStats()
        self.interrupts = Interrupts(on_abort=self._abort, on_first=self._first_interrupt)
        self._abort_actions: list[Callable[[], None]] = []
        self._store: ResponseCache | None = None
        self.shard = options.shard  # a resumed run keeps the shard it recorded
        self._datasets: dict[str, str] = {}
        self._data_changes: list[str] = []
        self._set_aside = 0
        self._pool: ProcessPool | None = None  # execution.processes > 1 (online runs)

    def _resolved(self) -> dict[str, Any]:
        """The resolved spec itself (``to_dict`` wraps it with its path and digest)."""
        data = self.spec.to_dict()
        inner = data.get("spec")
        return inner if isinstance(inner, dict) else data

    def _jobs(self) -> Iterator[Job]:
        jobs = self.plan()
        if self.shard is not None:
            jobs = self.shard.select(jobs)
        return select_jobs(jobs, self.options.only, self.options.limit)

    def _write_plan(self) -> int:
        """Expand the plan (its only expansion) into ``plan.jsonl``; the number of jobs."""
        count, batch = 0, self.spec.execution.mode == "batch"
        pending: list[bytes] = []  # lines written PLAN_WRITE_LINES at a time, not a write each
        with self.out.open_plan(self.options.fsync_interval_s) as plan:
            try:
                for job in self._jobs():
                    if batch:
                        check_batchable((job,))
                    pending.append(dumps_line(job.to_dict()))
                    count += 1
                    if len(pending) >= PLAN_WRITE_LINES:
                        plan.write_line(b"".join(pending))
                        pending.clear()
            finally:  # a job that cannot be planned leaves the lines before it, as before
                if pending:
                    plan.write_line(b"".join(pending))
        return count

    def _planned(self) -> Iterator[Job]:
        """The jobs ``plan.jsonl`` lists, lazily: what this run executes."""
        return (job_from_dict(line) for line in read_jsonl(self.out.plan))

    def _say(self, message: str) -> None:
        if self.options.notify is not None:
            self.options.notify(message)

    def _first_interrupt(self) -> None:
        if self.spec.execution.mode == "batch":
            self._say("Interrupted: the batch is left running on the server.")
            return
        self._say(
            f"Interrupted: no new jobs; waiting up to {self.options.grace_s:g}s for jobs in "
            "flight (Ctrl-C again to stop at once). Run the same command again to resume."
        )

    def _abort(self) -> None:
        for action in self._abort_actions:
            with contextlib.suppress(Exception):  # aborting: files stay consistent without it
                action()

    def run(self) -> RunOutcome:
        """Run to the end (or until interrupted) and write the reports.

        Raises:
            RunInputError: No key and no ``--local``, directory busy, or spec changed.
            SpecError: A row of the plan breaks a template (before anything is sent).
        """
        self._require_key()
        self.out.create()
        with ExitStack() as stack:
            _lock(stack, self.out)
            keys = (self.options.api_key, os.environ.get("XAI_API_KEY"))
            stack.enter_context(run_log(self.out.root / RUN_LOG, keys))
            log.info("run %s of %s into %s", self.run_id, self.spec.name, self.out.root)
            self._store = self._open_cache(stack)
            state, changes = self._resume()
            self.stats.total = self._plan_once(state)
            log.info("plan: %d jobs", self.stats.total)
            status = self._execute(self._open(stack, state, changes), state)
            log.info("run %s ended: %s", self.run_id, status)
        snapshot = self.stats.snapshot() | final_counts(self.stats.snapshot(), self._usage)
        return RunOutcome(
            status,
            EXIT_CODES[status],
            self.run_id,
            self.out,
            snapshot,
            changes,
            self._usage,
            self.spec.evals.fail_under,
        )

    def _require_key(self) -> None:
        opts = self.options
        if not opts.local and not (opts.api_key or os.environ.get("XAI_API_KEY")):
            raise RunInputError(
                "no API key: set XAI_API_KEY, or pass --local to run against the local emulator"
            )

    def _resume(self) -> tuple[ResumeState, list[str]]:
        """What earlier runs into the directory finished, and how the spec changed since."""
        try:
            state = load_resume_state(self.out)  # repairs what a crash or a full disk left
            self._datasets = dataset_digests(self.spec)
        except (ValueError, OSError) as exc:  # a newer format, an unreadable file
            raise RunInputError(f"cannot resume into {self.out.root}: {exc}") from None
        old = None if state.manifest is None else state.manifest.datasets
        self._data_changes = dataset_changes(None if isinstance(old, UnsetType) else old,
                                             self._datasets)  # fmt: skip
        for notice in [*state.notices(), *self._data_changes]:
            log.warning("%s", notice)
            self._say(notice)
        try:
            changes = check_spec(
                state, self.spec.digest, self._resolved(), str(self.out.root), self.options.force
            )
        except SpecChangedError as exc:
            raise RunInputError(str(exc)) from None
        if changes:
            self._say(
                "The spec changed since the last run into this directory (--force):\n"
                + "\n".join(f"  {c}" for c in changes)
            )
        return state, changes

    def _plan_once(self, state: ResumeState) -> int:
        """Pick the shard (a resumed run keeps its own) and write ``plan.jsonl``."""
        try:
            recorded = (state.previous_manifest or {}).get("shard")
            self.shard = resume_shard(self.options.shard, recorded)
            count = self._write_plan()
        except (ValueError, NotBatchableError) as exc:
            raise RunInputError(str(exc)) from None
        if self.options.only is None and self.options.limit is None:
            self._set_aside_stale(state)
        elif self._data_changes:
            self._say(
                "--only/--limit runs part of the plan: lines of jobs the changed data dropped "
                "stay in the reports until a run of the whole plan sets them aside"
            )
        return count

    def _set_aside_stale(self, state: ResumeState) -> None:
        """Move the lines of jobs no longer in the (whole) plan out of the reports' way."""
        if not state.finished and not state.errored:
            return
        keep = plan_ids(self.out)
        if all(j in keep for j in state.finished) and all(j in keep for j in state.errored):
            return
        done = compact(self.out, keep)
        self._set_aside = done.results_not_in_plan
        for job in [j for j in state.finished if j not in keep]:
            del state.finished[job]
        if done.results_not_in_plan or done.errors_not_in_plan:
            self._say(done.message(self.out.root))

    def _open(self, stack: ExitStack, state: ResumeState, changes: list[str]) -> RunResources:
        """Open what the run's jobs share: files, executor, client, trace, prices, manifest."""
        opts, ex = self.options, self.spec.execution
        endpoint = opts.endpoint or DEFAULT_HOST
        results = stack.enter_context(self.out.open_results(opts.fsync_interval_s))
        errors = stack.enter_context(self.out.open_errors(opts.fsync_interval_s))
        self._reserve = stack.enter_context(SpaceReserve(self.out.root / SPACE_RESERVE))
        sink = ResultSink(results, errors, self.stats, self.run_id)
        executor_opts = ExecutorOptions(ex.concurrency, ex.on_error, ex.budget_usd, opts.grace_s)
        executor = Executor(
            self._dispatch, sink, executor_opts, stop=self.interrupts.stop, resume=state
        )
        limiter = RateLimiter(ex.rate_limit.requests_per_minute, ex.rate_limit.tokens_per_minute)
        adaptive = AdaptiveConcurrency(ex.concurrency, opts.adaptive)
        hooks = AttemptHooks(sink, limiter, executor.abort, adaptive)
        client = self._client(stack, endpoint, hooks)
        aclient = self._aclient(stack, endpoint, client)
        executor.on_close = aclient.close  # its channels belong to the executor's loop
        tracer, span, ctx = self._trace(stack)
        served: dict[str, str] = {}
        prices = _prices(client, served)  # inside the run's span: part of the run
        settings = RunnerSettings(ex.timeout_s, ex.job_timeout_s, self.spec.evals.grader)
        if ex.processes > 1 and ex.mode == "online":  # before the manifest: none if they fail
            self._pool = self._processes(stack, endpoint, settings, prices, served, sink, executor)
        where = "local emulator" if opts.local else endpoint
        manifest = self._manifest(state, changes, prices, where)
        self._abort_actions = [
            results.sync,
            errors.sync,
            lambda: manifest.finish("interrupted", self.stats.snapshot(), self._elapsed()),
        ]
        shared = RunnerShared(
            settings,
            prices,
            self.run_id,
            ctx,
            tracer,
            self._job_cache(endpoint, served),
        )
        self._chat = ChatRunner(client, hooks, aclient, **shared.kwargs())
        self._image = ImageRunner(client, hooks, self.out, aclient, **shared.kwargs())
        return RunResources(client, sink, hooks, executor, manifest, span, shared)

    def _processes(
        self,
        stack: ExitStack,
        endpoint: str,
        settings: RunnerSettings,
        prices: Mapping[str, ModelPrice],
        served: Mapping[str, str],
        sink: ResultSink,
        executor: Executor,
    ) -> ProcessPool:
        """Start ``execution.processes`` workers (no more than jobs in flight), each with
        its share of the concurrency and of the client rate limits (run/processes.py)."""
        opts, ex = self.options, self.spec.execution
        count = min(ex.processes, ex.concurrency)
        pool = ProcessPool(count, executor.abort)
        stack.callback(pool.close)
        pool.start()
        pool.bind(sink, self._say)
        rpm, tpm = ex.rate_limit.requests_per_minute, ex.rate_limit.tokens_per_minute
        try:
            backend = (
                "" if self._store is None else backend_id(endpoint, opts.local, opts.responses)
            )
        except OSError as exc:
            raise RunInputError(f"cannot read --responses: {exc}") from None
        level = max(logging.INFO, logging.getLogger("xai_pipelines").getEffectiveLevel())
        pool.configure(
            [
                WorkerConfig(
                    index=index,
                    run_id=self.run_id,
                    endpoint=endpoint,
                    api_key=opts.api_key,
                    out_dir=self.out.root,
                    settings=settings,
                    prices=dict(prices),
                    concurrency=share,
                    calls_per_connection=CALLS_PER_CONNECTION,
                    max_attempts=ex.retries.max_attempts,
                    initial_backoff_s=ex.retries.initial_backoff_s,
                    max_backoff_s=ex.retries.max_backoff_s,
                    requests_per_minute=None if rpm is None else rpm / count,
                    tokens_per_minute=None if tpm is None else tpm / count,
                    cache=ex.cache,
                    cache_backend=backend,
                    served=dict(served),
                    log_level=level,
                )
                for index, share in enumerate(shares(ex.concurrency, count))
            ]
        )
        log.info("%d worker processes started (concurrency %s)", count,
                 "+".join(map(str, shares(ex.concurrency, count))))  # fmt: skip
        return pool

    def _client(self, stack: ExitStack, endpoint: str, hooks: AttemptHooks) -> Client:
        """The run's client: the pipeline's timeout and retries, channels for its concurrency."""
        ex, retries = self.spec.execution, self.spec.execution.retries
        client = Client(
            api_key=self.options.api_key,
            api_host=endpoint,
            timeout=ex.timeout_s,
            retry_policy=hooks.policy(
                retries.max_attempts, retries.initial_backoff_s, retries.max_backoff_s
            ),
            channels=max(1, ex.concurrency // 64 + 1),
            tracer_provider=self.options.tracer_provider,
        )
        stack.callback(client.close)
        return client

    def _aclient(self, stack: ExitStack, endpoint: str, client: Client) -> AsyncClient:
        """The async client of the online run's calls: the sync client's key, timeout and
        retry policy; a channel per :data:`CALLS_PER_CONNECTION` calls in flight, opened on
        demand on the executor's loop (which closes them)."""
        ex = self.spec.execution
        aclient = AsyncClient(
            api_key=self.options.api_key,
            api_host=endpoint,
            timeout=ex.timeout_s,
            retry_policy=client.retry_policy,
            channels=max(1, -(-ex.concurrency // CALLS_PER_CONNECTION)),
            calls_per_channel=CALLS_PER_CONNECTION,
            tracer_provider=self.options.tracer_provider,
        )
        stack.callback(aclient.image.close)  # the download session (channels: on_close)
        return aclient

    def _trace(self, stack: ExitStack) -> tuple[trace.Tracer, trace.Span, otel_context.Context]:
        """The run's span, current (and attached) until the stack closes."""
        provider = self.options.tracer_provider or trace.get_tracer_provider()
        install_run_id_processor(provider)
        tracer = provider.get_tracer("xai_pipelines.run")
        span = stack.enter_context(
            tracer.start_as_current_span(
                f"run {self.spec.name}", attributes={RUN_ID_ATTR: self.run_id}
            )
        )
        ctx = run_context(self.run_id, span)
        token = otel_context.attach(ctx)
        stack.callback(otel_context.detach, token)
        return tracer, span, ctx

    def _execute(self, res: RunResources, state: ResumeState) -> RunStatus:
        """Run the jobs of ``plan.jsonl``, then finish the manifest and write the reports."""
        self._started = time.monotonic()
        try:
            if self.spec.execution.mode == "batch":
                with self.interrupts:
                    status = self._batch(res, state)
            else:
                with (
                    self.interrupts,
                    ProgressDisplay(self.stats, self.options.progress),
                    res.manifest.checkpoints(self._progress, on_error=res.sink.write_failed),
                ):
                    status = res.executor.run(self._planned())
                    if self._pool is not None:
                        self._worker_histories = self._pool.finish()
                        if self._pool.lost is not None:  # after all its jobs: still a crash
                            raise self._pool.lost
        except Exception:
            self._reserve.release()
            res.manifest.finish("failed", _counts(self.stats.snapshot()), self._elapsed())
            raise
        if res.sink.write_failure is not None:
            raise self._write_failed(res)
        self._reserve.release()  # its space is for the last writes below
        res.span.set_attribute("xai_pipelines.status", status)
        if res.hooks.adaptive is not None and self.spec.execution.mode != "batch":
            history = res.hooks.adaptive.history()
            if self._pool is not None:
                history = merged_history(history, self._worker_histories)
            res.manifest.set_concurrency(history)
        res.manifest.finish(status, _counts(self.stats.snapshot()), self._elapsed())
        # A forced run leaves superseded lines: compact them away (not over lines a failed
        # write still holds in memory).
        if self.options.force and getattr(res.sink, "write_failure", None) is None:
            compacted = compact(self.out)
            if compacted.moved:
                self._say(compacted.message(self.out.root))
        self._usage = write_reports(self.out)  # the one source of the run's figures
        res.manifest.set_counts(final_counts(self.stats.snapshot(), self._usage))
        return status

    def _progress(self) -> tuple[int, int]:
        """Jobs started and ended by this run so far (the manifest's checkpoint)."""
        s = self.stats.snapshot()
        ended = s["done"] + s["failed"] + s.get("unsaved", 0)
        return ended + s["in_flight"], ended

    def _write_failed(self, res: RunResources) -> OutputWriteError:
        """End a run whose write failed: kept lines tried again, the manifest ``failed``."""
        unsaved = res.sink.flush()
        self._reserve.release()
        res.span.set_attribute("xai_pipelines.status", "failed")
        try:
            res.manifest.finish("failed", _counts(self.stats.snapshot()), self._elapsed())
        except OSError as exc:
            log.warning("cannot mark %s failed: %s", self.out.manifest, exc)
        message = res.sink.failure_message() or "a write failed"
        log.info("run %s stopped (%d results not saved): %s", self.run_id, unsaved, message)
        return OutputWriteError(message)

    def _batch(self, res: RunResources, state: ResumeState) -> RunStatus:
        opts, shared = self.options, res.shared
        cache = shared.cache
        ctx = BatchContext(
            client=res.client,
            sink=res.sink,
            runner=BatchResultRunner(
                res.client,
                res.hooks,
                self.out,
                **shared.kwargs(cache=cache and cache.storing_only()),
            ),
            manifest=res.manifest,
            resume=state,
            spec_digest=self.spec.digest,
            name=f"{self.spec.name} {self.run_id}",
            concurrency=self.spec.execution.concurrency,
            stop=self.interrupts.stop,
            notify=self._say,
            settings=opts.batch,
            show_progress=opts.progress != "quiet",
            budget_usd=self.spec.execution.budget_usd,
            grader=self.spec.evals.grader,
        )
        jobs, served = self._planned(), None
        if cache is not None:  # hits are served here; only misses go to the batch
            hits: dict[str, CacheEntry] = {}
            misses: list[Job] = []
            served = Executor(
                lambda job: self._serve(job, hits.pop(job.id)),
                res.sink,
                ExecutorOptions(concurrency=ctx.concurrency),
                stop=self.interrupts.stop,
                resume=state,
            ).run(split_hits(jobs, cache, hits, misses, state))
            if served == "interrupted":
                return served
            jobs = iter(misses)
        try:
            status = BatchMode(ctx).run(jobs)
        except BatchRefusedError as exc:
            raise RunInputError(str(exc)) from None
        return "failed" if served == "failed" and status == "completed" else status

    def _open_cache(self, stack: ExitStack) -> ResponseCache | None:
        """The response cache of ``execution.cache`` (pruned), or None."""
        settings = self.spec.execution.cache
        if settings is None:
            return None
        try:
            store = ResponseCache.open(settings)
        except CacheError as exc:
            raise RunInputError(str(exc)) from None
        stack.callback(store.close)
        return store

    def _job_cache(self, endpoint: str, served: Mapping[str, str]) -> JobCache | None:
        if self._store is None:
            return None
        opts = self.options
        try:
            backend = backend_id(endpoint, opts.local, opts.responses)
        except OSError as exc:
            raise RunInputError(f"cannot read --responses: {exc}") from None
        resolver = ModelResolver(live=served)
        return JobCache(self._store, backend, resolver, self.run_id, notify=self._say)

    def _manifest(
        self,
        state: ResumeState,
        changes: list[str],
        prices: Mapping[str, ModelPrice],
        endpoint: str,
    ) -> ManifestWriter:
        manifest = ManifestWriter(
            self.out,
            self.run_id,
            SpecInfo(
                name=self.spec.name,
                path=str(self.spec.path),
                digest=self.spec.digest,
                resolved=self._resolved(),
            ),
            self.options.args,
            endpoint,
            previous=state.manifest,
            crash=state.crash,
        )
        plan = PlanInfo(jobs=self.stats.total or 0, already_done=len(state.finished))
        if self._set_aside:
            plan.set_aside = self._set_aside
        manifest.start(
            prices={k: v.to_dict() for k, v in prices.items()},
            plan=plan,
            shard=None if self.shard is None else str(self.shard),
            forced_changes=changes,
            datasets=self._datasets,
        )
        return manifest

    def _elapsed(self) -> float:
        return time.monotonic() - getattr(self, "_started", time.monotonic())

    async def _dispatch(self, job: Job) -> JobResult:
        if self._pool is not None:
            return await self._pool.run(job)
        if isinstance(job, ChatJob):
            return await self._chat.arun(job)
        return await self._image.arun(job)

    def _serve(self, job: Job, entry: CacheEntry) -> JobResult:
        if isinstance(job, ChatJob):
            return self._chat.serve(job, entry)
        return self._image.serve(job, entry)


def _counts(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("total", "done", "failed", "skipped", "retries", "tokens", "images", "cost_usd")
    return {k: snapshot[k] for k in keys} | {"errors_by_code": snapshot["errors_by_code"]}
