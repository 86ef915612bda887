"""Progress display: plain lines off a terminal, a live bar on one, the final table."""

from __future__ import annotations

import io
import threading

from rich.console import Console

from xai_pipelines.run.progress import ProgressDisplay, status_line, summary_table
from xai_pipelines.run.signals import Interrupts
from xai_pipelines.run.stats import RunStats


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _stats() -> RunStats:
    stats = RunStats(total=10, skipped=2)
    for _ in range(4):
        stats.job_started()
    stats.job_finished(tokens=120, images=1, cost_ticks=25_000_000)
    stats.job_finished(tokens=80, images=0, cost_ticks=None)
    stats.job_failed("UNAVAILABLE")
    stats.retried()
    return stats


def test_status_line_has_counts_rate_eta_tokens_and_cost() -> None:
    line = status_line(_stats().snapshot())
    assert line.startswith("5/10 jobs: 2 done, 1 failed, 2 skipped, 1 in flight")
    assert "jobs/s" in line and "ETA" in line and "200 tokens" in line and "$0.0025" in line


def test_plain_mode_off_a_terminal_prints_steady_lines() -> None:
    stream = io.StringIO()
    display = ProgressDisplay(_stats(), stream=stream, interval_s=0.02)
    assert display.mode == "plain"
    with display:
        threading.Event().wait(0.15)
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 2 and all(line.startswith("5/10 jobs") for line in lines)


def test_rich_mode_on_a_terminal_and_quiet_mode() -> None:
    tty = FakeTty()
    display = ProgressDisplay(_stats(), stream=tty)
    assert display.mode == "rich"
    with display:
        threading.Event().wait(0.3)
    assert "5/10 jobs" in tty.getvalue()
    quiet = io.StringIO()
    with ProgressDisplay(_stats(), mode="quiet", stream=quiet):
        pass
    assert quiet.getvalue() == ""


def test_summary_table_lists_outcome_and_errors() -> None:
    console = Console(file=io.StringIO(), width=100)
    console.print(summary_table(_stats().snapshot(), "failed", "runs/x"))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    for expected in ("xai-run: failed", "succeeded", "errors UNAVAILABLE", "runs/x", "$0.0025"):
        assert expected in text


def test_interrupts_off_the_main_thread_install_nothing() -> None:
    result: list[bool] = []

    def run() -> None:
        with Interrupts() as interrupts:
            result.append(interrupts.interrupted)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert result == [False]
