"""Scripted answers from YAML and JSONL responses files."""

from __future__ import annotations

import json

import pytest

from tests.emulator.conftest import connect
from xai_pipelines.emulator import EmulatorConfig, ScriptError
from xai_pipelines.emulator.scripted import load_rules
from xai_pipelines.proto import chat_pb2, sample_pb2

YAML_RULES = """
rules:
  - match: "What is the capital of France?"
    content: "Paris"
  - regex: "(?i)capital of (spain|españa)"
    model: grok-3
    content: "Madrid"
  - regex: "capital"
    content: "I do not know."
  - match: "give json"
    json: {"answer": 42, "ok": true}
  - regex: "^weather in (.+)"
    tool_calls:
      - name: get_weather
        arguments: {"city": "Paris"}
    reasoning_content: "The user wants weather."
"""


@pytest.fixture
def scripted(tmp_path, emulator_factory):
    path = tmp_path / "responses.yaml"
    path.write_text(YAML_RULES)
    stubs = connect(emulator_factory(EmulatorConfig(responses_file=path)))
    yield stubs
    stubs.channel.close()


def content(r: chat_pb2.GetChatCompletionResponse) -> str:
    return r.outputs[0].message.content


def test_exact_match_answers_content(scripted):
    assert content(scripted.complete(prompt="What is the capital of France?")) == "Paris"
    assert content(scripted.complete(prompt="  What is the capital of France?\n")) == "Paris"


def test_first_match_wins_and_model_filters(scripted):
    assert content(scripted.complete(prompt="The capital of Spain?", model="grok-3")) == "Madrid"
    assert (
        content(scripted.complete(prompt="The capital of Spain?", model="grok-4"))
        == "I do not know."
    )


def test_json_answer_and_unmatched_falls_back_to_generated_text(scripted):
    assert json.loads(content(scripted.complete(prompt="give json"))) == {"answer": 42, "ok": True}
    generated = content(scripted.complete(prompt="Something else", seed=1))
    assert generated and generated not in ("Paris", "Madrid", "I do not know.")


def test_tool_call_answer(scripted):
    r = scripted.complete(prompt="weather in Paris", model="grok-4")
    out = r.outputs[0]
    assert out.finish_reason == sample_pb2.REASON_TOOL_CALLS
    assert out.message.tool_calls[0].function.name == "get_weather"
    assert json.loads(out.message.tool_calls[0].function.arguments) == {"city": "Paris"}
    assert out.message.reasoning_content == "The user wants weather."


def test_scripted_answers_respect_max_tokens_and_stream(scripted):
    r = scripted.complete(prompt="capital of nowhere", max_tokens=2)
    assert content(r) == "I do"
    assert r.outputs[0].finish_reason == sample_pb2.REASON_MAX_LEN
    chunks = scripted.stream(prompt="What is the capital of France?")
    assert "".join(o.delta.content for c in chunks for o in c.outputs) == "Paris"


def test_jsonl_rules(tmp_path, emulator_factory):
    path = tmp_path / "r.jsonl"
    path.write_text('{"match": "ping", "content": "pong"}\n\n{"regex": "^hi", "json": [1, 2]}\n')
    stubs = connect(emulator_factory(EmulatorConfig(responses_file=path)))
    assert content(stubs.complete(prompt="ping")) == "pong"
    assert json.loads(content(stubs.complete(prompt="hi there"))) == [1, 2]
    stubs.channel.close()


@pytest.mark.parametrize(
    ("text", "suffix", "message"),
    [
        ("- content: x\n", ".yaml", "needs 'match' or 'regex'"),
        ("- match: x\n", ".yaml", "needs exactly one of"),
        ("- match: x\n  content: a\n  json: 1\n", ".yaml", "needs exactly one of"),
        ("- regex: '('\n  content: a\n", ".yaml", "bad regex"),
        ("- match: x\n  content: a\n  colour: red\n", ".yaml", "unknown keys ['colour']"),
        ("{not json}\n", ".jsonl", ":1: invalid JSON"),
        ("a: 1\n", ".yaml", "expected a list of rules"),
        ("- match: x\n  tool_calls: []\n", ".yaml", "tool_calls must not be empty"),
    ],
)
def test_malformed_files_are_reported(tmp_path, text, suffix, message):
    path = tmp_path / f"bad{suffix}"
    path.write_text(text)
    with pytest.raises(ScriptError, match=None) as info:
        load_rules(path)
    assert message in str(info.value)
