"""usage.json is written from the UsageReport record; old directories and old usage.json still read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from xai_pipelines.records import (
    SCHEMA_VERSION,
    RecordError,
    decode_usage_report,
    to_plain,
    usage_report_from,
)
from xai_pipelines.run.reporting import write_reports
from xai_pipelines.store import OutputDir

V1 = Path(__file__).parents[1] / "store" / "data" / "v1"


def test_reports_of_a_version_1_directory_write_a_versioned_usage_json(tmp_path: Path) -> None:
    shutil.copytree(V1, tmp_path / "out")
    out = OutputDir(tmp_path / "out")
    usage = write_reports(out)
    raw = out.usage.read_bytes()
    written = json.loads(raw)
    assert written == usage and written["schema_version"] == SCHEMA_VERSION
    report = decode_usage_report(raw)
    assert to_plain(report) == written
    lines = out.results.read_text().splitlines()
    assert report.totals.jobs == len({json.loads(line)["id"] for line in lines})
    errors = [json.loads(line) for line in out.errors.read_text().splitlines()]
    assert report.totals.retries == sum(1 for e in errors if not e["final"])
    assert report.evals.jobs == report.evals.passed + report.evals.failed


def test_a_usage_json_without_schema_version_is_version_1_and_a_newer_one_is_refused(
    tmp_path: Path,
) -> None:
    shutil.copytree(V1, tmp_path / "out")
    usage = write_reports(OutputDir(tmp_path / "out"))
    old = {k: v for k, v in usage.items() if k != "schema_version"}
    assert decode_usage_report(json.dumps(old)).schema_version == 1
    with pytest.raises(RecordError, match="schema_version 3"):
        decode_usage_report(json.dumps({**usage, "schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(RecordError, match="not a valid usage report"):
        usage_report_from({**usage, "totals": {**usage["totals"], "jobs": "many"}})
