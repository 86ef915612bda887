"""Every example pipeline runs offline on the local emulator, and would be valid for the hosted API.

The eval example has its own end-to-end test (tests/evals/test_pipeline_evals.py,
with scripted answers); this module runs the others, each named use once:
scheduled batch generation, bulk images, a multi-turn chat with server-side tools
and an attached file, and a seeded experiment whose rerun reproduces it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from xai_pipelines.cli.app import app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "pipelines").glob("*.yaml"))
runner = CliRunner()


def _results(out: Path) -> dict[str, dict[str, Any]]:
    lines = (out / "results.jsonl").read_text().splitlines()
    return {line["id"]: line for line in map(json.loads, lines)}


def _run(example: str, out: Path) -> dict[str, dict[str, Any]]:
    result = runner.invoke(
        app, ["run", str(ROOT / "pipelines" / example), "--local", "--quiet", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert not (out / "errors.jsonl").exists() or not (out / "errors.jsonl").read_text()
    return _results(out)


def test_the_named_uses_each_have_an_example() -> None:
    assert {p.name for p in EXAMPLES} >= {
        "eval.yaml",
        "batch-generation.yaml",
        "images.yaml",
        "research-chat.yaml",
        "seeded-experiment.yaml",
    }


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_validates_against_the_catalog_without_warnings(example: Path) -> None:
    result = runner.invoke(app, ["validate", str(example)])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output.lower(), result.output


def test_batch_generation_runs_as_a_batch(tmp_path: Path) -> None:
    results = _run("batch-generation.yaml", tmp_path / "out")
    assert len(results) == 13
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest.get("batch")


def test_bulk_images_are_saved(tmp_path: Path) -> None:
    results = _run("images.yaml", tmp_path / "out")
    saved = [img for line in results.values() for img in line["images"]]
    assert len(saved) == sum(int(line["request"].get("n") or 1) for line in results.values())
    assert all((tmp_path / "out" / img["path"]).stat().st_size > 0 for img in saved)


def test_research_chat_uses_server_side_tools_and_the_attached_file(tmp_path: Path) -> None:
    results = _run("research-chat.yaml", tmp_path / "out")
    review = results["survey-review"]
    assert review["calls"] == 3 and len(review["turns"]) == 2
    kinds = {call["type"] for call in review["outputs"][0]["tool_calls"]}
    assert {"web_search", "x_search", "code_execution", "attachment_search"} <= kinds
    assert review["outputs"][0]["citations"] and review["outputs"][0]["finish_reason"] == "stop"
    assert review["outputs"][0]["server_side_tool_usage"]["web_search"] >= 1
    usage = json.loads((tmp_path / "out" / "usage.json").read_text())
    assert usage["totals"]["tokens"]["cached_prompt"] > 0  # the shared prefix hit the cache


def test_seeded_experiment_rerun_reproduces_every_answer(tmp_path: Path) -> None:
    first = _run("seeded-experiment.yaml", tmp_path / "a")
    second = _run("seeded-experiment.yaml", tmp_path / "b")
    assert len(first) == 9 and first.keys() == second.keys()
    for job_id, line in first.items():
        assert line["seed"] == second[job_id]["seed"] == line["request"]["seed"]
        assert line["content"] == second[job_id]["content"], job_id
    assert len({line["content"] for line in first.values()}) == 9  # seeds differ per repeat
