"""``xai-run run PIPELINE`` (also plain ``xai-run PIPELINE``) and ``xai-run report DIR``.

Exit codes: 0 every job succeeded, 1 some failed (or the budget stopped the
run), 2 invalid input (message on stderr, no traceback), 130 interrupted.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from xai_pipelines.plan.shard import parse_shard
from xai_pipelines.run.progress import ProgressMode, summary_table
from xai_pipelines.run.reporting import write_reports
from xai_pipelines.run.session import PipelineRun, RunInputError, RunOptions
from xai_pipelines.run.signals import EXIT_INTERRUPTED
from xai_pipelines.sdk import configure_telemetry
from xai_pipelines.spec import SpecError, load_pipeline, parse_assignment
from xai_pipelines.store import OutputDir


def _err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(message: str) -> typer.Exit:
    _err().print(f"error: {message}", markup=False)
    return typer.Exit(2)


def run(
    pipeline: Annotated[Path, typer.Argument(help="Pipeline YAML file.", show_default=False)],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output directory (default: the spec's output.dir)."),
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", min=1, help="Jobs in flight at once.")
    ] = None,
    local: Annotated[
        bool, typer.Option("--local", help="Run against the emulator, in-process; no key needed.")
    ] = False,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", help="API host[:port] (default api.x.ai:443).")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override KEY=VALUE (a key without a dot is vars.KEY).",
            metavar="KEY=VALUE",
        ),
    ] = None,
    only: Annotated[
        str | None, typer.Option("--only", help="Run only jobs whose id or task matches this glob.")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=0, help="Run at most N jobs.")] = None,
    fail_fast: Annotated[
        bool, typer.Option("--fail-fast", help="Stop dispatching after the first failed job.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Resume into a directory written by a changed spec.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress, no summary.")] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="No progress; print the outcome as JSON on stdout.")
    ] = False,
    allow_outside: Annotated[
        bool, typer.Option("--allow-outside", help="Allow files outside the pipeline's directory.")
    ] = False,
    shard: Annotated[
        str | None,
        typer.Option("--shard", metavar="K/N", help="Run only shard K of N (split by job id)."),
    ] = None,
    batch_timeout: Annotated[
        float | None,
        typer.Option(
            "--batch-timeout", min=0, help="mode: batch: stop waiting after SECONDS (default 24h)."
        ),
    ] = None,
) -> None:
    """Run a pipeline: every job, rate-limited and retried, resumable. Exit 0/1/2/130."""
    if quiet and json_out:
        raise _fail("--quiet and --json are mutually exclusive")
    if local and endpoint:
        raise _fail("--local and --endpoint are mutually exclusive")
    try:
        overrides = dict(parse_assignment(s) for s in set_ or [])
        spec = load_pipeline(pipeline, overrides=overrides, allow_outside=allow_outside)
    except SpecError as exc:
        _err().print(exc.report(), markup=False)
        raise typer.Exit(2) from None
    try:
        chosen = None if shard is None else parse_shard(shard)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    progress: ProgressMode = "quiet" if quiet or json_out else "auto"
    args: dict[str, Any] = {
        "pipeline": str(pipeline),
        "out": str(out) if out else None,
        "concurrency": concurrency,
        "local": local,
        "endpoint": endpoint,
        "set": list(set_ or []),
        "only": only,
        "limit": limit,
        "fail_fast": fail_fast,
        "force": force,
        "shard": shard,
    }
    options = RunOptions(
        out_dir=out,
        endpoint=endpoint,
        local=local,
        concurrency=concurrency,
        only=only,
        limit=limit,
        fail_fast=fail_fast,
        force=force,
        shard=chosen,
        progress=progress,
        args=args,
        notify=lambda m: _err().print(m, markup=False),
    )
    if batch_timeout is not None:
        options.batch = dataclasses.replace(options.batch, timeout_s=batch_timeout)
    try:
        provider = configure_telemetry()  # OTEL_TRACES_EXPORTER decides; default none
    except ValueError as exc:
        raise _fail(str(exc)) from None
    try:
        outcome = PipelineRun(spec, options).run()
    except (RunInputError, SpecError) as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:  # before the run's own handler was installed: nothing sent yet
        _err().print("Interrupted before the run started.", markup=False)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        if provider is not None:
            provider.shutdown()  # flush the run's spans
    if json_out:
        print(
            json.dumps(
                {
                    "status": outcome.status,
                    "exit_code": outcome.exit_code,
                    "run_id": outcome.run_id,
                    "out": str(outcome.out.root),
                    "stats": outcome.stats,
                    "usage": outcome.usage["totals"],
                }
            )
        )
    elif not quiet:
        Console(highlight=False).print(
            summary_table(outcome.stats, outcome.status, str(outcome.out.root))
        )
    raise typer.Exit(outcome.exit_code)


def report(
    directory: Annotated[
        Path, typer.Argument(help="Output directory of a run.", show_default=False)
    ],
) -> None:
    """Rebuild usage.json and summary.md of DIR from its results.jsonl (and errors.jsonl)."""
    out = OutputDir(directory)
    try:
        usage = write_reports(out)
    except (FileNotFoundError, ValueError) as exc:
        raise _fail(str(exc)) from None
    sys.stdout.write(out.summary.read_text())
    totals = usage["totals"]
    _err().print(
        f"wrote {out.usage} and {out.summary} ({totals['jobs']} jobs, ${totals['cost_usd']:.4f})",
        markup=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``run`` and ``report`` to the app."""
    app.command("run")(run)
    app.command("report")(report)
