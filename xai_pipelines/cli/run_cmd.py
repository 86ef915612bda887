"""``xai-run run PIPELINE`` (also plain ``xai-run PIPELINE``) and ``xai-run report DIR``.

Exit codes: 0 every job succeeded, 1 some failed (or the budget stopped the
run, or the eval pass rate is below ``--fail-under``, else the pipeline's
``evals.fail_under``, or a write into the output directory failed: one message
on stderr naming the file and the OS error, the manifest ``failed``), 2 invalid
input (message on stderr, no traceback), 130 interrupted.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from xai_pipelines.cli.outdir import describe_os_error
from xai_pipelines.run.signals import EXIT_INTERRUPTED, stop_raises

# The run's machinery (grpc, the executor, reports) is imported by the command
# that uses it, not here: ``--help`` and the other commands do not pay for it.
if TYPE_CHECKING:
    from rich.console import Console

    from xai_pipelines.store import OutputDir


def _err() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(message: str) -> typer.Exit:
    _err().print(f"error: {message}", markup=False)
    return typer.Exit(2)


FAIL_UNDER_HELP = (
    "Exit 1 when the share of scored jobs passing every assertion is below RATE (0-1; "
    "default: the pipeline's evals.fail_under)."
)


def _threshold(flag: float | None, in_file: Any) -> tuple[float | None, str]:
    """The pass-rate threshold and where it was set: the flag wins over the pipeline file."""
    if flag is not None:
        return flag, "--fail-under"
    if isinstance(in_file, int | float) and not isinstance(in_file, bool):
        return float(in_file), "evals.fail_under"
    return None, "--fail-under"


def _recorded_fail_under(out: OutputDir) -> Any:
    """``evals.fail_under`` of the spec recorded in the run's manifest (None if absent)."""
    try:
        manifest = out.read_manifest() or {}
    except ValueError:
        return None
    return (((manifest.get("spec") or {}).get("resolved") or {}).get("evals") or {}).get(
        "fail_under"
    )


def _below(usage: dict[str, Any], fail_under: float | None, source: str = "--fail-under") -> bool:
    """Whether the pass-rate threshold fails the command (reported on stderr)."""
    from xai_pipelines.report import pass_rate

    rate = pass_rate(usage)
    if fail_under is None or rate is None or rate >= fail_under:
        return False
    _err().print(
        f"eval pass rate {rate * 100:.1f}% is below {source} {fail_under * 100:g}%",
        markup=False,
    )
    return True


