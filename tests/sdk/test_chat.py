"""Chat against the emulator over real gRPC: every Chat method and the Response wrapper."""

from __future__ import annotations

import dataclasses
import json

import pydantic
import pytest

from xai_pipelines.proto import chat_pb2
from xai_pipelines.sdk import (
    Client,
    CompactResult,
    Response,
    developer,
    file,
    system,
    tool,
    tool_result,
    user,
)
from xai_pipelines.sdk.errors import NotFoundError, StructuredOutputError

SEEDED = {"seed": 7, "max_tokens": 24, "temperature": 0}


def without_id(response: Response) -> dict:
    data = response.to_dict()
    data.pop("id")
    data.pop("created")  # seconds of the server clock: two calls may straddle a second
    return data


def test_sample_returns_a_response_with_usage_and_attempts(client: Client):
    chat = client.chat.create(
        "grok-4.3", messages=[system("Be terse."), user("Name a colour.")], **SEEDED
    )
    r = chat.sample()
    assert r.content and r.model == "grok-4.3" and r.id
    assert r.finish_reason in {"stop", "length"}
    assert r.attempts == 1 and r.ttft_s is None
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    assert r.usage.total_tokens >= r.usage.prompt_tokens + r.usage.completion_tokens
    assert isinstance(r.usage.cost_usd_ticks, int) and r.usage.cost_usd_ticks > 0
    record = r.to_dict()
    assert json.loads(json.dumps(record)) == record
    assert {"id", "model", "content", "reasoning_content", "tool_calls", "finish_reason",
            "citations", "usage", "system_fingerprint"} <= set(record)  # fmt: skip


def test_same_seed_same_answer_and_json_form_equals_helpers(client: Client):
    a = client.chat.create("grok-4.3", messages=[user("Hello")], **SEEDED).sample()
    b = client.chat.create(
        **{"model": "grok-4.3", "messages": [{"role": "user", "content": "Hello"}], **SEEDED}
    ).sample()
    assert without_id(a) == without_id(b)


def test_streamed_response_equals_the_unary_one(client: Client):
    chat = client.chat.create("grok-4.3", messages=[user("Tell me about rivers.")], **SEEDED)
    unary = chat.sample()
    pieces, final = [], None
    for so_far, chunk in chat.stream():
        pieces.append(chunk.content)
        final = so_far
        assert chunk.attempt == 1
    assert final is not None and len(pieces) > 1
    assert "".join(pieces) == final.content
    assert without_id(final) == without_id(unary)
    assert final.ttft_s is not None and final.ttft_s >= 0 and final.attempts == 1


def test_reasoning_model_streams_reasoning_like_unary(client: Client):
    chat = client.chat.create(
        "grok-4.3", messages=[user("Think.")], reasoning_effort="low", **SEEDED
    )
    unary = chat.sample()
    *_, (streamed, _) = chat.stream()
    assert without_id(streamed) == without_id(unary)


def test_sample_batch_gives_one_response_per_index(client: Client):
    chat = client.chat.create("grok-4.3", messages=[user("Pick a word.")], **SEEDED)
    answers = chat.sample_batch(3)
    assert [r.index for r in answers] == [0, 1, 2]
    assert len({r.content for r in answers}) > 1
    assert all(r.id == answers[0].id for r in answers)


def test_stream_batch_accumulates_every_index_like_sample_batch(client: Client):
    chat = client.chat.create("grok-4.3", messages=[user("Pick a word.")], **SEEDED)
    unary = chat.sample_batch(2)
    seen_indices: set[int] = set()
    final: list[Response] = []
    for responses, chunk in chat.stream_batch(2):
        seen_indices |= {c.index for c in chunk.choices}
        final = responses
    assert seen_indices == {0, 1}
    assert [without_id(r) for r in final] == [without_id(r) for r in unary]


def test_defer_and_defer_batch(client: Client):
    chat = client.chat.create("grok-4.3", messages=[user("Later, please.")], **SEEDED)
    unary = chat.sample()
    deferred = chat.defer(timeout=30, interval=0.02)
    assert without_id(deferred) == without_id(unary)
    batch = chat.defer_batch(2, timeout=30, interval=0.02)
    assert [r.index for r in batch] == [0, 1]


