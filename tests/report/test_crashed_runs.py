"""usage.json and summary.md on runs that crashed: what they finished counts, in-flight calls cannot."""

from __future__ import annotations

from pathlib import Path

from xai_pipelines.records import (
    CrashedRuns,
    HistoryEntry,
    Manifest,
    ReportTotals,
    UsageReport,
    decode_manifest,
)
from xai_pipelines.report.summary import render_summary
from xai_pipelines.report.usage import crashed_runs

V1 = Path(__file__).parents[1] / "store" / "data" / "v1"


def _manifest(*history: HistoryEntry) -> Manifest:
    return Manifest(run_id="r-4", status="completed", history=list(history))


def test_crashed_runs_are_counted_from_the_history_with_their_in_flight_bound() -> None:
    manifest = _manifest(
        HistoryEntry(run_id="r-1", status="crashed", jobs_in_flight=7),
        HistoryEntry(run_id="r-2", status="interrupted"),
        HistoryEntry(run_id="r-3", status="crashed"),  # no checkpoint: nothing bounds it
    )
    assert crashed_runs(manifest) == CrashedRuns(
        runs=2, run_ids=["r-1", "r-3"], jobs_in_flight=7, runs_without_checkpoint=1
    )
    report = UsageReport(totals=ReportTotals(crashed_runs=crashed_runs(manifest)))  # type: ignore[arg-type]
    text = render_summary(report, manifest)
    assert (
        "**Crashed runs:** 2 earlier runs (`r-1`, `r-3`) crashed or were killed. What they "
        "finished is counted above; the calls they had in flight (at least 7 jobs were in "
        "flight) are not; 1 left no progress checkpoint." in text
    )


def test_no_crash_no_note_and_a_version_1_manifest_reads() -> None:
    assert crashed_runs(None) is None
    assert crashed_runs(_manifest(HistoryEntry(run_id="r-1", status="completed"))) is None
    old = decode_manifest((V1 / "manifest.json").read_bytes())
    assert crashed_runs(old) is None
    assert "Crashed runs" not in render_summary(UsageReport(), old)
