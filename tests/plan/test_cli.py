"""``xai-run validate``, ``plan`` and ``schema`` through typer's runner, plus one real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xai_pipelines.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT / "pipelines" / "eval.yaml"
BAD = ROOT / "tests" / "spec" / "bad"


@pytest.fixture
def runner(monkeypatch) -> CliRunner:
    monkeypatch.delenv("XAI_API_KEY", raising=False)
    return CliRunner()


def test_validate_ok(runner):
    result = runner.invoke(app, ["validate", str(EVAL), str(ROOT / "pipelines" / "images.yaml")])
    assert result.exit_code == 0, result.output
    assert "ok: " in result.output and "(capitals-eval: 43 jobs)" in result.output


def test_validate_bad_exits_2_with_located_report(runner):
    result = runner.invoke(app, ["validate", str(EVAL), str(BAD / "typo-param.yaml")])
    assert result.exit_code == 2
    assert (
        f"{BAD / 'typo-param.yaml'}:5:5: chats[0].temprature: unknown key 'temprature' (did you mean 'temperature'?)"
        in result.output
    )
    assert "Traceback" not in result.output


def test_validate_set_and_allow_outside(runner, tmp_path):
    (tmp_path / "rows.jsonl").write_text('{"q": "x"}\n')
    sub = tmp_path / "sub"
    sub.mkdir()
    pipeline = sub / "p.yaml"
    pipeline.write_text(
        "version: 1\nname: p\ndatasets: {d: {path: ../rows.jsonl}}\n"
        "chats:\n  - {model: grok-4.3, for_each: d, messages: [{user: '{{ row.q }} {{ topic }}'}]}\nvars: {topic: a}\n"
    )
    assert runner.invoke(app, ["validate", str(pipeline)]).exit_code == 2
    assert runner.invoke(app, ["validate", str(pipeline), "--allow-outside"]).exit_code == 0
    result = runner.invoke(
        app, ["validate", str(pipeline), "--allow-outside", "--set", "chats.0.n=999"]
    )
    assert (
        result.exit_code == 2 and "--set chats.0.n:1:1: chats[0].n: out of range" in result.output
    )


def test_plan_without_an_api_prices_with_the_catalog(runner):
    result = runner.invoke(app, ["plan", str(EVAL), "--show", "3"])
    assert result.exit_code == 0, result.output
    assert "capitals-eval: 43 jobs" in result.output
    assert "capital-france-grok-4" in result.output and "... and 40 more" in result.output
    assert "estimated prompt tokens:" in result.output
    assert (
        "estimated cost: $" in result.output and "of which the grader (llm_rubric)" in result.output
    )
    assert "prices from the bundled catalog" in " ".join(result.output.split())


def test_plan_json(runner):
    result = runner.invoke(
        app, ["plan", str(EVAL), "--json", "--show", "2", "--set", "system=Be brief."]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["jobs"] == 43 and data["by_task"] == {
        "capital": 20,
        "interview": 2,
        "facts": 20,
        "flag": 1,
    }
    cost = data["cost"]
    assert cost["available"] and cost["source"] == "catalog" and cost["unpriced_models"] == []
    assert 0 < cost["grader_min_usd"] < cost["min_usd"] <= cost["max_usd"]
    assert [j["id"] for j in data["first_jobs"]] == [
        "capital-france-grok-4.3",
        "capital-france-grok-4.20-non-reasoning",
    ]
    assert data["first_jobs"][0]["request"]["messages"][0]["content"] == "Be brief."
    assert data["models"]["grok-imagine-image"]["images"] == 2
    check = data["model_check"]
    assert check["against"] == "catalog" and check["where"] is None
    assert check["catalog_as_of"] and check["warnings"] == [] and check["notes"] == []
    assert data["prompt_tokens"] == sum(m["prompt_tokens"] for m in data["models"].values())


def test_plan_local_prices_from_the_emulator(runner):
    result = runner.invoke(app, ["plan", str(EVAL), "--json", "--local", "--show", "0"])
    assert result.exit_code == 0, result.output
    cost = json.loads(result.output)["cost"]
    assert cost["available"] and 0 < cost["min_ticks"] <= cost["max_ticks"]
    assert cost["unpriced_models"] == []
    data = json.loads(result.output)
    assert data["tokenizer_ratio"] > 0 and data["first_jobs"] == []
    assert data["prompt_tokens_calibrated"] == round(
        data["prompt_tokens"] * data["tokenizer_ratio"]
    )
    text = runner.invoke(app, ["plan", str(EVAL), "--local", "--show", "0"])
    assert "estimated cost: $" in text.output and "Tokenize RPC" in text.output


def test_plan_bad_input(runner):
    result = runner.invoke(app, ["plan", str(BAD / "yaml-bomb.yaml")])
    assert (
        result.exit_code == 2 and "alias bomb" in result.output and "Traceback" not in result.output
    )


def test_real_process_exit_codes():
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    env.pop("XAI_API_KEY", None)
    cmd = [sys.executable, "-m", "xai_pipelines", "validate", str(BAD / "binary-garbage.yaml")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        == f"{BAD / 'binary-garbage.yaml'}:1:1: (root): not UTF-8 text (invalid byte 0x89)"
    )
    assert "Traceback" not in proc.stderr + proc.stdout


def test_plan_table_shows_text_not_markup(runner, tmp_path):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        "version: 1\nname: p\nchats:\n  - {model: grok-4.3, id: '[x]', messages: [{user: '[bold]hi[/oops]'}]}\n"
    )
    result = runner.invoke(app, ["plan", str(pipeline)])
    assert result.exit_code == 0, result.output
    assert "[x]" in result.output and "[bold]hi[/oops]" in result.output