def run(
    pipeline: Annotated[Path, typer.Argument(help="Pipeline YAML file.", show_default=False)],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output directory (default: the spec's output.dir)."),
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", min=1, help="Jobs in flight at once.")
    ] = None,
    processes: Annotated[
        int | None,
        typer.Option(
            "--processes",
            metavar="N",
            help="Spread the calls over N worker processes (default: execution.processes, 1).",
        ),
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
    batch_submit: Annotated[
        str | None,
        typer.Option(
            "--batch-submit",
            metavar="auto|file|requests",
            help="mode: batch: send the jobs in a JSONL input file, with AddBatchRequests, "
            "or the file when it can (auto, the default).",
        ),
    ] = None,
    responses: Annotated[
        Path | None,
        typer.Option(
            "--responses",
            metavar="FILE",
            help="With --local: scripted emulator answers (YAML or JSONL rules).",
        ),
    ] = None,
    fail_under: Annotated[
        float | None,
        typer.Option("--fail-under", min=0, max=1, metavar="RATE", help=FAIL_UNDER_HELP),
    ] = None,
    cache: Annotated[
        Path | None,
        typer.Option(
            "--cache",
            metavar="DIR",
            help="Reuse answers stored in DIR, store new ones (overrides execution.cache.dir).",
        ),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Use no response cache (ignore execution.cache).")
    ] = False,
) -> None:
    """Run a pipeline: every job, rate-limited and retried, resumable. Exit 0/1/2/130."""
    from rich.console import Console

    from xai_pipelines.cli.launch import PipelineRefused, run_pipeline
    from xai_pipelines.report import pass_rate
    from xai_pipelines.report.github import publish as publish_github
    from xai_pipelines.run.executor import WorkerError
    from xai_pipelines.run.progress import run_summary
    from xai_pipelines.run.session import OutputWriteError
    from xai_pipelines.sdk import configure_telemetry
    from xai_pipelines.store import WriteError

    if quiet and json_out:
        raise _fail("--quiet and --json are mutually exclusive")
    try:
        provider = configure_telemetry()  # OTEL_TRACES_EXPORTER decides; default none
    except ValueError as exc:
        raise _fail(str(exc)) from None
    try:
        outcome = run_pipeline(
            pipeline,
            out=out,
            local=local,
            endpoint=endpoint,
            overrides=list(set_ or []),
            concurrency=concurrency,
            processes=processes,
            only=only,
            limit=limit,
            fail_fast=fail_fast,
            force=force,
            allow_outside=allow_outside,
            shard=shard,
            batch_timeout=batch_timeout,
            batch_submit=batch_submit,
            responses=responses,
            fail_under=fail_under,
            cache=cache,
            no_cache=no_cache,
            progress="quiet" if quiet or json_out else "auto",
            notify=lambda m: _err().print(m, markup=False),
        )
    except PipelineRefused as exc:
        _err().print(exc.report(), markup=False)
        raise typer.Exit(2) from None
    except (OutputWriteError, WorkerError, OSError) as exc:  # the run could not finish: exit 1
        if isinstance(exc, OSError) and not isinstance(exc, WriteError) and exc.filename:
            exc = WriteError(Path(exc.filename), exc)
        _err().print(f"error: {exc}", markup=False)
        raise typer.Exit(1) from None
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
                    "pass_rate": pass_rate(outcome.usage),
                }
            )
        )
    elif not quiet:
        console = Console(highlight=False)
        root = str(outcome.out.root)
        console.print(run_summary(outcome.usage, outcome.stats, outcome.status, root))
    publish_github(outcome.out, sys.stderr if json_out else sys.stdout, pipeline=pipeline)
    source = "--fail-under" if fail_under is not None else "evals.fail_under"
    below = _below(outcome.usage, outcome.fail_under, source)
    raise typer.Exit(1 if below and outcome.exit_code == 0 else outcome.exit_code)


def report(
    directory: Annotated[
        Path, typer.Argument(help="Output directory of a run.", show_default=False)
    ],
    fail_under: Annotated[
        float | None,
        typer.Option("--fail-under", min=0, max=1, metavar="RATE", help=FAIL_UNDER_HELP),
    ] = None,
) -> None:
    """Rebuild usage.json, summary.md and report.html of DIR from its results and errors."""
    from xai_pipelines.report.github import publish as publish_github
    from xai_pipelines.run.reporting import write_reports
    from xai_pipelines.store import OutputDir

    out = OutputDir(directory)
    try:
        usage = write_reports(out)
    except (FileNotFoundError, ValueError) as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:  # the reports cannot be written there (read-only, full, ...)
        raise _fail(
            f"cannot write the reports into {directory}: {describe_os_error(exc, directory)}"
        ) from None
    sys.stdout.write(out.summary.read_text())
    totals = usage["totals"]
    _err().print(
        f"wrote {out.usage}, {out.summary} and report.html "
        f"({totals['jobs']} jobs, ${totals['cost_usd']:.4f})",
        markup=False,
    )
    publish_github(out, sys.stdout)
    if _below(usage, *_threshold(fail_under, _recorded_fail_under(out))):
        raise typer.Exit(1)


INTERRUPTED = "Interrupted: nothing more is sent. Run the same command again to resume."


def stops_on_signal(command: Callable[..., None]) -> Callable[..., None]:
    """``command`` with SIGINT and SIGTERM stopping it with 130 (no traceback) wherever it is.

    Outside the jobs (loading, planning, connecting, reporting) a signal raises
    ``KeyboardInterrupt`` even if SIGINT was ignored at start (see
    :mod:`xai_pipelines.run.signals`); while the jobs run, the run's own handlers
    stop it gracefully.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            with stop_raises():
                command(*args, **kwargs)
        except KeyboardInterrupt:
            _err().print(INTERRUPTED, markup=False)
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper


def register(app: typer.Typer) -> None:
    """Add ``run`` and ``report`` to the app."""
    app.command("run")(stops_on_signal(run))
    app.command("report")(report)
