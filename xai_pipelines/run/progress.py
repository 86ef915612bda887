"""Progress of a run: a live rich bar on a terminal, steady plain lines otherwise.

All displays poll :class:`RunStats` from their own thread, so workers never
wait on the terminal.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Literal, TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from xai_pipelines.run.stats import RunStats

ProgressMode = Literal["auto", "rich", "plain", "quiet"]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def status_line(s: dict[str, Any]) -> str:
    """One plain-text line describing a stats snapshot."""
    total = s["total"]
    finished = s["skipped"] + s["done"] + s["failed"]
    of = f"/{total}" if total is not None else ""
    return (
        f"{finished}{of} jobs: {s['done']} done, {s['failed']} failed, {s['skipped']} skipped, "
        f"{s['in_flight']} in flight | {s['rate']:.1f} jobs/s | ETA {_duration(s['eta_s'])} | "
        f"{s['tokens']:,} tokens | ${s['cost_usd']:.4f}"
    )


def _bar(s: dict[str, Any], width: int = 30) -> Text:
    total = s["total"] or 0
    finished = s["skipped"] + s["done"] + s["failed"]
    filled = int(width * finished / total) if total else 0
    text = Text()
    text.append("━" * filled, style="green")
    text.append("━" * (width - filled), style="grey37")
    text.append(" " + status_line(s))
    return text


class ProgressDisplay:
    """Shows progress while a run is going, then a summary table.

    Args:
        stats: The counters to show.
        mode: ``rich`` (live bar), ``plain`` (a line every ``interval_s``), ``quiet``
            (nothing) or ``auto`` (rich on a terminal, plain otherwise).
        stream: Where progress goes (stderr by default).
        interval_s: Seconds between plain lines.
    """

    def __init__(
        self,
        stats: RunStats,
        mode: ProgressMode = "auto",
        stream: TextIO | None = None,
        interval_s: float = 10.0,
    ) -> None:
        self.stats = stats
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "rich" if self.stream.isatty() else "plain"
        self.mode = mode
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._live: Live | None = None

    def start(self) -> None:
        """Begin showing progress."""
        if self.mode == "quiet":
            return
        if self.mode == "rich":
            console = Console(file=self.stream)
            self._live = Live(
                _bar(self.stats.snapshot()), console=console, refresh_per_second=4, transient=True
            )
            self._live.start()
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        wait = 0.25 if self.mode == "rich" else self.interval_s
        while not self._stop.wait(wait):
            snap = self.stats.snapshot()
            if self._live is not None:
                self._live.update(_bar(snap))
            else:
                print(status_line(snap), file=self.stream, flush=True)

    def stop(self) -> None:
        """Stop the live display (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._live is not None:
            self._live.stop()
            self._live = None

    def __enter__(self) -> ProgressDisplay:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def summary_table(snapshot: dict[str, Any], status: str, out_dir: str) -> Table:
    """The end-of-run table."""
    table = Table(title=f"xai-run: {status}", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    rows = [
        ("succeeded", f"{snapshot['done']:,}"),
        ("failed", f"{snapshot['failed']:,}"),
        ("skipped (already done)", f"{snapshot['skipped']:,}"),
        ("retries", f"{snapshot['retries']:,}"),
        ("tokens", f"{snapshot['tokens']:,}"),
        ("images", f"{snapshot['images']:,}"),
        ("cost", f"${snapshot['cost_usd']:.4f}"),
        ("elapsed", _duration(snapshot["elapsed_s"])),
        ("rate", f"{snapshot['rate']:.1f} jobs/s"),
        ("output", out_dir),
    ]
    for code, n in sorted(snapshot["errors_by_code"].items()):
        rows.append((f"errors {code}", str(n)))
    for row in rows:
        table.add_row(*row)
    return table
