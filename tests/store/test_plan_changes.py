"""A changed dataset is noticed; lines of jobs no longer in the plan leave the reports (issue 10).

And compaction: ``xai-run compact DIR`` and the end of a ``--force`` run rewrite
``results.jsonl`` without superseded lines, which are set aside, not deleted.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from xai_pipelines.cli.app import app
from xai_pipelines.emulator import Emulator, EmulatorConfig, FaultConfig
from xai_pipelines.records import decode_manifest
from xai_pipelines.run.session import PipelineRun, RunOptions, RunOutcome
from xai_pipelines.spec import PipelineSpec, load_pipeline
from xai_pipelines.store import OutputDir, read_jsonl

V1 = Path(__file__).parent / "data" / "v1"


def _spec(tmp_path: Path, rows: list[int], max_tokens: int = 16) -> PipelineSpec:
    """Two chat jobs ``q-0``, ``q-1`` and one job ``row-N`` per row of ``rows.jsonl``."""
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps({"n": n}) + "\n" for n in rows))
    data: dict[str, Any] = {
        "version": 1,
        "name": "plan-changes",
        "defaults": {"model": "grok-4.20-non-reasoning", "max_tokens": max_tokens,
                     "temperature": 0, "seed": 3},
        "execution": {"retries": {"max_attempts": 10, "initial_backoff": "5ms",
                                  "max_backoff": "20ms"}},
        "datasets": {"rows": {"path": "rows.jsonl"}},
        "chats": [
            {"name": "q", "id": "q-{{ repeat }}", "repeat": 2,
             "messages": [{"user": "A fact about {{ repeat }}."}]},
            {"name": "r", "id": "row-{{ row.n }}", "for_each": "rows",
             "messages": [{"user": "Row {{ row.n }}."}]},
        ],
        "output": {"dir": "out"},
    }  # fmt: skip
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_pipeline(path)


def _run(
    spec: PipelineSpec, out: Path, emu: Emulator, said: list[str] | None = None, **opts: Any
) -> RunOutcome:
    options = RunOptions(out_dir=out, api_key=emu.api_key, endpoint=emu.address,
                         progress="quiet", notify=(said if said is not None else []).append,
                         **opts)  # fmt: skip
    return PipelineRun(spec, options).run()


def _ids(path: Path) -> list[str]:
    return [line["id"] for line in read_jsonl(path)]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_changed_dataset_is_reported_and_dropped_rows_leave_every_report(
    tmp_path: Path, emulator: Emulator
) -> None:
    out = tmp_path / "out"
    spec = _spec(tmp_path, list(range(8)))
    old_sha = _sha(tmp_path / "rows.jsonl")
    assert _run(spec, out, emulator).status == "completed"
    assert decode_manifest((out / "manifest.json").read_bytes()).datasets == {"rows.jsonl": old_sha}
    # a failed job of a row that will disappear: its error line must leave the reports too
    (out / "errors.jsonl").write_text(
        json.dumps({"id": "row-7", "model": "grok-4.20-non-reasoning", "attempt": 1,
                    "final": True, "code": "INTERNAL", "message": "boom", "index": 9}) + "\n"
    )  # fmt: skip
    # The dataset loses rows 5..7 and gains row 20 (same spec: the spec digest is unchanged).
    spec = _spec(tmp_path, [0, 1, 2, 3, 4, 20])
    new_sha = _sha(tmp_path / "rows.jsonl")
    said: list[str] = []
    again = _run(spec, out, emulator, said)
    assert again.status == "completed" and again.stats["done"] == 1  # row-20
    assert f"dataset rows.jsonl changed: sha256 {old_sha} -> {new_sha}" in said
    assert any("3 result and 1 error lines of jobs no longer in the plan" in s for s in said)
    plan = {"q-0", "q-1", "row-0", "row-1", "row-2", "row-3", "row-4", "row-20"}
    assert set(_ids(out / "results.jsonl")) == plan and not _ids(out / "errors.jsonl")
    aside = out / "set-aside"
    assert set(_ids(aside / "results.jsonl.not-in-plan")) == {"row-5", "row-6", "row-7"}
    assert _ids(aside / "errors.jsonl.not-in-plan") == ["row-7"]
    manifest = decode_manifest((out / "manifest.json").read_bytes())
    assert manifest.datasets == {"rows.jsonl": new_sha}
    assert manifest.plan.set_aside == 3  # type: ignore[union-attr]
    # every report counts the 8 jobs of the plan, not the 11 the directory once held
    usage = json.loads((out / "usage.json").read_text())
    assert (usage["totals"]["jobs"], usage["totals"]["failed"]) == (8, 0)
    assert manifest.counts["succeeded"] == 8
    cases = ET.parse(out / "junit.xml").getroot().iter("testcase")
    assert sorted(c.get("name") or "" for c in cases) == sorted(plan)
    assert "| 8 | 0 |" in (out / "summary.md").read_text()
    html = (out / "report.html").read_text()
    assert "row-20" in html and "row-6" not in html
    # the same data again: nothing to report, nothing set aside
    said.clear()
    assert _run(spec, out, emulator, said).stats["done"] == 0
    assert not [s for s in said if "dataset" in s or "no longer in the plan" in s]


def test_the_end_of_a_forced_run_compacts_superseded_lines(
    tmp_path: Path, emulator: Emulator
) -> None:
    out = tmp_path / "out"
    assert _run(_spec(tmp_path, [0, 1]), out, emulator).status == "completed"
    first = (out / "results.jsonl").read_bytes()
    # a changed request under --force runs every job again: each id gets a newer line
    said: list[str] = []
    forced = _run(_spec(tmp_path, [0, 1], max_tokens=20), out, emulator, said, force=True)
    assert forced.status == "completed" and forced.stats["done"] == 4
    assert sorted(_ids(out / "results.jsonl")) == ["q-0", "q-1", "row-0", "row-1"]
    assert all(line["request"]["max_tokens"] == 20 for line in read_jsonl(out / "results.jsonl"))
    assert (out / "set-aside" / "results.jsonl.superseded").read_bytes() == first
    assert any("moved 4 superseded result lines" in s for s in said)
    assert json.loads((out / "usage.json").read_text())["totals"]["jobs"] == 4


def test_compact_command_sets_superseded_lines_aside_atomically(
    tmp_path: Path, emulator_factory: Any
) -> None:
    emu = emulator_factory(
        EmulatorConfig(faults=FaultConfig(unavailable_rate=0.5, seed=4, methods=("/xai_api.Chat",)))
    )
    out = tmp_path / "out"
    assert _run(_spec(tmp_path, [0, 1, 2]), out, emu).status == "completed"
    results, errors = out / "results.jsonl", out / "errors.jsonl"
    lines = results.read_bytes().splitlines(keepends=True)
    # a job whose line was written twice (an older copy, then the one that counts)
    older = json.loads(lines[0])
    older["content"] = "an older answer"
    results.write_bytes(json.dumps(older).encode() + b"\n" + b"".join(lines))
    errors_before = errors.read_bytes()
    assert errors_before  # retried attempts: each one a call, kept by compaction
    # every error line carries the server's request id (x-request-id)
    assert all(str(e.get("request_id")).startswith("req_") for e in read_jsonl(errors))
    usage_before = json.loads((out / "usage.json").read_text())["totals"]
    runner = CliRunner()
    done = runner.invoke(app, ["compact", str(out)])
    assert done.exit_code == 0, done.output
    assert f"{out}: moved 1 superseded result lines to {out / 'set-aside'}" in done.output
    assert results.read_bytes() == b"".join(lines)
    assert errors.read_bytes() == errors_before
    assert json.loads((out / "set-aside" / "results.jsonl.superseded").read_text()) == older
    usage = json.loads((out / "usage.json").read_text())["totals"]
    assert usage["jobs"] == usage_before["jobs"] and usage["requests"] == usage_before["requests"]
    again = runner.invoke(app, ["compact", str(out)])
    assert again.exit_code == 0 and "nothing to compact" in again.output
    # a directory a run is writing to is refused, and left alone
    with OutputDir(out).locked():
        busy = runner.invoke(app, ["compact", str(out)])
    assert busy.exit_code == 2 and f"another xai-run is writing to {out}" in busy.output
    empty = runner.invoke(app, ["compact", str(tmp_path / "nothing")])
    assert empty.exit_code == 2 and "holds no results.jsonl" in empty.output


def test_compact_reads_a_version_1_directory(tmp_path: Path) -> None:
    out = tmp_path / "v1"
    shutil.copytree(V1, out)
    results = out / "results.jsonl"
    lines = results.read_bytes().splitlines(keepends=True)
    ids = [json.loads(line)["id"] for line in lines]
    assert ids[0] == ids[-1]  # the fixture's first job was run again (--force)
    done = CliRunner().invoke(app, ["compact", str(out)])
    assert done.exit_code == 0, done.output
    assert results.read_bytes() == b"".join(lines[1:])  # version-1 lines kept as they were
    assert (out / "set-aside" / "results.jsonl.superseded").read_bytes() == lines[0]
    assert json.loads((out / "usage.json").read_text())["totals"]["jobs"] == len(set(ids))


def test_a_partial_run_over_changed_data_sets_nothing_aside_and_says_so(
    tmp_path: Path, emulator: Emulator
) -> None:
    out = tmp_path / "out"
    assert _run(_spec(tmp_path, [0, 1, 2]), out, emulator).status == "completed"
    said: list[str] = []
    assert _run(_spec(tmp_path, [0, 1]), out, emulator, said, limit=2).status == "completed"
    assert any(s.startswith("dataset rows.jsonl changed: sha256 ") for s in said)
    assert any("stay in the reports until a run of the whole plan" in s for s in said)
    assert "row-2" in _ids(out / "results.jsonl") and not (out / "set-aside").exists()
    assert _run(_spec(tmp_path, [0, 1]), out, emulator, said).status == "completed"
    assert "row-2" not in _ids(out / "results.jsonl")
