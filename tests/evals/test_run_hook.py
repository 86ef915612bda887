"""The executor hook and the CLI flags: scores per output, grader cost, --fail-under, --responses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from xai_pipelines.cli.app import app
from xai_pipelines.cli.connect import open_api
from xai_pipelines.emulator import EmulatorConfig, FaultConfig
from xai_pipelines.run.session import PipelineRun, RunOptions
from xai_pipelines.spec import load_pipeline

runner = CliRunner()


def _pipeline(tmp_path: Path, chats: list[dict[str, Any]]) -> Path:
    data = {
        "version": 1,
        "name": "hook-test",
        "defaults": {"model": "grok-3-mini", "max_tokens": 32, "temperature": 0.7, "seed": 11},
        "execution": {"concurrency": 2},
        "chats": chats,
        "output": {"dir": str(tmp_path / "out")},
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _responses(tmp_path: Path, rules: list[dict[str, Any]]) -> Path:
    path = tmp_path / "responses.yaml"
    path.write_text(yaml.safe_dump(rules))
    return path


def _lines(tmp_path: Path) -> dict[str, dict[str, Any]]:
    text = (tmp_path / "out" / "results.jsonl").read_text()
    return {line["id"]: line for line in map(json.loads, text.splitlines())}


def test_n_outputs_are_each_checked_and_jobs_without_expect_have_no_scores(
    tmp_path: Path,
) -> None:
    chats = [
        {
            "name": "many",
            "id": "many",
            "n": 3,
            "messages": [{"user": "Say something."}],
            "expect": [{"max_length": 10_000}, {"equals": "never"}, {"max_tokens": 32}],
        },
        {"name": "plain", "id": "plain", "messages": [{"user": "Hello."}]},
    ]
    result = runner.invoke(app, ["run", str(_pipeline(tmp_path, chats)), "--local", "-q"])
    assert result.exit_code == 0, result.output  # failed assertions do not fail the job
    lines = _lines(tmp_path)
    assert lines["plain"]["scores"] is None
    scores = lines["many"]["scores"]
    checked = [(a["type"], a["output"]) for a in scores["assertions"]]
    per_output = [(kind, i) for kind in ("max_length", "equals") for i in range(3)]
    assert checked == [*per_output, ("max_tokens", None)]
    contents = [o["content"] for o in lines["many"]["outputs"]]
    reasons = [a["reason"] for a in scores["assertions"] if a["type"] == "max_length"]
    assert reasons == [f"{len(c)} characters (<= 10000)" for c in contents]
    assert scores["failed"] == 3 and not scores["passed"]


def test_grader_spend_counts_against_the_budget_and_the_totals_not_the_job_usage(
    tmp_path: Path,
) -> None:
    chats = [
        {
            "name": "graded",
            "id": "graded",
            "messages": [{"user": "Capital of Peru?"}],
            "expect": [{"llm_rubric": "Names Lima."}],
        }
    ]
    rules = [
        {"match": "Capital of Peru?", "content": "Lima"},
        {"regex": "^Grade the answer", "json": {"pass": True, "score": 1, "reason": "Lima."}},
    ]
    args = ["run", str(_pipeline(tmp_path, chats)), "--local", "--json"]
    result = runner.invoke(app, [*args, "--responses", str(_responses(tmp_path, rules))])
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout)
    line = _lines(tmp_path)["graded"]
    grader = line["scores"]["grader"]["usage"]["cost_usd_ticks"]
    assert line["usage"]["cost_usd_ticks"] == line["cost_usd_ticks"]  # the job's own call only
    totals = outcome["usage"]
    assert totals["grader"]["cost_usd_ticks"] == grader > 0  # the grader's share, labelled
    assert totals["cost_usd_ticks"] == line["cost_usd_ticks"] + grader  # ... and in the totals
    assert outcome["stats"]["cost_usd_ticks"] == totals["cost_usd_ticks"]  # one truth
    assert outcome["pass_rate"] == 1.0


def test_the_budget_counts_what_the_grader_spent(tmp_path: Path) -> None:
    chats = [
        {
            "name": "graded",
            "id": "graded-{{ repeat }}",
            "repeat": 3,
            "messages": [{"user": "Capital of Peru?"}],
            "expect": [{"llm_rubric": "Names Lima."}],
        }
    ]
    rules = [
        {"match": "Capital of Peru?", "content": "Lima"},
        {"regex": "^Grade the answer", "json": {"pass": True, "score": 1, "reason": "Lima."}},
    ]
    responses = str(_responses(tmp_path, rules))
    pipeline = str(_pipeline(tmp_path, chats))
    first = runner.invoke(app, ["run", pipeline, "--local", "--json", "--responses", responses])
    assert first.exit_code == 0, first.output
    line = _lines(tmp_path)["graded-0"]
    own, grader = line["cost_usd_ticks"], line["scores"]["grader"]["usage"]["cost_usd_ticks"]
    # A budget above one job's own cost but below its cost with grading: only a budget
    # that counts the grader stops after the first job.
    budget = (own + grader / 2) / 10**10
    (tmp_path / "out").rename(tmp_path / "first")
    args = ["run", pipeline, "--local", "--json", "--responses", responses]
    args += ["--set", "execution.concurrency=1", "--set", f"execution.budget_usd={budget!r}"]
    second = runner.invoke(app, args)
    assert second.exit_code == 1, second.output
    assert json.loads(second.stdout)["status"] == "budget_exhausted"
    assert len(_lines(tmp_path)) == 1


def test_fail_under_turns_a_low_pass_rate_into_exit_1(tmp_path: Path) -> None:
    chats = [
        {
            "name": "q",
            "id": "q-{{ repeat }}",
            "repeat": 4,
            "messages": [{"user": "Question {{ repeat }}"}],
            "expect": [{"icontains": "yes"}],
        }
    ]
    rules = [
        {"regex": "Question [01]$", "content": "Yes."},
        {"regex": "Question", "content": "No."},
    ]
    base = ["run", str(_pipeline(tmp_path, chats)), "--local", "--responses"]
    base.append(str(_responses(tmp_path, rules)))
    ok = runner.invoke(app, [*base, "--fail-under", "0.5"])
    assert ok.exit_code == 0, ok.output
    assert "evals: 2/4 jobs passed every assertion (50.0%) · 2/4 assertions" in ok.stdout
    low = runner.invoke(app, [*base, "--fail-under", "0.75", "-q"])  # resumes: nothing re-sent
    assert low.exit_code == 1
    assert "eval pass rate 50.0% is below --fail-under 75%" in low.output
    assert runner.invoke(app, [*base, "--fail-under", "1.5"]).exit_code == 2


def test_responses_needs_local_and_a_valid_file(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path, [{"name": "q", "messages": [{"user": "Hi"}]}])
    rules = _responses(tmp_path, [{"match": "Hi", "content": "Hello"}])
    no_local = runner.invoke(app, ["run", str(pipeline), "--responses", str(rules)])
    assert no_local.exit_code == 2 and "--responses needs --local" in no_local.output
    bad = _responses(tmp_path, [{"content": "no matcher"}])
    broken = runner.invoke(app, ["run", str(pipeline), "--local", "--responses", str(bad)])
    assert broken.exit_code == 2 and "needs 'match' or 'regex'" in broken.output
    missing = runner.invoke(
        app, ["run", str(pipeline), "--local", "--responses", str(tmp_path / "nope.yaml")]
    )
    assert missing.exit_code == 2 and "--responses:" in missing.output
    assert not (tmp_path / "out" / "results.jsonl").exists()  # nothing ran


def test_the_grader_call_uses_the_runs_retry_policy(tmp_path: Path) -> None:
    """Faults only on unary GetCompletion: the deferred job call succeeds, every grader call fails."""
    chats = [
        {
            "name": "graded",
            "id": "graded",
            "mode": "defer",
            "messages": [{"user": "Capital of Peru?"}],
            "expect": [{"llm_rubric": "Names Lima."}, {"max_tokens": 32}],
        }
    ]
    path = _pipeline(tmp_path, chats)
    data = yaml.safe_load(path.read_text())
    data["execution"]["retries"] = {
        "max_attempts": 3,
        "initial_backoff": "1ms",
        "max_backoff": "2ms",
    }
    path.write_text(yaml.safe_dump(data))
    faults = FaultConfig(unavailable_rate=1.0, methods=("/xai_api.Chat/GetCompletion",))
    with open_api(local=True, emulator_config=EmulatorConfig(faults=faults)) as api:
        options = RunOptions(
            api_key=api.api_key, endpoint=api.address, local=True, progress="quiet"
        )
        outcome = PipelineRun(load_pipeline(path), options).run()
    assert outcome.status == "completed" and outcome.exit_code == 0  # the job itself succeeded
    line = _lines(tmp_path)["graded"]
    assert line["attempts"] == 1
    rubric, tokens = line["scores"]["assertions"]
    assert rubric["pass"] is False and rubric["reason"].startswith(
        "grader call failed (UNAVAILABLE)"
    )
    assert tokens["pass"] is True
    errors = [json.loads(e) for e in (tmp_path / "out" / "errors.jsonl").read_text().splitlines()]
    # two retried grader attempts, recorded against the job by the run's retry hooks
    assert [(e["id"], e["code"], e["final"]) for e in errors] == [
        ("graded", "UNAVAILABLE", False)
    ] * 2
