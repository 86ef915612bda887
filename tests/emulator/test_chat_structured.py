"""response_format (json_object, json_schema) and client-side tool calls."""

from __future__ import annotations

import json

import grpc
import jsonschema
import pytest

from tests.emulator.conftest import rpc_error, user
from xai_pipelines.proto import chat_pb2, sample_pb2

SCHEMAS = {
    "flat": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 3, "maxLength": 12},
            "age": {"type": "integer", "minimum": 18, "maximum": 99},
            "score": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            "active": {"type": "boolean"},
            "colour": {"enum": ["red", "green", "blue"]},
        },
        "required": ["name", "age", "score", "active", "colour"],
        "additionalProperties": False,
    },
    "nested": {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "minItems": 2,
                "maxItems": 4,
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer", "multipleOf": 5},
                        "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
                    },
                    "required": ["id", "tags"],
                },
            },
            "meta": {
                "type": "object",
                "properties": {"when": {"type": "string", "format": "date"}},
                "required": ["when"],
            },
        },
        "required": ["items", "meta"],
    },
    "pydantic_style": {
        "$defs": {
            "Step": {
                "properties": {
                    "explanation": {"title": "Explanation", "type": "string"},
                    "output": {"type": "string"},
                },
                "required": ["explanation", "output"],
                "title": "Step",
                "type": "object",
            }
        },
        "properties": {
            "steps": {"items": {"$ref": "#/$defs/Step"}, "title": "Steps", "type": "array"},
            "final_answer": {"anyOf": [{"type": "number"}, {"type": "null"}], "default": None},
            "kind": {"type": ["string", "null"], "enum": ["a", "b", None]},
        },
        "required": ["steps", "final_answer"],
        "title": "MathReasoning",
        "type": "object",
    },
    "top_level_array": {
        "type": "array",
        "items": {"type": "integer", "minimum": -3, "maximum": 3},
        "minItems": 1,
    },
}


def schema_format(schema: dict) -> chat_pb2.ResponseFormat:
    return chat_pb2.ResponseFormat(
        format_type=chat_pb2.FORMAT_TYPE_JSON_SCHEMA, schema=json.dumps(schema)
    )


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_json_schema_answers_validate(stubs, name):
    schema = SCHEMAS[name]
    r = stubs.complete(prompt="Give data", n=8, seed=1, response_format=schema_format(schema))
    for out in r.outputs:
        jsonschema.validate(json.loads(out.message.content), schema)


def test_json_object_answer_is_an_object(stubs):
    fmt = chat_pb2.ResponseFormat(format_type=chat_pb2.FORMAT_TYPE_JSON_OBJECT)
    r = stubs.complete(prompt="Give data", seed=1, response_format=fmt)
    assert isinstance(json.loads(r.outputs[0].message.content), dict)


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ("{not json", "response_format.schema is not valid JSON"),
        (json.dumps({"type": "objekt"}), "response_format.schema is not a valid JSON schema"),
        (json.dumps([1, 2]), "response_format.schema must be a JSON object schema"),
    ],
)
def test_invalid_schema_is_invalid_argument(stubs, schema, expected):
    fmt = chat_pb2.ResponseFormat(format_type=chat_pb2.FORMAT_TYPE_JSON_SCHEMA, schema=schema)
    err = rpc_error(stubs.complete, response_format=fmt)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert expected in err.details()


WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
    },
    "required": ["city", "unit"],
}
TIME = {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]}


def tools() -> list[chat_pb2.Tool]:
    return [
        chat_pb2.Tool(
            function=chat_pb2.Function(
                name="get_weather", description="Weather", parameters=json.dumps(WEATHER)
            )
        ),
        chat_pb2.Tool(
            function=chat_pb2.Function(
                name="get_time", description="Time", parameters=json.dumps(TIME)
            )
        ),
    ]


def check_calls(out: chat_pb2.CompletionOutput, names: list[str]) -> None:
    assert out.finish_reason == sample_pb2.REASON_TOOL_CALLS
    assert [c.function.name for c in out.message.tool_calls] == names
    for call in out.message.tool_calls:
        assert call.id.startswith("call_")
        assert call.type == chat_pb2.TOOL_CALL_TYPE_CLIENT_SIDE_TOOL
        schema = WEATHER if call.function.name == "get_weather" else TIME
        jsonschema.validate(json.loads(call.function.arguments), schema)