def test_defer_time_limit(emulator_factory, make_client):
    from xai_pipelines.emulator import EmulatorConfig
    from xai_pipelines.sdk.errors import DeadlineExceededError, DeferredTimeoutError

    emu = emulator_factory(EmulatorConfig(deferred_pending_s=30))
    chat = make_client(emu).chat.create("grok-4.3", messages=[user("x")])
    with pytest.raises(DeferredTimeoutError) as info:
        chat.defer(timeout=0.1, interval=0.02)
    assert isinstance(info.value, DeadlineExceededError) and info.value.deferred_id
    assert "still pending after 0.1s" in str(info.value)


def test_append_keeps_history_and_previous_turns_change_the_prompt(client: Client):
    chat = client.chat.create("grok-4.3", messages=[user("First question")], **SEEDED)
    first = chat.sample()
    chat.append(first).append(user("Second question"))
    assert [m.role for m in chat.messages] == [
        chat_pb2.ROLE_USER,
        chat_pb2.ROLE_ASSISTANT,
        chat_pb2.ROLE_USER,
    ]
    assert chat.messages[1].content[0].text == first.content
    second = chat.sample()
    assert second.usage.prompt_tokens > first.usage.prompt_tokens


WEATHER = tool(
    "get_weather",
    "Current weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def test_tool_calls_round_trip(client: Client):
    chat = client.chat.create("grok-4.3", messages=[user("Weather in Paris?")], tools=[WEATHER],
                              tool_choice="required", **SEEDED)  # fmt: skip
    r = chat.sample()
    assert r.finish_reason == "tool_calls" and r.tool_calls
    call = r.tool_calls[0]
    assert call.name == "get_weather" and "city" in call.parsed_arguments()
    chat.append(r)
    assert chat.messages[-1].tool_calls[0].id == call.id
    chat.append(tool_result({"temp": 20}, call.id))
    chat_after = chat.sample()
    assert chat_after.content


def test_tool_calls_in_json_form_and_named_choice(client: Client):
    chat = client.chat.create(
        model="grok-4.3",
        messages=[{"role": "user", "content": "Weather?"}],
        tools=[{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}],
        tool_choice={"function": "get_weather"},
        seed=1,
    )
    *_, (streamed, _) = chat.stream()
    assert [c.name for c in streamed.tool_calls] == ["get_weather"]
    assert streamed.to_dict()["tool_calls"][0]["function"]["name"] == "get_weather"


SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["city", "population"],
    "additionalProperties": False,
}


@dataclasses.dataclass
class CityDC:
    city: str
    population: int


class CityModel(pydantic.BaseModel):
    city: str
    population: int


def test_parse_with_a_schema_dict_a_dataclass_and_a_pydantic_model(client: Client):
    chat = client.chat.create("grok-4.3", messages=[user("A big city?")], seed=3)
    as_dict = chat.parse(SCHEMA)
    assert set(as_dict) == {"city", "population"} and isinstance(as_dict["population"], int)
    as_dc = chat.parse(CityDC)
    assert isinstance(as_dc, CityDC) and isinstance(as_dc.population, int)
    as_model = chat.parse(CityModel)
    assert isinstance(as_model, CityModel)
    assert chat.request.response_format.format_type == 0  # parse() leaves the chat unchanged


def test_json_object_format_and_response_parse_keep_the_response(client: Client):
    fmt = {"type": "json_schema", "schema": SCHEMA}
    r = client.chat.create(
        "grok-4.3", messages=[user("Data?")], response_format=fmt, seed=3
    ).sample()
    assert r.parse(SCHEMA) == json.loads(r.content)
    by_model = client.chat.create(
        "grok-4.3", messages=[user("Data?")], response_format=CityModel, seed=3
    )
    assert isinstance(by_model.sample().parse(CityModel), CityModel)
    with pytest.raises(StructuredOutputError, match="does not match the schema"):
        r.parse({"type": "object", "required": ["missing"]})
    obj = client.chat.create(
        "grok-4.3", messages=[user("JSON?")], response_format="json_object"
    ).sample()
    assert isinstance(json.loads(obj.content), dict)


def test_stored_completions_get_delete_and_previous_response_id(client: Client):
    chat = client.chat.create(
        "grok-4.3", messages=[user("Remember 42.")], store_messages=True, **SEEDED
    )
    r = chat.sample()
    stored = client.chat.get_stored_completion(r.id)
    assert stored[0].content == r.content and stored[0].id == r.id
    follow = client.chat.create(
        "grok-4.3", messages=[user("What number?")], previous_response_id=r.id, **SEEDED
    ).sample()
    alone = client.chat.create("grok-4.3", messages=[user("What number?")], **SEEDED).sample()
    assert follow.usage.prompt_tokens > alone.usage.prompt_tokens
    assert client.chat.delete_stored_completion(r.id) == r.id
    with pytest.raises(NotFoundError):
        client.chat.get_stored_completion(r.id)


