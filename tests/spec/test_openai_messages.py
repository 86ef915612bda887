"""OpenAI-style ``{role, content}`` messages: the same request form as ``- user: ...``, errors located."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from spec.small_catalog import SMALL
from xai_pipelines.cli.app import app
from xai_pipelines.plan import ModelAuthority, check_models, iter_jobs
from xai_pipelines.spec import SpecError, load_pipeline

SHORT = """
chats:
  - name: c
    model: grok-4.3
    messages:
      - system: Be brief.
      - developer: Answer in English.
      - user: [{text: "Look at {{ 'this' }}"}, {image_url: "https://x/a.png", detail: low}]
      - assistant: ""
        tool_calls: [{id: call-1, function: {name: f, arguments: {a: 1}}}]
      - tool: "42"
        tool_call_id: call-1
    turns:
      - user: And now?
"""

OPENAI = """
chats:
  - name: c
    model: grok-4.3
    messages:
      - {role: system, content: Be brief.}
      - {role: developer, content: Answer in English.}
      - role: user
        content:
          - {type: text, text: "Look at {{ 'this' }}"}
          - {type: image_url, image_url: {url: "https://x/a.png", detail: low}}
      - role: assistant
        content: null
        tool_calls: [{id: call-1, type: function, function: {name: f, arguments: {a: 1}}}]
      - {role: tool, content: "42", tool_call_id: call-1}
    turns:
      - {role: user, content: "And now?"}
"""


def test_both_forms_give_one_request_and_one_id(write):
    (short,) = iter_jobs(load_pipeline(write(SHORT, "short.yaml")))
    (openai,) = iter_jobs(load_pipeline(write(OPENAI, "openai.yaml")))
    assert openai.request == short.request and openai.turns == short.turns
    assert openai.id == short.id and openai.digest == short.digest
    messages = openai.request["messages"]
    assert [m["role"] for m in messages] == ["system", "developer", "user", "assistant", "tool"]
    assert messages[2]["content"] == [
        {"type": "text", "text": "Look at this"},
        {"type": "image_url", "image_url": "https://x/a.png", "detail": "low"},
    ]
    assert messages[3] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"id": "call-1", "function": {"name": "f", "arguments": '{"a": 1}'}}],
    }
    assert messages[4] == {"role": "tool", "content": "42", "tool_call_id": "call-1"}
    assert openai.turns == ({"role": "user", "content": "And now?"},)


def test_name_is_kept(write):
    path = write("chats: [{model: grok-4.3, messages: [{role: user, content: hi, name: ann}]}]\n")
    (job,) = iter_jobs(load_pipeline(path))
    assert job.request["messages"] == [{"role": "user", "content": "hi", "name": "ann"}]


@pytest.mark.parametrize(
    ("message", "where", "expected"),
    [
        ("{role: usr, content: hi}", "messages[0].role", "expected one of system, developer, user"),
        (
            "{role: user}",
            "messages[0]",
            "missing content (role: user; only an assistant message with tool_calls",
        ),
        (
            "{role: user, content: null}",
            "messages[0].content",
            "missing content (role: user; only an assistant message with tool_calls",
        ),
        ("{content: hi}", "messages[0].content", "'content' is only allowed together with 'role'"),
        (
            "{role: user, user: hi}",
            "messages[0]",
            "expected only one of system, developer, user, assistant, tool, role, got user, role",
        ),
        (
            "{role: user, content: hi, tool_call_id: x}",
            "messages[0].tool_call_id",
            "'tool_call_id' is only allowed with role: tool (this message's role is user)",
        ),
        (
            "{role: tool, content: hi, tool_calls: [{id: a, function: {name: f}}]}",
            "messages[0].tool_calls",
            "'tool_calls' is only allowed with role: assistant (this message's role is tool)",
        ),
        (
            "{role: user, content: [{type: text, txt: hi}]}",
            "messages[0].content[0].txt",
            "unknown key 'txt'",
        ),
        (
            "{role: user, content: [{type: image_url, image_url: {uri: x}}]}",
            "messages[0].content[0].image_url.uri",
            "unknown key 'uri'",
        ),
        ("{role: user, content: 3}", "messages[0].content", "expected a string or a list or null"),
    ],
)
def test_mistakes_are_located(write, message, where, expected):
    path = write(f"chats:\n  - model: grok-4.3\n    messages:\n      - {message}\n")
    with pytest.raises(SpecError) as info:
        load_pipeline(path)
    found = [p for p in info.value.problems if p.path == f"chats[0].{where}"]
    assert found, info.value.report()
    assert expected in found[0].message, info.value.report()
    assert found[0].line == 6 and found[0].column >= 9


def test_image_parts_of_openai_messages_are_located_for_the_model_check(write):
    path = write(
        """
chats:
  - model: grok-text-only
    messages:
      - role: user
        content: [{type: text, text: look}, {type: image_url, image_url: {url: "https://x/a.png"}}]
"""
    )
    (error,) = check_models(load_pipeline(path), ModelAuthority(SMALL)).errors
    assert error.problem.path == "chats[0].messages[0].content[1]"
    assert (error.problem.line, error.problem.column) == (8, 45)


def test_openai_messages_run_on_the_emulator(tmp_path: Path):
    data = {
        "version": 1,
        "name": "openai-style",
        "defaults": {"model": "grok-4.20-non-reasoning", "max_tokens": 16, "temperature": 0},
        "chats": [
            {
                "id": "q",
                "messages": [
                    {"role": "developer", "content": "Be brief."},
                    {"role": "user", "content": [{"type": "text", "text": "Name a city."}]},
                ],
                "turns": [{"role": "user", "content": "Another?"}],
            }
        ],
    }
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(path), "--local", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    (line,) = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert line["content"] and line["calls"] == 2
    assert line["request"]["messages"][0] == {"role": "developer", "content": "Be brief."}