def test_required_tool_choice_calls_a_tool(stubs):
    choice = chat_pb2.ToolChoice(mode=chat_pb2.TOOL_MODE_REQUIRED)
    r = stubs.complete(prompt="Hello there", tools=tools(), tool_choice=choice, seed=1)
    check_calls(r.outputs[0], ["get_weather"])


def test_named_function_is_called(stubs):
    choice = chat_pb2.ToolChoice(function_name="get_time")
    r = stubs.complete(prompt="Hello there", tools=tools(), tool_choice=choice, seed=1)
    check_calls(r.outputs[0], ["get_time"])


def test_auto_calls_the_tools_the_prompt_mentions(stubs):
    r = stubs.complete(
        prompt="What is the weather in Paris? Use get_time too.", tools=tools(), seed=1
    )
    check_calls(r.outputs[0], ["get_weather", "get_time"])
    single = stubs.complete(
        prompt="What is the weather in Paris? Use get_time too.",
        tools=tools(),
        seed=1,
        parallel_tool_calls=False,
    )
    check_calls(single.outputs[0], ["get_weather"])


def test_auto_calls_first_tool_when_asked_for_a_tool(stubs):
    r = stubs.complete(prompt="Please use a tool for this", tools=tools(), seed=1)
    check_calls(r.outputs[0], ["get_weather"])


def test_auto_without_a_tool_request_answers_text(stubs):
    r = stubs.complete(prompt="Tell me a story", tools=tools(), seed=1)
    assert r.outputs[0].finish_reason == sample_pb2.REASON_STOP
    assert r.outputs[0].message.content and not r.outputs[0].message.tool_calls


def test_tool_result_is_answered_with_text(stubs):
    first = stubs.complete(prompt="weather in Paris?", tools=tools(), seed=1).outputs[0].message
    call = first.tool_calls[0]
    messages = [
        user("weather in Paris?"),
        chat_pb2.Message(role=chat_pb2.ROLE_ASSISTANT, tool_calls=[call]),
        chat_pb2.Message(
            role=chat_pb2.ROLE_TOOL,
            tool_call_id=call.id,
            content=[chat_pb2.Content(text='{"temp": 20}')],
        ),
    ]
    choice = chat_pb2.ToolChoice(mode=chat_pb2.TOOL_MODE_REQUIRED)
    r = stubs.complete(messages=messages, tools=tools(), tool_choice=choice, seed=1)
    assert r.outputs[0].finish_reason == sample_pb2.REASON_STOP
    assert r.outputs[0].message.content and not r.outputs[0].message.tool_calls


def test_streamed_tool_calls_match_unary(stubs):
    fields = {"prompt": "weather?", "tools": tools(), "seed": 5}
    unary = stubs.complete(**fields).outputs[0]
    chunks = stubs.stream(**fields)
    calls = [c for ch in chunks for o in ch.outputs for c in o.delta.tool_calls]
    assert calls == list(unary.message.tool_calls)
    assert chunks[-1].outputs[0].finish_reason == sample_pb2.REASON_TOOL_CALLS


@pytest.mark.parametrize(
    ("bad_tools", "choice", "expected"),
    [
        (
            [chat_pb2.Tool(function=chat_pb2.Function(name="f", parameters="{"))],
            None,
            "tools[0].function.parameters is not valid JSON",
        ),
        (
            [chat_pb2.Tool(function=chat_pb2.Function(name=""))],
            None,
            "tools[0].function.name must be set",
        ),
        (
            [],
            chat_pb2.ToolChoice(mode=chat_pb2.TOOL_MODE_REQUIRED),
            "tool_choice 'required' needs at least one tool",
        ),
        (None, chat_pb2.ToolChoice(function_name="nope"), "tool_choice names function 'nope'"),
    ],
)
def test_bad_tools_are_invalid_argument(stubs, bad_tools, choice, expected):
    fields = {"tools": tools() if bad_tools is None else bad_tools}
    if choice is not None:
        fields["tool_choice"] = choice
    err = rpc_error(stubs.complete, **fields)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert expected in err.details()
