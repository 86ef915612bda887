"""CI outputs of ``xai-run run`` and ``xai-run report``: GitHub annotations, step summary, fail_under.

Runs go through the CLI against an emulator on loopback (scripted answers; streaming
calls always fail), under a fake GitHub Actions environment: ``GITHUB_ACTIONS=true``,
``GITHUB_WORKSPACE`` and ``GITHUB_STEP_SUMMARY`` pointing into the test's directory.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from xai_pipelines.cli.app import app
from xai_pipelines.emulator import Emulator, EmulatorConfig, FaultConfig
from xai_pipelines.report.github import (
    MAX_ANNOTATIONS,
    STEP_SUMMARY_LIMIT,
    annotation_lines,
    append_step_summary,
    escape_data,
    escape_property,
    workflow_command,
)
from xai_pipelines.report.junit import JobCase

runner = CliRunner()
COMMAND = re.compile(r"^::(?P<name>\w+)(?: (?P<props>[^:]*))?::(?P<message>.*)$")

RULES = [
    {"match": "What is the capital of France?", "content": "Paris"},
    {"match": "What is the capital of Japan?", "content": "Kyoto, I think.\nSecond line: 100%"},
    {"match": "What is the capital of Peru?", "content": "Lima"},
]


def _pipeline(tmp: Path, *, streams: int = 2, fail_under: float | None = None) -> Path:
    data: dict[str, Any] = {
        "version": 1,
        "name": "ci-outputs",
        "defaults": {"model": "grok-4.20-non-reasoning", "temperature": 0, "max_tokens": 32},
        "datasets": {
            "countries": {
                "rows": [
                    {"country": "France", "capital": "Paris"},
                    {"country": "Japan", "capital": "Tokyo"},
                    {"country": "Peru", "capital": "Lima"},
                ]
            }
        },
        "chats": [
            {
                "name": "capital",
                "id": "capital-{{ row.country | slug }}",
                "for_each": "countries",
                "messages": [{"user": "What is the capital of {{ row.country }}?"}],
                "expect": [{"icontains": "{{ row.capital }}"}],
            }
        ],
        "execution": {
            "concurrency": 2,
            "retries": {"max_attempts": 2, "initial_backoff": "0.01s", "max_backoff": "0.02s"},
        },
    }
    if streams:
        data["chats"].append(
            {
                "name": "story",
                "id": "story:{{ repeat }}, again",
                "repeat": streams,
                "mode": "stream",
                "messages": [{"user": "Tell story {{ repeat }}."}],
                "expect": [{"contains": "once"}],
            }
        )
    if fail_under is not None:
        data["evals"] = {"fail_under": fail_under}
    path = tmp / "ci.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _config(tmp: Path) -> EmulatorConfig:
    responses = tmp / "responses.yaml"
    responses.write_text(yaml.safe_dump(RULES))
    faults = FaultConfig(unavailable_rate=1.0, methods=("/xai_api.Chat/GetCompletionChunk",))
    return EmulatorConfig(responses_file=responses, faults=faults)


def _gha(tmp: Path, key: str = "") -> dict[str, str]:
    return {
        "XAI_API_KEY": key,
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": str(tmp),
        "GITHUB_STEP_SUMMARY": str(tmp / "step-summary.md"),
    }


def _unescape(text: str) -> str:
    for code, char in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        text = text.replace(code, char)
    return text


def _commands(text: str) -> list[dict[str, Any]]:
    """The workflow commands of some output, parsed back as the runner reads them."""
    out = []
    for line in text.splitlines():
        m = COMMAND.match(line)
        if m:
            props = dict(p.split("=", 1) for p in (m["props"] or "").split(",") if p)
            out.append(
                {
                    "name": m["name"],
                    "props": {k: _unescape(v) for k, v in props.items()},
                    "message": _unescape(m["message"]),
                }
            )
    return out


@pytest.fixture
def emu(tmp_path: Path) -> Any:
    with Emulator(_config(tmp_path)) as emulator:
        yield emulator


def test_failing_jobs_become_error_annotations_and_the_summary_goes_to_the_step(
    tmp_path: Path, emu: Emulator
) -> None:
    summary = tmp_path / "step-summary.md"
    summary.write_text("# earlier step output\n")
    out = tmp_path / "out"
    args = ["run", str(_pipeline(tmp_path)), "--out", str(out), "--endpoint", emu.address, "-q"]
    result = runner.invoke(app, args, env=_gha(tmp_path, emu.api_key))
    assert result.exit_code == 1, result.stderr
    commands = _commands(result.stdout)
    assert len(commands) == 3 and {c["name"] for c in commands} == {"error"}
    assert {c["props"]["file"] for c in commands} == {"ci.yaml"}  # relative to the workspace
    by_title = {c["props"]["title"]: c["message"] for c in commands}
    assert set(by_title) == {
        "capital-japan failed its assertions",
        "story:0, again failed at the API (UNAVAILABLE)",
        "story:1, again failed at the API (UNAVAILABLE)",
    }
    japan = by_title["capital-japan failed its assertions"]
    assert japan.startswith("task capital, model grok-4.20-non-reasoning\nicontains: ")
    assert japan.endswith("\nanswer: Kyoto, I think.\nSecond line: 100%")
    junit = ET.parse(out / "junit.xml").getroot()
    failure = junit.find(".//testcase[@name='capital-japan']/failure")
    assert failure is not None and japan.endswith(failure.text or "?")
    errors = {c.attrib["name"]: c.find("error") for c in junit.iter("testcase")}
    for job_id in ("story:0, again", "story:1, again"):
        error = errors[job_id]
        assert error is not None and by_title[f"{job_id} failed at the API (UNAVAILABLE)"] == (
            f"task story, model grok-4.20-non-reasoning\n{error.text}"
        )
    text = summary.read_text()
    assert text == "# earlier step output\n" + (out / "summary.md").read_text() + "\n"


def test_json_keeps_stdout_one_document_and_report_annotates_again(
    tmp_path: Path, emu: Emulator
) -> None:
    out = tmp_path / "out"
    pipeline = _pipeline(tmp_path, streams=1)
    args = ["run", str(pipeline), "--out", str(out), "--endpoint", emu.address, "--json"]
    result = runner.invoke(app, args, env=_gha(tmp_path, emu.api_key))
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "failed"  # a job failed
    assert len(_commands(result.stderr)) == 2
    (tmp_path / "step-summary.md").unlink()
    again = runner.invoke(app, ["report", str(out)], env=_gha(tmp_path))
    assert again.exit_code == 0, again.stderr
    commands = _commands(again.stdout)
    assert len(commands) == 2 and {c["props"]["file"] for c in commands} == {"ci.yaml"}
    assert again.stdout.startswith((out / "summary.md").read_text())
    assert (tmp_path / "step-summary.md").read_text() == (out / "summary.md").read_text() + "\n"


def test_nothing_github_specific_outside_actions(tmp_path: Path, emu: Emulator) -> None:
    out = tmp_path / "out"
    args = ["run", str(_pipeline(tmp_path)), "--out", str(out), "--endpoint", emu.address]
    env = {**_gha(tmp_path, emu.api_key), "GITHUB_ACTIONS": ""}
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 1 and "::error" not in result.stdout + result.stderr
    assert not (tmp_path / "step-summary.md").exists()


def _scripted_run(tmp: Path, out: Path, *extra: str, fail_under: float | None) -> Any:
    pipeline = _pipeline(tmp, streams=0, fail_under=fail_under)
    responses = tmp / "responses.yaml"
    responses.write_text(yaml.safe_dump(RULES))
    args = ["run", str(pipeline), "--out", str(out), "--local", "--responses", str(responses)]
    return runner.invoke(app, [*args, "-q", *extra], env={"GITHUB_ACTIONS": ""})


def test_fail_under_from_the_pipeline_file_and_the_flag_wins(tmp_path: Path) -> None:
    # 2 of 3 jobs pass (66.7%); the file asks for 90%.
    result = _scripted_run(tmp_path, tmp_path / "a", fail_under=0.9)
    assert result.exit_code == 1
    assert "eval pass rate 66.7% is below evals.fail_under 90%" in result.stderr
    result = _scripted_run(tmp_path, tmp_path / "b", "--fail-under", "0.5", fail_under=0.9)
    assert result.exit_code == 0, result.stderr
    result = _scripted_run(tmp_path, tmp_path / "c", "--fail-under", "0.7", fail_under=0.5)
    assert result.exit_code == 1 and "below --fail-under 70%" in result.stderr
    result = _scripted_run(tmp_path, tmp_path / "d", fail_under=None)
    assert result.exit_code == 0, result.stderr
    env = {"GITHUB_ACTIONS": ""}
    report = runner.invoke(app, ["report", str(tmp_path / "a")], env=env)
    assert report.exit_code == 1 and "below evals.fail_under 90%" in report.stderr
    report = runner.invoke(app, ["report", str(tmp_path / "a"), "--fail-under", "0.6"], env=env)
    assert report.exit_code == 0, report.stderr
    assert runner.invoke(app, ["report", str(tmp_path / "d")], env=env).exit_code == 0


def test_escaping_follows_the_toolkit() -> None:
    assert escape_data("50% done\r\nnext: a, b") == "50%25 done%0D%0Anext: a, b"
    assert escape_property("50% done\r\nnext: a, b") == "50%25 done%0D%0Anext%3A a%2C b"
    line = workflow_command("error", "x:y,\n", file="p/a,b.yaml", title="t:1", line=None)
    assert line == "::error file=p/a%2Cb.yaml,title=t%3A1::x:y,%0A"
    assert workflow_command("error", "m") == "::error::m"


def test_annotations_are_bounded_with_one_line_for_the_rest() -> None:
    cases = [
        JobCase(f"j{i}", "t", "m", "failed" if i % 2 else "passed", 0.1, "assertion", "x", "d")
        for i in range(2 * MAX_ANNOTATIONS + 30)
    ]
    lines = list(annotation_lines(cases, file="p.yaml"))
    assert len(lines) == MAX_ANNOTATIONS + 1
    assert lines[0] == "::error file=p.yaml,title=j1 failed its assertions::task t, model m%0Ad"
    assert lines[-1] == (
        "::error file=p.yaml,title=xai-run%3A 15 more failures::15 more failing jobs are not "
        "annotated; junit.xml and summary.md list them."
    )
    assert list(annotation_lines(cases[:1])) == []


def test_step_summary_stays_under_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_bytes(b"x" * (STEP_SUMMARY_LIMIT - 300))
    append_step_summary(path, "## run\n" + "é line\n" * 100)
    data = path.read_bytes()
    assert len(data) <= STEP_SUMMARY_LIMIT
    tail = data[STEP_SUMMARY_LIMIT - 300 :].decode()
    assert tail.startswith("## run\né line\n") and tail.endswith("see summary.md._\n")
    full = len(data)
    append_step_summary(path, "more than five bytes")  # no room for it nor the note: nothing
    assert len(path.read_bytes()) == full
