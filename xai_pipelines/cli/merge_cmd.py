"""``xai-run merge OUT DIR1 DIR2 ...``: join shard output directories into one.

Exit codes: 0 merged, 2 refused (different specs, conflicting results, OUT
exists, not an output directory, a source unreadable, OUT not writable);
nothing is written when refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xai_pipelines.cli.outdir import describe_os_error


def merge(
    out: Annotated[Path, typer.Argument(help="New directory to write.", show_default=False)],
    sources: Annotated[
        list[Path], typer.Argument(help="Output directories to join.", show_default=False)
    ],
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Merge different specs; on conflicting results keep the later one."
        ),
    ] = False,
) -> None:
    """Merge output directories (e.g. --shard runs): results, errors, images, reports."""
    from rich.console import Console

    from xai_pipelines.run.reporting import write_reports
    from xai_pipelines.store.merge import MergeError, merge_outputs

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        summary = merge_outputs(out, sources, force=force, render=write_reports)
    except MergeError as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None
    except OSError as exc:  # a source unreadable, or OUT's filesystem read-only or full
        err.print(f"error: cannot merge into {out}: {describe_os_error(exc, out)}", markup=False)
        raise typer.Exit(2) from None
    if summary.conflicts:
        err.print(
            f"warning: {len(summary.conflicts)} conflicting job(s) taken from the later "
            "directory (--force)",
            markup=False,
        )
    err.print(
        f"merged {len(sources)} directories into {out}: {summary.jobs} jobs, "
        f"{summary.errors} error lines, {summary.images} images, "
        f"{summary.duplicates} duplicates dropped; status {summary.status}",
        markup=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``merge`` to the app."""
    app.command()(merge)
