"""What ``xai-run run`` does, as one Python call: :func:`run_pipeline`.

The command line and Python callers share this code: the command parses its flags,
calls :func:`run_pipeline` and turns its outcome or refusal into output and an exit
code. Example::

    from xai_pipelines import run_pipeline

    outcome = run_pipeline("pipelines/eval.yaml", local=True, out="out/eval")
    print(outcome.status, outcome.usage["totals"]["cost_usd"])

Everything is checked before the first call, in the command's order: the pipeline
and the flags, ``shard`` and the batch options, the scripted answers, the models
(live, with the run's API, when there is a key or ``local``), filters that keep no
job, then the output directory (a refused run leaves no directory behind).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xai_pipelines.cli.outdir import OutputPathError, prepare_output_dir
from xai_pipelines.cli.spec_cmds import ApiSession, LiveCheckError
from xai_pipelines.spec.errors import SpecError

if TYPE_CHECKING:
    from xai_pipelines.plan.models import ModelReport
    from xai_pipelines.run.progress import ProgressMode
    from xai_pipelines.run.session import RunOutcome
    from xai_pipelines.spec import PipelineSpec

__all__ = ["PipelineRefused", "run_pipeline"]


class PipelineRefused(Exception):
    """The run was refused before any call: invalid input (the command's exit 2).

    ``str(exc)`` is the message; :meth:`report` is the text the command prints (a
    located report for a pipeline error, else ``error: MESSAGE``). Nothing was
    called, paid for or written.

    Attributes:
        spec_error: The pipeline error behind the refusal, if it is one.
    """

    def __init__(
        self, message: str, spec_error: SpecError | None = None, *, printed: str | None = None
    ) -> None:
        super().__init__(message)
        self.spec_error = spec_error
        self._printed = printed

    @classmethod
    def of(cls, error: SpecError) -> PipelineRefused:
        """A refusal carrying a pipeline error (its report names file, line and key)."""
        return cls(str(error), error, printed=error.report())

    def report(self) -> str:
        """The text ``xai-run`` prints on stderr for this refusal."""
        return self._printed if self._printed is not None else f"error: {self}"


def run_pipeline(
    pipeline: str | Path,
    *,
    out: str | Path | None = None,
    local: bool = False,
    endpoint: str | None = None,
    overrides: Mapping[str, Any] | Sequence[str] | None = None,
    concurrency: int | None = None,
    processes: int | None = None,
    only: str | None = None,
    limit: int | None = None,
    fail_fast: bool = False,
    force: bool = False,
    allow_outside: bool = False,
    shard: str | None = None,
    batch_timeout: float | None = None,
    batch_submit: str | None = None,
    responses: str | Path | None = None,
    fail_under: float | None = None,
    cache: str | Path | None = None,
    no_cache: bool = False,
    progress: ProgressMode = "quiet",
    notify: Callable[[str], None] | None = None,
) -> RunOutcome:
    """Run a pipeline file as ``xai-run run`` does, and return its outcome.

    A rerun into the same ``out`` resumes: jobs with a result are not called again.
    Each argument is the command's flag of the same name (``--set`` is ``overrides``).

    Args:
        pipeline: The pipeline YAML file.
        out: Output directory (default: the pipeline's ``output.dir``).
        local: Run against the emulator, started in-process for this call; no key needed.
        endpoint: API ``host[:port]`` (default ``api.x.ai:443``, key from ``XAI_API_KEY``).
        overrides: ``{"vars.topic": "x"}`` or ``["topic=x"]`` (a key without a dot is
            ``vars.KEY``; string values are read as YAML, as ``--set`` reads them).
        concurrency: Jobs in flight at once (``execution.concurrency``).
        processes: Worker processes (``execution.processes``).
        only: Run only jobs whose id or task matches this glob.
        limit: Run at most this many jobs.
        fail_fast: Stop dispatching after the first failed job.
        force: Resume into a directory written by a changed pipeline.
        allow_outside: Allow dataset and template files outside the pipeline's directory.
        shard: ``"K/N"``: run only shard K of N (split by job id).
        batch_timeout: ``mode: batch``: stop waiting after this many seconds.
        batch_submit: ``mode: batch``: ``auto``, ``file`` or ``requests``.
        responses: With ``local``: the emulator's scripted answers (YAML or JSONL rules).
        fail_under: Recorded as ``evals.fail_under`` (the command exits 1 below it).
        cache: Response cache directory (``execution.cache.dir``).
        no_cache: Use no response cache.
        progress: ``quiet`` (default), ``auto`` or another progress display mode.
        notify: Receives the messages ``xai-run`` prints on stderr (model advisories,
            spec changes under ``force``, Ctrl-C), one string each.

    Returns:
        The outcome: ``status``, ``exit_code`` (the command's), ``run_id``, the output
        directory ``out``, ``stats`` and the ``usage`` report.

    Raises:
        PipelineRefused: Invalid input (pipeline, flags, models, filters, output
            directory, the API key); nothing was called or written.
        OutputWriteError: A write into the output directory failed; the run stopped,
            its manifest says ``failed`` (the command's exit 1).
        WorkerError: A bug in a job's worker (traceback in run.log; exit 1).
        XaiError: The API could not be reached or refused the run as a whole.
    """
    from xai_pipelines.cli.connect import open_api
    from xai_pipelines.plan.shard import parse_shard
    from xai_pipelines.run.batch_mode import batch_settings
    from xai_pipelines.run.session import PipelineRun, RunInputError, RunOptions
    from xai_pipelines.sdk.errors import InvalidApiKeyError
    from xai_pipelines.spec import load_pipeline, parse_assignment
    from xai_pipelines.spec.flags import RunFlags, with_flags

    if local and endpoint:
        raise PipelineRefused("--local and --endpoint are mutually exclusive")
    if cache is not None and no_cache:
        raise PipelineRefused("--cache and --no-cache are mutually exclusive")
    if responses is not None and not local:
        raise PipelineRefused("--responses needs --local (it scripts the local emulator)")
    pipeline, out = Path(pipeline), None if out is None else Path(out)
    cache, responses = _path(cache), _path(responses)
    if isinstance(overrides, Mapping):
        assignments = [f"{key}={value}" for key, value in overrides.items()]  # as recorded
    else:
        assignments = list(overrides or [])
    try:
        settings = (
            dict(overrides)
            if isinstance(overrides, Mapping)
            else dict(parse_assignment(s) for s in assignments)
        )
        spec = load_pipeline(pipeline, overrides=settings, allow_outside=allow_outside)
        flags = RunFlags(concurrency, fail_fast, fail_under, cache, no_cache, processes)
        spec = with_flags(spec, flags)  # the flags are checked against the spec's own limits
    except SpecError as exc:
        raise PipelineRefused.of(exc) from None
    try:
        chosen = None if shard is None else parse_shard(shard)
        batch = batch_settings(batch_timeout, batch_submit)
    except ValueError as exc:
        raise PipelineRefused(str(exc)) from None
    emulator_config = _emulator_config(responses)
    _check_models(spec, local, endpoint, emulator_config, notify)
    _check_filters(spec, only)
    try:  # the last check: a refused run leaves no directory behind
        prepare_output_dir(out or Path(spec.output.dir), "--out" if out else "output.dir")
    except OutputPathError as exc:
        raise PipelineRefused(str(exc)) from None
    args: dict[str, Any] = {
        "pipeline": str(pipeline),
        "out": str(out) if out else None,
        "concurrency": concurrency,
        "processes": processes,
        "local": local,
        "endpoint": endpoint,
        "set": assignments,
        "only": only,
        "limit": limit,
        "fail_fast": fail_fast,
        "force": force,
        "shard": shard,
        "responses": str(responses) if responses else None,
        "fail_under": fail_under,
        "cache": str(cache) if cache else None,
        "no_cache": no_cache,
    }
    try:
        with open_api(local=local, endpoint=endpoint, emulator_config=emulator_config) as api:
            options = RunOptions(
                out_dir=out,
                api_key=api.api_key,
                endpoint=api.address,
                local=api.local,
                only=only,
                limit=limit,
                force=force,
                shard=chosen,
                progress=progress,
                args=args,
                notify=notify,
                responses=responses,
                batch=batch,
            )
            return PipelineRun(spec, options).run()
    except SpecError as exc:
        raise PipelineRefused.of(exc) from None
    except RunInputError as exc:
        raise PipelineRefused(str(exc)) from None
    except InvalidApiKeyError as exc:
        raise PipelineRefused(exc.message) from None


def _path(value: str | Path | None) -> Path | None:
    return None if value is None else Path(value)


def _emulator_config(responses: Path | None) -> Any:
    """The ``local`` emulator's config with scripted ``responses`` (a bad file is refused)."""
    if responses is None:
        return None
    from xai_pipelines.emulator import EmulatorConfig
    from xai_pipelines.emulator.scripted import ScriptError, load_rules

    try:
        load_rules(responses)
    except (ScriptError, OSError) as exc:
        raise PipelineRefused(f"--responses: {exc}") from None
    return EmulatorConfig(responses_file=responses)


def _check_models(
    spec: PipelineSpec,
    local: bool,
    endpoint: str | None,
    config: Any,
    notify: Callable[[str], None] | None,
) -> None:
    """Models and parameters checked before the first paid call (live, with the run's API).

    Without a key (and not ``local``) the run refuses on its own, with its own message.
    """
    from xai_pipelines.plan import check_models

    if not local and not os.environ.get("XAI_API_KEY"):
        return
    try:
        session = ApiSession(
            local=local, endpoint=endpoint, emulator_config=config, offline_hint=False
        )
        with session as api:
            report: ModelReport = check_models(spec, api.authority())
    except LiveCheckError as exc:
        raise PipelineRefused(str(exc)) from None
    except SpecError as exc:  # a templated model name breaks on a row
        raise PipelineRefused.of(exc) from None
    if notify is not None:
        for finding in report.advisories:
            notify(str(finding))
    error = report.error()
    if error is not None:
        raise PipelineRefused.of(error)


def _check_filters(spec: PipelineSpec, only: str | None) -> None:
    """A dataset ``where`` or ``only`` that keeps no job is refused: no empty run."""
    from xai_pipelines.plan.filters import empty_where, only_matches_nothing

    try:
        found = [str(p) for p in empty_where(spec)]
        if only is not None:
            found += [m for m in [only_matches_nothing(spec, only)] if m]
    except SpecError as exc:
        raise PipelineRefused.of(exc) from None
    if found:  # each line names the filter and what it would have kept
        text = "\n".join(found)
        raise PipelineRefused(text, printed=text)
