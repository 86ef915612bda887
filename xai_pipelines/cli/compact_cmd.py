"""``xai-run compact DIR``: rewrite ``results.jsonl`` without superseded lines.

A job run again (``--force`` with a changed request) leaves its older result
lines; readers take the last. Compaction moves the older ones, and any damaged
line, into ``DIR/set-aside/`` (nothing is deleted), rewrites the file
atomically and rebuilds the reports. ``errors.jsonl`` keeps every line: each is
a call that was made. Exit codes: 0 compacted (or nothing to do), 2 not an
output directory, busy (a run is writing to it), or not writable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xai_pipelines.cli.outdir import describe_os_error


def compact_dir(
    directory: Annotated[
        Path,
        typer.Argument(metavar="DIR", help="Output directory of xai-run.", show_default=False),
    ],
) -> None:
    """Rewrite results.jsonl without superseded lines (kept in DIR/set-aside/), atomically."""
    from rich.console import Console

    from xai_pipelines.run.reporting import write_reports
    from xai_pipelines.store import OutputDir
    from xai_pipelines.store.compact import compact
    from xai_pipelines.store.layout import DirectoryBusyError

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    out = OutputDir(directory)
    if not out.results.is_file() and not out.errors.is_file():
        err.print(
            f"error: {directory} holds no results.jsonl nor errors.jsonl; "
            "give the output directory of an xai-run run",
            markup=False,
        )
        raise typer.Exit(2)
    try:
        with out.locked():
            done = compact(out)
            if done.moved:
                write_reports(out)
    except DirectoryBusyError as exc:
        err.print(f"error: {exc}; compact it when the run has ended", markup=False)
        raise typer.Exit(2) from None
    except ValueError as exc:  # a line of a newer format
        err.print(f"error: cannot compact {directory}: {exc}", markup=False)
        raise typer.Exit(2) from None
    except OSError as exc:
        err.print(
            f"error: cannot compact {directory}: {describe_os_error(exc, directory)}",
            markup=False,
        )
        raise typer.Exit(2) from None
    for damaged in done.damaged:
        err.print(f"warning: {damaged.message()}", markup=False)
    err.print(done.message(directory), markup=False)


def register(app: typer.Typer) -> None:
    """Add ``compact`` to the app."""
    app.command("compact")(compact_dir)
