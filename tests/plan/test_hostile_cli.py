"""Issue 10's hostile specs through ``xai-run validate`` and ``run``: exit 2, one located line each.

In process through typer's runner (the same entry points as the command); ``run``
uses the in-process emulator (``--local``) and must stop before any call.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xai_pipelines.cli.app import app

HUGE = "9" * 5000
CHAT = "chats:\n  - model: grok-4.3\n    for_each: d\n    id: 'r{{ row_index }}'\n"
DATA = "datasets:\n  d: {path: d.jsonl}\n"


@pytest.fixture
def runner(monkeypatch) -> CliRunner:
    monkeypatch.setenv("XAI_API_KEY", "xai-canary-key-0123456789")
    return CliRunner()


CASES = {
    "nested-range": (
        DATA + CHAT + "    messages:\n      - user: >-\n          {% for i in range(row.n) %}"
        "{% for j in range(row.n) %}{% endfor %}{% endfor %}ok\n",
        '{"n": 3}\n{"n": 100000}\n',
        [],
        ":10:15: chats[0].messages[0].user: template over its budget: more than 250,000",
    ),
    "center": (
        DATA + CHAT + "    messages:\n      - user: \"{{ 'x' | center(10**9) }}\"\n",
        '{"n": 1}\n',
        [],
        ":10:15: chats[0].messages[0].user: template over its budget: argument of filter 'center'",
    ),
    "huge-int-yaml": (
        f"vars:\n  n: {HUGE}\n" + DATA + CHAT + "    messages: [{user: hi}]\n",
        '{"n": 1}\n',
        [],
        ":4:6: vars.n: number '99999999999999999999...' (5000 characters) is out of range",
    ),
    "huge-int-row": (
        DATA + CHAT + "    messages: [{user: '{{ row.n }}'}]\n",
        '{"n": 1}\n{"n": ' + HUGE + "}\n",
        [],
        "d.jsonl:2:1: (row): number out of range (at most 4,300 digits",
    ),
    "huge-int-set": (
        DATA + CHAT + "    messages: [{user: '{{ row.n }}'}]\n",
        '{"n": 1}\n',
        [f"execution.concurrency={HUGE}"],
        "--set execution.concurrency:1:1: (root): number",
    ),
    "deep-row": (
        DATA + CHAT + "    messages: [{user: '{{ row.n }}'}]\n",
        '{"n": 1}\n{"n": ' + "[" * 100_000 + "]" * 100_000 + "}\n",
        [],
        "d.jsonl:2:1: (row): row nested deeper than 64 levels",
    ),
    "backoff-digits": (
        "execution:\n  retries:\n    initial_backoff: "
        + "9" * 56
        + "\n"
        + DATA
        + CHAT
        + "    messages: [{user: hi}]\n",
        '{"n": 1}\n',
        [],
        ":5:22: execution.retries.initial_backoff: out of range (expected a value <= 31536000",
    ),
    "backoff-inf": (
        "execution:\n  retries:\n    initial_backoff: 1e400\n"
        + DATA
        + CHAT
        + "    messages: [{user: hi}]\n",
        '{"n": 1}\n',
        [],
        ":5:22: execution.retries.initial_backoff: number '1e400' is out of range",
    ),
    "api-key": (
        "env: [XAI_API_KEY]\n" + DATA + CHAT + "    messages: [{user: '{{ env.XAI_API_KEY }}'}]\n",
        '{"n": 1}\n',
        [],
        "chats[0].messages[0].user: env.XAI_API_KEY is secret and cannot be used in a template",
    ),
    "bidi-id": (
        DATA + CHAT.replace("r{{ row_index }}", "{{ row.n }}") + "    messages: [{user: hi}]\n",
        '{"n": "a"}\n{"n": "x\\u202eexe.txt"}\n',
        [],
        "chats[0].id: invalid job id 'x\\u202eexe.txt': it holds U+202E (RIGHT-TO-LEFT OVERRIDE)",
    ),
}


def _write(tmp_path: Path, name: str) -> tuple[Path, list[str], str]:
    text, data, sets, expected = CASES[name]
    (tmp_path / "d.jsonl").write_text(data, encoding="utf-8")
    path = tmp_path / "p.yaml"
    path.write_text("version: 1\nname: h\n" + text, encoding="utf-8")
    return path, [a for s in sets for a in ("--set", s)], expected


def _one_line(output: str, expected: str) -> None:
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if expected in line]
    assert lines, output[-2000:]
    assert "xai-canary-key" not in output


@pytest.mark.parametrize("name", sorted(CASES))
def test_validate_exits_2_with_a_located_line(runner, tmp_path, name):
    path, sets, expected = _write(tmp_path, name)
    result = runner.invoke(app, ["validate", "--offline", str(path), *sets])
    assert result.exit_code == 2, result.output[-2000:]
    _one_line(result.output, expected)


@pytest.mark.parametrize("name", sorted(CASES))
def test_run_exits_2_before_any_call(runner, tmp_path, name):
    path, sets, expected = _write(tmp_path, name)
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(path), "--local", "--out", str(out), *sets])
    assert result.exit_code == 2, result.output[-2000:]
    _one_line(result.output, expected)
    assert not (out / "results.jsonl").exists() or not (out / "results.jsonl").read_text()
    if (out / "plan.jsonl").exists():  # never a huge plan, never the key
        plan = (out / "plan.jsonl").read_text()
        assert len(plan) < 100_000 and "xai-canary-key" not in plan
        assert all(json.loads(line) for line in plan.splitlines())


def test_concurrency_flag_is_refused_as_the_spec_refuses_it(runner, tmp_path):
    path, _, _ = _write(tmp_path, "center")
    path.write_text(path.read_text().replace("{{ 'x' | center(10**9) }}", "hi"))
    result = runner.invoke(
        app, ["run", str(path), "--local", "--out", str(tmp_path / "o"), "--concurrency", "1000000"]
    )
    assert result.exit_code == 2
    _one_line(
        result.output,
        "--concurrency:1:1: execution.concurrency: out of range (expected 1 to 20,000 jobs "
        "in flight, got 1,000,000)",
    )