def test_server_side_tools_fold_into_one_answer_like_the_stream(client: Client):
    chat = client.chat.create("grok-4.3", messages=[user("News about rivers")],
                              tools=[{"type": "web_search"}], include=["inline_citations"])  # fmt: skip
    r = chat.sample()
    assert len({o.index for o in r.proto.outputs}) > 1  # tool call, tool output, answer
    assert r.aggregated and r.index == 0
    assert r.content and r.finish_reason == "stop"
    [call] = r.server_side_tool_calls
    assert call.type == "web_search" and call.status == "completed" and call.server_side
    assert [o.tool_call_id for o in r.tool_outputs] == [call.id]
    assert r.citations and all(c.startswith("http") for c in r.citations)
    assert r.inline_citations and r.inline_citations[0].url in r.citations
    assert r.server_side_tool_usage == {"web_search": 1}
    assert r.cost_usd == r.usage.cost_usd_ticks / 10**10 > 0
    assert r.created is not None and r.service_tier == "default"
    *_, (streamed, _) = chat.stream()
    assert without_id(streamed) == without_id(r)
    record = r.to_dict()
    assert json.loads(json.dumps(record)) == record
    assert record["tool_calls"][0]["status"] == "completed"


def test_append_replays_an_agentic_answer_turn_by_turn(client: Client):
    chat = client.chat.create("grok-4.3", messages=[user("Search rivers")],
                              tools=[{"type": "web_search"}])  # fmt: skip
    r = chat.sample()
    chat.append(r)
    replayed = chat.messages[1:]
    assert [m.role for m in replayed] == [o.message.role for o in r.outputs]
    tool_turn = next(m for m in replayed if m.role == chat_pb2.ROLE_TOOL)
    assert tool_turn.tool_call_id == r.server_side_tool_calls[0].id
    assert replayed[-1].content[0].text == r.content
    chat.append(user("And lakes?"))
    assert chat.sample().content


def test_encrypted_and_reasoning_content_are_appended(client: Client):
    chat = client.chat.create(
        "grok-4.3", messages=[user("Think hard.")], use_encrypted_content=True, **SEEDED
    )
    r = chat.sample()
    assert r.encrypted_content and r.reasoning_content
    chat.append(r)
    assert chat.messages[-1].encrypted_content == r.encrypted_content
    assert chat.messages[-1].reasoning_content == r.reasoning_content
    batch = chat.sample_batch(2)
    chat.append(batch[1])
    assert chat.messages[-1].encrypted_content == batch[1].encrypted_content
    assert chat.messages[-1].content[0].text == batch[1].content


def test_compact_replaces_the_history_and_the_chat_carries_on(client: Client):
    chat = client.chat.create(
        "grok-4.3", messages=[system("s")] + [user(f"m{i}") for i in range(5)], **SEEDED
    )
    result = chat.compact()
    assert isinstance(result, CompactResult) and result.encrypted_content
    assert result.dropped_message_count >= 0 and result.usage.prompt_tokens > 0
    [carried] = chat.messages
    assert carried.role == chat_pb2.ROLE_USER
    assert carried.encrypted_content == result.encrypted_content
    chat.append(user("continue"))
    assert chat.sample().content
    again = client.chat.compact_context("grok-4.3", [user("a"), {"role": "user", "content": "b"}])
    assert again.encrypted_content


def test_developer_role_and_local_files_are_uploaded_once(emulator_factory, make_client, tmp_path):
    client = make_client(emulator_factory())
    notes = tmp_path / "notes.txt"
    notes.write_text("rivers are long")
    chat = client.chat.create("grok-4.3", messages=[
        developer("Answer from the attachment."),
        user("What is in it?", file(notes)),
        {"role": "user", "content": [{"type": "file", "path": str(notes)}]},
        user("And this?", file(b"rivers are long", filename="copy.txt")),
    ])  # fmt: skip
    assert chat.messages[0].role == chat_pb2.ROLE_DEVELOPER
    assert chat.sample().content
    ids = {m.content[-1].file.file_id for m in chat.messages[1:]}
    assert len(ids) == 1 and len(client.uploads) == 1  # one content, one upload
    assert client.files.get(ids.pop()).filename == "notes.txt"
    client.chat.create("grok-4.3", messages=[user("x", file(notes))]).sample()
    assert len(client.files.list().files) == 1
