"""``xai-run compare BASE NEW``: pass-rate deltas, regressions and fixes, cost and latency.

Prints Markdown for a PR comment (rules in :mod:`xai_pipelines.report.compare`).

Exit codes: 0 compared; 1 with ``--fail-on-regression`` when a job regressed or a
pass rate dropped significantly; 2 bad input (a missing directory, not an output
directory, a damaged file), with a one-line message on stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

# Imported by the functions that use them: ``--help`` does not pay for the reports.
if TYPE_CHECKING:
    from xai_pipelines.records import UsageReport
    from xai_pipelines.report.compare import Run


class _BadInput(Exception):
    """An input the comparison cannot read (exit 2)."""


def load_run(label: str, directory: Path) -> Run:
    """Read one output directory for the comparison.

    Raises:
        _BadInput: Missing, not an output directory, or a damaged file.
    """
    from xai_pipelines.records import decode_usage_report
    from xai_pipelines.report import build_usage, price_table_from_dict
    from xai_pipelines.report.compare import build_run
    from xai_pipelines.report.latest import LatestResults
    from xai_pipelines.report.lines import unset_or
    from xai_pipelines.store import OutputDir, read_jsonl

    if not directory.is_dir():
        raise _BadInput(f"{label} {directory}: no such directory")
    out = OutputDir(directory)
    if not out.results.exists() and not out.errors.exists():
        raise _BadInput(
            f"{label} {directory} is not an xai-run output directory "
            "(no results.jsonl nor errors.jsonl)"
        )
    try:
        manifest = out.load_manifest()
        usage: UsageReport | Mapping[str, Any]
        if out.usage.exists():
            usage = decode_usage_report(out.usage.read_bytes())
        else:
            prices = price_table_from_dict(unset_or(manifest.prices, None) if manifest else None)
            usage = build_usage(LatestResults.from_file(out.results), out.iter_errors(), prices)
        return build_run(
            str(directory),
            out.iter_results(),
            out.iter_errors(),
            read_jsonl(out.plan),
            usage,
            manifest,
        )
    except (OSError, ValueError) as exc:
        raise _BadInput(f"{label} {directory}: {' '.join(str(exc).split())}") from None


def compare_runs(
    base: Annotated[
        Path,
        typer.Argument(
            metavar="BASE", help="Output directory of the baseline run.", show_default=False
        ),
    ],
    new: Annotated[
        Path,
        typer.Argument(
            metavar="NEW", help="Output directory of the run to judge.", show_default=False
        ),
    ],
    fail_on_regression: Annotated[
        bool,
        typer.Option(
            "--fail-on-regression",
            help="Exit 1 when a job passing in BASE fails in NEW, or a pass rate drops "
            "significantly (Wilson 95% intervals apart).",
        ),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="FILE", help="Also write the Markdown to FILE."),
    ] = None,
) -> None:
    """Compare two runs: pass rates with 95% intervals, regressions, fixes, cost, latency."""
    from rich.console import Console

    from xai_pipelines.report.compare import compare, render_markdown
    from xai_pipelines.store import atomic_write_text

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        result = compare(load_run("BASE", base), load_run("NEW", new))
    except _BadInput as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None
    markdown = render_markdown(result)
    sys.stdout.write(markdown)
    if out is not None:
        try:
            atomic_write_text(out, markdown)
        except OSError as exc:
            err.print(f"error: --out {out}: {exc.strerror or exc}", markup=False)
            raise typer.Exit(2) from None
    if fail_on_regression and result.failed:
        drops = len(result.significant_drops)
        err.print(
            f"regressed: {len(result.regressions)} jobs, {drops} significant drops",
            markup=False,
        )
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``compare`` to the app."""
    app.command("compare")(compare_runs)
