"""Progress of a run: a live rich bar on a terminal, steady plain lines otherwise.

All displays poll :class:`RunStats` from their own thread, so workers never
wait on the terminal. The live figures are the workers' running counts; the
summary at the end (:func:`run_summary`) shows the figures of ``usage.json``.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from typing import Any, Literal, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from xai_pipelines.records import UsageReport
from xai_pipelines.report import ticks_to_usd
from xai_pipelines.report.evals import evals_headline
from xai_pipelines.report.failures import describe_group
from xai_pipelines.report.lines import as_usage_report, unset_or
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


#: Error groups and failed assertions shown under the end-of-run table (the rest are counted).
TERMINAL_ERROR_GROUPS = 5
TERMINAL_FAILURES = 5


def _usd(ticks: int) -> str:
    return f"${ticks_to_usd(ticks):.4f}"


def summary_table(
    usage: UsageReport | Mapping[str, Any], snapshot: Mapping[str, Any], status: str, out_dir: str
) -> Table:
    """The end-of-run table: the figures of ``usage.json``, plus this run's timing.

    Jobs, requests, retries, tokens, images and cost come from the usage document
    (the output directory's totals, the grader's share included), so they equal
    what ``manifest.json``, ``summary.md`` and ``report.html`` show; ``snapshot``
    (the live counters) gives what only this run knows: skipped jobs, time, rate.
    """
    t = as_usage_report(usage).totals
    grader = t.grader
    table = Table(title=f"xai-run: {status}", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    rows = [
        ("succeeded", f"{t.jobs:,}"),
        ("failed", f"{t.failed:,}"),
        ("skipped (already done)", f"{snapshot['skipped']:,}"),
    ]
    if t.cache_hits:
        rows.append(("served from cache", f"{t.cache_hits:,}"))
    tokens, cost = f"{t.tokens.total:,}", _usd(t.cost_usd_ticks)
    if grader.requests:
        tokens += f" (grader {grader.tokens:,})"
        cost += f" (grader {_usd(grader.cost_usd_ticks)})"
    rows += [
        ("requests", f"{t.requests:,}"),
        ("retries", f"{t.retries:,}"),
        ("tokens", tokens),
        ("images", f"{t.images:,}"),
        ("cost", cost),
        ("elapsed", _duration(snapshot["elapsed_s"])),
        ("rate", f"{snapshot['rate']:.1f} jobs/s"),
        ("output", out_dir),
    ]
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    return table


def why_failed_lines(usage: UsageReport | Mapping[str, Any]) -> list[str]:
    """Why jobs failed (error groups), the eval pass rate, and the first failed assertions."""
    report = as_usage_report(usage)
    t = report.totals
    lines: list[str] = []
    groups = unset_or(t.error_groups, [])
    if groups:
        noun = "job" if t.failed == 1 else "jobs"
        lines.append(f"Why {t.failed:,} {noun} failed at the API (errors.jsonl):")
        for g in groups[:TERMINAL_ERROR_GROUPS]:
            ids = ", ".join(g.example_ids[:3])
            more = g.count - len(g.example_ids[:3])
            ids += f" and {more:,} more" if more > 0 else ""
            lines.append(f"  {g.count:>5,}  {describe_group(g)} (e.g. {ids})")
        if len(groups) > TERMINAL_ERROR_GROUPS:
            rest = groups[TERMINAL_ERROR_GROUPS:]
            jobs = sum(g.count for g in rest)
            lines.append(f"  … {len(rest)} more errors ({jobs:,} jobs): summary.md, usage.json")
    evals = report.evals
    if evals.jobs:
        lines.append(f"evals: {evals_headline(evals)} (summary.md, report.html)")
        if evals.failures:
            failed = evals.assertions.total - evals.assertions.passed
            lines.append(f"Failed assertions ({failed:,}):")
            for f in evals.failures[:TERMINAL_FAILURES]:
                name = unset_or(f.name, "")
                label = f.type + (f" ({name})" if name else "")
                reason = " ".join(f.reason.split())
                lines.append(f"  {f.id} · {label}: {reason}")
            if failed > TERMINAL_FAILURES:
                lines.append(
                    f"  … and {failed - TERMINAL_FAILURES:,} more (summary.md, report.html)"
                )
    return lines


def run_summary(
    usage: UsageReport | Mapping[str, Any], snapshot: Mapping[str, Any], status: str, out_dir: str
) -> Group:
    """What the terminal shows when a run ends: the table, then why jobs failed."""
    return Group(
        summary_table(usage, snapshot, status, out_dir),
        *(Text(line) for line in why_failed_lines(usage)),
    )
