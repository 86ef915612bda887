"""Structured-output assertions: is_json, json_schema, json_path, tool_call."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from xai_pipelines.evals import EvalConfigError, EvalContext, Target, build_assertion
from xai_pipelines.evals.structured import parse_path

SCHEMA = {
    "type": "object",
    "properties": {"capital": {"type": "string"}, "population": {"type": "number"}},
    "required": ["capital", "population"],
}


def _check(entry: dict[str, Any], line: dict[str, Any]) -> dict[str, Any]:
    return build_assertion(entry).evaluate(Target(line, line["outputs"][0]), EvalContext())


def test_is_json(chat_line: Callable[..., dict[str, Any]]) -> None:
    assert _check({"is_json": True}, chat_line('{"a": [1, 2]}'))["pass"] is True
    failed = _check({"is_json": True}, chat_line('{"a": 1'))
    assert failed["pass"] is False and failed["reason"].startswith("not JSON")
    assert "line 1 column" in failed["reason"]


def test_json_schema(chat_line: Callable[..., dict[str, Any]]) -> None:
    good = json.dumps({"capital": "Paris", "population": 2.1})
    assert _check({"json_schema": SCHEMA}, chat_line(good))["pass"] is True
    bad = json.dumps({"capital": "Paris", "population": "2.1 million"})
    failed = _check({"json_schema": SCHEMA}, chat_line(bad))
    assert failed["pass"] is False
    assert (
        failed["reason"].startswith("at $.population:")
        and "not of type 'number'" in failed["reason"]
    )
    assert _check({"json_schema": SCHEMA}, chat_line("Paris"))["reason"].startswith("not JSON")


def test_json_schema_must_be_a_valid_schema() -> None:
    with pytest.raises(EvalConfigError, match="invalid JSON Schema"):
        build_assertion({"json_schema": {"type": "nonsense"}})
    with pytest.raises(EvalConfigError, match="schema object"):
        build_assertion({"json_schema": "schemas/unresolved.json"})


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("capital", ["capital"]),
        ("$.a.b[0]", ["a", "b", 0]),
        ('$["odd key"][2].x', ["odd key", 2, "x"]),
    ],
)
def test_parse_path(path: str, steps: list[Any]) -> None:
    assert parse_path(path) == steps


@pytest.mark.parametrize("path", ["items[-1]", ".a", "a..b", "a[x]", "a b"])
def test_bad_paths_are_config_errors(path: str) -> None:
    with pytest.raises(EvalConfigError):
        parse_path(path)


def test_json_path(chat_line: Callable[..., dict[str, Any]]) -> None:
    doc = json.dumps({"capital": "Lima", "stats": {"population": [34.4, 2024]}, "ok": True})
    line = chat_line(doc)
    assert _check({"json_path": {"path": "capital", "equals": "Lima"}}, line)["pass"] is True
    assert _check({"json_path": {"path": "stats.population[0]"}}, line)["pass"] is True
    # a templated expectation is text: "34.4" matches the number 34.4, not the string
    assert _check({"json_path": {"path": "stats.population[0]", "equals": "34.4"}}, line)["pass"]
    assert _check({"json_path": {"path": "ok", "equals": True}}, line)["pass"] is True
    wrong = _check({"json_path": {"path": "capital", "equals": "Cusco"}}, line)
    assert wrong["pass"] is False and "expected 'Cusco', got '\"Lima\"'" in wrong["reason"]
    missing = _check({"json_path": {"path": "stats.area"}}, line)
    assert missing["pass"] is False and missing["reason"] == "no value at stats.area"
    assert not _check({"json_path": {"path": "ok", "equals": "1"}}, line)["pass"]
    assert not _check({"json_path": {"path": "capital"}}, chat_line("not json"))["pass"]


def _with_calls(line: dict[str, Any], *calls: tuple[str, str]) -> dict[str, Any]:
    line["outputs"][0]["tool_calls"] = [
        {"id": f"c{i}", "type": "client_side_tool", "function": {"name": n, "arguments": a}}
        for i, (n, a) in enumerate(calls)
    ]
    line["outputs"][0]["finish_reason"] = "tool_calls"
    return line


ARGS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def test_tool_call(chat_line: Callable[..., dict[str, Any]]) -> None:
    line = _with_calls(chat_line(""), ("get_time", "{}"), ("get_weather", '{"city": "Paris"}'))
    assert _check({"tool_call": "get_weather"}, line)["pass"] is True
    assert _check({"tool_call": {}}, line)["pass"] is True  # any call
    ok = _check({"tool_call": {"name": "get_weather", "arguments": ARGS}}, line)
    assert ok["pass"] is True and "get_weather" in ok["reason"]
    other = _check({"tool_call": "book_flight"}, line)
    assert other["pass"] is False and "called: get_time, get_weather" in other["reason"]
    bad_args = _with_calls(chat_line(""), ("get_weather", '{"town": "Paris"}'))
    failed = _check({"tool_call": {"name": "get_weather", "arguments": ARGS}}, bad_args)
    assert failed["pass"] is False and "'city' is a required property" in failed["reason"]
    none = _check({"tool_call": "get_weather"}, chat_line("It is sunny."))
    assert none["pass"] is False and none["reason"].startswith("no tool call")
