"""Progress display: plain lines off a terminal, a live bar on one, the final table."""

from __future__ import annotations

import io
import threading

import msgspec
from rich.console import Console

from xai_pipelines.records import UsageReport
from xai_pipelines.report import build_evals, build_usage
from xai_pipelines.run.progress import ProgressDisplay, run_summary, status_line
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


def _usage() -> UsageReport:
    usage = {"prompt_tokens": 100, "completion_tokens": 20, "cost_usd_ticks": 25_000_000}
    scores = {
        "passed": False,
        "score": 0.0,
        "total": 1,
        "failed": 1,
        "assertions": [
            {"type": "llm_rubric", "output": 0, "pass": False, "score": 0.0, "reason": "Lyon."}
        ],
        "grader": {"calls": 1, "usage": {"prompt_tokens": 40, "cost_usd_ticks": 5_000_000}},
    }
    results = [
        {"id": "ok", "kind": "chat", "model": "m", "usage": usage, "cost_usd_ticks": 25_000_000},
        {"id": "bad", "kind": "chat", "model": "m", "usage": usage, "scores": scores},
    ]
    dns = "address lookup failed for api.x.ai:443: Domain name not found"
    errors = [
        {"id": "bad", "kind": "chat", "model": "m", "code": "UNAVAILABLE", "final": False},
        *(
            {
                "id": f"f{i}",
                "kind": "chat",
                "model": "m",
                "code": "UNAVAILABLE",
                "final": True,
                "message": dns,
                "task": "t",
                "expects": 1,
            }
            for i in range(4)
        ),
    ]
    return msgspec.structs.replace(build_usage(results, errors), evals=build_evals(results, errors))


def test_summary_shows_the_usage_figures_why_jobs_failed_and_failed_assertions() -> None:
    console = Console(file=io.StringIO(), width=200)
    usage = _usage()
    console.print(run_summary(usage, _stats().snapshot(), "failed", "runs/x"))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    rows = dict(
        line.strip("│ ").split("│")[0:2] for line in text.splitlines() if line.startswith("│")
    )
    rows = {k.strip(): v.strip() for k, v in rows.items()}
    # the usage document's figures (grader included and labelled), not the live counters
    assert (rows["succeeded"], rows["failed"], rows["skipped (already done)"]) == ("2", "4", "2")
    # requests: 2 calls, 1 grader call and 5 failed attempts
    assert (rows["requests"], rows["retries"]) == ("8", "1")
    assert rows["tokens"] == "280 (grader 40)" and rows["cost"] == "$0.0055 (grader $0.0005)"
    assert "xai-run: failed" in text and "runs/x" in text
    assert (
        "      4  UNAVAILABLE: address lookup failed for api.x.ai:443: Domain name not found "
        "(e.g. f0, f1, f2 and 1 more)" in text
    )
    assert "evals: 0/5 jobs passed every assertion (0.0%) · 4 failed at the API" in text
    assert "  bad · llm_rubric: Lyon." in text


def test_interrupts_off_the_main_thread_install_nothing() -> None:
    result: list[int] = []

    def run() -> None:
        with Interrupts() as interrupts:
            result.append(interrupts.signals)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert result == [0]
