"""``junit.xml``: a real run with passing, failing-assertion and API-failed jobs, and edge cases.

The run goes through ``xai-run run`` against an emulator on loopback whose answers are
scripted and whose streaming calls always fail (UNAVAILABLE), so every kind of
outcome is real. The document is parsed with ``xml.etree`` and checked element by
element against the attributes and children that Jenkins xunit-plugin's
``junit-10.xsd`` allows (the schema GitHub, GitLab and Jenkins readers share):
https://github.com/jenkinsci/xunit-plugin/blob/master/src/main/resources/org/jenkinsci/plugins/xunit/types/model/xsd/junit-10.xsd
(read 2026-11-29).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from xai_pipelines.cli.app import app
from xai_pipelines.emulator import Emulator, EmulatorConfig, FaultConfig
from xai_pipelines.report.junit import JUNIT_XML, iter_cases, render_junit, write_junit
from xai_pipelines.store import OutputDir

runner = CliRunner()

# junit-10.xsd: element -> (required attributes, optional attributes, allowed children).
SCHEMA: dict[str, tuple[set[str], set[str], set[str]]] = {
    "testsuites": (set(), {"name", "time", "tests", "failures", "errors"}, {"testsuite"}),
    "testsuite": (
        {"name", "tests", "failures", "errors"},
        {
            "group",
            "time",
            "skipped",
            "timestamp",
            "hostname",
            "id",
            "package",
            "file",
            "log",
            "url",
        },
        {"testsuite", "properties", "testcase", "system-out", "system-err"},
    ),
    "testcase": (
        {"name"},
        {"time", "classname", "group"},
        {"skipped", "error", "failure", "system-out", "system-err"},
    ),
    "failure": (set(), {"type", "message"}, set()),
    "error": (set(), {"type", "message"}, set()),
}
SUREFIRE_TIME = re.compile(r"(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]*)?")

RULES = [
    {"match": "What is the capital of France?", "content": "Paris"},
    {"match": "What is the capital of Japan?", "content": "Kyoto\x01, I believe & <so>"},
    {"match": "What is the capital of Peru?", "content": "Lima"},
]


def mixed_pipeline(tmp: Path) -> Path:
    """Three scored chats (one fails an assertion), one unscored, two streamed (fail at the API)."""
    data = {
        "version": 1,
        "name": "ci-mix",
        "defaults": {
            "model": "grok-4.20-non-reasoning",
            "temperature": 0,
            "max_tokens": 32,
            "seed": 3,
        },
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
                "expect": [{"icontains": "{{ row.capital }}"}, {"max_length": 80, "name": "short"}],
            },
            {
                "name": "plain",
                "id": 'plain "q&a" <1>',
                "messages": [{"user": "Say hello."}],
            },
            {
                "name": "story",
                "id": "story-{{ repeat }}",
                "repeat": 2,
                "mode": "stream",
                "messages": [{"user": "Tell story {{ repeat }}."}],
                "expect": [{"contains": "once"}],
            },
        ],
        "execution": {
            "concurrency": 2,
            "retries": {"max_attempts": 2, "initial_backoff": "0.01s", "max_backoff": "0.02s"},
        },
        "output": {"dir": str(tmp / "unused")},
    }
    path = tmp / "ci-mix.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def streams_fail(tmp: Path) -> EmulatorConfig:
    """Scripted answers; every streaming chat call fails with UNAVAILABLE."""
    responses = tmp / "responses.yaml"
    responses.write_text(yaml.safe_dump(RULES))
    faults = FaultConfig(unavailable_rate=1.0, methods=("/xai_api.Chat/GetCompletionChunk",))
    return EmulatorConfig(responses_file=responses, faults=faults)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("junit")
    out = tmp / "out"
    with Emulator(streams_fail(tmp)) as emu:
        result = runner.invoke(
            app,
            ["run", str(mixed_pipeline(tmp)), "--out", str(out), "--endpoint", emu.address, "-q"],
            env={"XAI_API_KEY": emu.api_key, "GITHUB_ACTIONS": ""},
        )
    # two jobs failed at the API: exit 1, not a crash
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.stderr
    yield out


def _check_schema(element: ET.Element) -> None:
    required, optional, children = SCHEMA[element.tag]
    attrs = set(element.attrib)
    assert required <= attrs, (element.tag, attrs)
    assert attrs <= required | optional, (element.tag, attrs - required - optional)
    if "time" in attrs:
        assert SUREFIRE_TIME.fullmatch(element.attrib["time"]), element.attrib["time"]
    for child in element:
        assert child.tag in children, (element.tag, child.tag)
        _check_schema(child)


def _parse(out: Path) -> ET.Element:
    root = ET.parse(out / JUNIT_XML).getroot()
    _check_schema(root)
    return root


def test_every_job_is_a_testcase_with_its_outcome(run_dir: Path) -> None:
    root = _parse(run_dir)
    assert root.tag == "testsuites"
    assert {k: root.attrib[k] for k in ("name", "tests", "failures", "errors")} == {
        "name": "ci-mix",
        "tests": "6",
        "failures": "1",
        "errors": "2",
    }
    suites = {s.attrib["name"]: s for s in root}
    assert list(suites) == ["capital", "plain", "story"]  # plan order
    counts = {
        name: tuple(s.attrib[k] for k in ("tests", "failures", "errors", "skipped"))
        for name, s in suites.items()
    }
    assert counts == {
        "capital": ("3", "1", "0", "0"),
        "plain": ("1", "0", "0", "0"),
        "story": ("2", "0", "2", "0"),
    }
    cases = {c.attrib["name"]: c for c in root.iter("testcase")}
    assert list(cases) == [
        "capital-france",
        "capital-japan",
        "capital-peru",
        'plain "q&a" <1>',
        "story-0",
        "story-1",
    ]
    classes = [c.attrib["classname"] for c in cases.values()]
    assert classes == ["capital", "capital", "capital", "plain", "story", "story"]
    assert root.find(".//skipped") is None
    results = {
        line["id"]: line
        for line in map(json.loads, (run_dir / "results.jsonl").read_text().splitlines())
    }
    for job_id, line in results.items():
        assert float(cases[job_id].attrib["time"]) == pytest.approx(line["latency_s"], abs=5e-4)
    for job_id in ("capital-france", "capital-peru", 'plain "q&a" <1>'):
        assert list(cases[job_id]) == []


def test_failure_lists_the_failing_assertions_with_reasons(run_dir: Path) -> None:
    case = next(c for c in _parse(run_dir).iter("testcase") if c.attrib["name"] == "capital-japan")
    (failure,) = list(case)
    assert failure.tag == "failure" and failure.attrib["type"] == "assertion"
    line = next(
        json.loads(raw)
        for raw in (run_dir / "results.jsonl").read_text().splitlines()
        if json.loads(raw)["id"] == "capital-japan"
    )
    (failed,) = [a for a in line["scores"]["assertions"] if not a["pass"]]
    reason = failed["reason"].replace("\x01", "\ufffd")  # not allowed in XML 1.0
    assert failure.attrib["message"] == f"1 of 2 assertions failed: icontains: {reason}"
    assert failure.text == (f"icontains: {reason}\nanswer: Kyoto\ufffd, I believe & <so>")


def test_error_carries_the_api_code_and_message(run_dir: Path) -> None:
    finals = {
        e["id"]: e
        for e in map(json.loads, (run_dir / "errors.jsonl").read_text().splitlines())
        if e["final"]
    }
    assert set(finals) == {"story-0", "story-1"}
    root = _parse(run_dir)
    for job_id, err in finals.items():
        case = next(c for c in root.iter("testcase") if c.attrib["name"] == job_id)
        assert "time" not in case.attrib
        (error,) = list(case)
        assert error.tag == "error"
        assert error.attrib["type"] == err["code"] == "UNAVAILABLE"
        assert error.attrib["message"] == " ".join(f"UNAVAILABLE: {err['message']}".split())
        assert error.text == (
            f"UNAVAILABLE: {err['message']}\n2 attempts, model grok-4.20-non-reasoning"
        )


def test_report_rewrites_it(run_dir: Path) -> None:
    before = (run_dir / JUNIT_XML).read_bytes()
    (run_dir / JUNIT_XML).unlink()
    result = runner.invoke(app, ["report", str(run_dir)], env={"GITHUB_ACTIONS": ""})
    assert result.exit_code == 0, result.stderr
    assert (run_dir / JUNIT_XML).read_bytes() == before
    assert not list(run_dir.glob(".junit.xml.*"))  # the temp file was renamed into place


def _write(path: Path, lines: list[dict[str, Any]], tail: bytes = b"") -> None:
    path.write_bytes(b"".join(json.dumps(x).encode() + b"\n" for x in lines) + tail)


def _scored(job_id: str, passed: bool, index: int, task: str = "t") -> dict[str, Any]:
    a = {"type": "equals", "output": 0, "pass": passed, "score": float(passed), "reason": "r"}
    scores = {"passed": passed, "score": float(passed), "total": 1, "failed": int(not passed)}
    return {
        "id": job_id,
        "task": task,
        "index": index,
        "model": "m",
        "latency_s": 0.5,
        "outputs": [{"index": 0, "content": "x"}],
        "scores": scores | {"assertions": [a]},
    }


def test_last_line_wins_recovered_jobs_and_a_torn_tail(tmp_path: Path) -> None:
    out = OutputDir(tmp_path)
    _write(
        out.results,
        [_scored("a", False, 1), _scored("b", True, 0), _scored("a", True, 1)],
        tail=b'{"id": "torn", "ta',
    )
    _write(
        out.errors,
        [
            {"id": "b", "model": "m", "final": True, "code": "INTERNAL", "message": "x"},
            {"id": "c", "model": "m", "final": False, "code": "UNAVAILABLE", "message": "x"},
            {"id": "c", "model": "m", "final": True, "code": "UNAVAILABLE", "message": "gone"},
            {"id": "d", "model": "m", "final": True, "code": "NOT_FOUND", "message": "no"},
            {"id": "g", "model": "m", "final": True, "code": "INTERNAL", "message": "x"}
            | {"task": "v", "index": 9, "matrix": {}, "expects": 1},
        ],
    )
    _write(out.plan, [{"id": "c", "task": "u", "index": 0}])  # d is not in the plan
    stream = StringIO()
    counts = render_junit(stream, out, name="n")
    root = ET.fromstring(stream.getvalue())
    _check_schema(root)
    assert (counts.tests, counts.failures, counts.errors, counts.suites) == (5, 0, 3, 4)
    status = {c.attrib["name"]: [e.tag for e in c] for c in root.iter("testcase")}
    assert status == {"b": [], "a": [], "c": ["error"], "d": ["error"], "g": ["error"]}
    # an error line's own task, else the plan's, else "?" (first: index -1)
    assert [s.attrib["name"] for s in root] == ["?", "t", "u", "v"]
    assert [c.id for c in iter_cases(out, failing_only=True)] == ["d", "c", "g"]


def test_no_results_file_and_empty_run(tmp_path: Path) -> None:
    out = OutputDir(tmp_path)
    _write(
        out.errors, [{"id": "x", "model": "m", "final": True, "code": "CANCELLED", "message": ""}]
    )
    counts = write_junit(out, {"run_id": "r1", "spec": {"name": "p", "path": "p.yaml"}})
    root = _parse(tmp_path)
    assert counts.errors == 1 and root[0].attrib["file"] == "p.yaml"
    out.errors.unlink()
    out.results.write_text("")
    assert write_junit(out).tests == 0
    assert _parse(tmp_path).attrib["tests"] == "0" and len(_parse(tmp_path)) == 0


def test_damaged_middle_line_is_an_error(tmp_path: Path) -> None:
    out = OutputDir(tmp_path)
    out.results.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n')
    with pytest.raises(ValueError, match=r"results\.jsonl:2: damaged"):
        write_junit(out)
    assert not (tmp_path / JUNIT_XML).exists() and not list(tmp_path.glob(".junit*"))
