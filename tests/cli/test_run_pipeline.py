"""``xai_pipelines.run_pipeline``: what ``xai-run run`` does, as one Python call."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import xai_pipelines
from xai_pipelines import PipelineRefused, RunOutcome, run_pipeline

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT / "pipelines" / "eval.yaml"


def answers(out: Path) -> dict[str, str]:
    """Job id -> the answer (a chat's text, an image job's image digests), from results.jsonl."""
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return {line["id"]: line.get("content") or json.dumps(line.get("images")) for line in lines}


def test_one_call_runs_what_the_command_runs_and_a_rerun_resumes(tmp_path):
    outcome = run_pipeline(EVAL, local=True, out=tmp_path / "api")
    assert isinstance(outcome, RunOutcome)
    assert (outcome.status, outcome.exit_code) == ("completed", 0)
    assert outcome.out.root == tmp_path / "api"
    assert outcome.usage["totals"]["jobs"] == outcome.stats["succeeded"] > 0

    command = subprocess.run(
        [sys.executable, "-m", "xai_pipelines", "run", str(EVAL), "--local", "--quiet",
         "--out", str(tmp_path / "cli")],
        capture_output=True, text=True, timeout=300, check=False, cwd=ROOT,
    )  # fmt: skip
    assert command.returncode == 0, command.stderr
    assert answers(tmp_path / "api") == answers(tmp_path / "cli")
    manifest = json.loads((tmp_path / "api" / "manifest.json").read_text())
    assert manifest["args"]["local"] is True and manifest["args"]["pipeline"] == str(EVAL)

    again = run_pipeline(str(EVAL), local=True, out=str(tmp_path / "api"))
    assert again.stats["skipped"] == outcome.stats["succeeded"]
    assert again.run_id != outcome.run_id


def test_overrides_take_a_mapping_or_set_strings_and_are_recorded(tmp_path):
    by_map = run_pipeline(
        EVAL, local=True, out=tmp_path / "m", overrides={"execution.concurrency": 3}
    )
    by_set = run_pipeline(
        EVAL, local=True, out=tmp_path / "s", overrides=["execution.concurrency=3"]
    )
    for outcome in (by_map, by_set):
        manifest = json.loads((outcome.out.root / "manifest.json").read_text())
        assert manifest["args"]["set"] == ["execution.concurrency=3"]
        assert manifest["spec"]["resolved"]["execution"]["concurrency"] == 3


def test_invalid_input_is_refused_before_any_call_or_directory(tmp_path):
    broken = tmp_path / "broken.yaml"
    shutil.copy(EVAL, broken)
    for name in ("data", "datasets", "prompts"):  # the example's relative files, if any
        if (EVAL.parent / name).exists():
            shutil.copytree(EVAL.parent / name, tmp_path / name)
    broken.write_text(broken.read_text().replace("execution:", "executoin:", 1))
    out = tmp_path / "never"
    with pytest.raises(PipelineRefused) as refused:
        run_pipeline(broken, local=True, out=out)
    assert refused.value.spec_error is not None
    assert "executoin" in refused.value.report() and "broken.yaml" in refused.value.report()
    assert not out.exists()

    with pytest.raises(PipelineRefused, match="mutually exclusive") as both:
        run_pipeline(EVAL, local=True, endpoint="localhost:1", out=out)
    assert both.value.report().startswith("error: ")
    with pytest.raises(PipelineRefused, match="shard"):
        run_pipeline(EVAL, local=True, shard="3/2", out=out)
    assert not out.exists()


def test_importing_the_package_stays_light():
    probe = (
        "import sys, xai_pipelines; print(sorted(m for m in sys.modules if m.startswith('grpc')))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60, check=True, cwd=ROOT)  # fmt: skip
    assert result.stdout.strip() == "[]"
    assert {"run_pipeline", "PipelineRefused", "RunOutcome"} <= set(dir(xai_pipelines))
