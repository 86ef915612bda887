"""The official xai-sdk's side of the conformance test; runs in its own interpreter.

The official SDK's generated protos and this project's register the same
``xai_api.*`` names in protobuf's default descriptor pool, so they cannot share
a process. Usage: ``python sdk_peer.py ADDRESS API_KEY``. Checks use plain
asserts; on success one JSON summary line is printed to stdout.
"""

from __future__ import annotations

import datetime
import json
import sys
import time

from pydantic import BaseModel, Field
from xai_sdk import Client
from xai_sdk.chat import system, tool, tool_result, user

PNG = b"\x89PNG\r\n\x1a\n"


class Step(BaseModel):
    explanation: str
    output: str


class Solution(BaseModel):
    steps: list[Step]
    final_answer: float | None
    confidence: int = Field(ge=0, le=100)
    verdict: str
    code: str = Field(pattern=r"^[A-Z]{2}-\d{3}$")


def check_chat(client: Client, summary: dict) -> None:
    chat = client.chat.create(
        "grok-3", messages=[system("Be terse."), user("Hello")], seed=7, temperature=0
    )
    sampled = chat.sample()
    assert sampled.content, "empty content"
    assert sampled.finish_reason == "REASON_STOP", sampled.finish_reason
    assert sampled.usage.completion_tokens > 0 and sampled.usage.cost_in_usd_ticks > 0
    again = client.chat.create(
        "grok-3", messages=[system("Be terse."), user("Hello")], seed=7, temperature=0
    ).sample()
    assert again.content == sampled.content

    streamed = None
    chunks = 0
    for response, chunk in client.chat.create(
        "grok-3", messages=[system("Be terse."), user("Hello")], seed=7, temperature=0
    ).stream():
        streamed = response
        chunks += 1
        assert chunk.content is not None
    assert streamed is not None and chunks >= 3
    assert streamed.content == sampled.content, (streamed.content, sampled.content)
    assert streamed.finish_reason == "REASON_STOP"
    assert streamed.usage.total_tokens == sampled.usage.total_tokens
    summary["sample"] = sampled.content
    summary["stream_chunks"] = chunks

    batch = client.chat.create("grok-3", messages=[user("Pick a word")], seed=3).sample_batch(4)
    assert len(batch) == 4
    assert len({r.content for r in batch}) == 4
    summary["sample_batch"] = len(batch)
    last = None
    for responses, _chunks in client.chat.create(
        "grok-3", messages=[user("Pick a word")], seed=3
    ).stream_batch(4):
        last = responses
    assert last is not None and [r.content for r in last] == [r.content for r in batch]
    deferred_batch = client.chat.create(
        "grok-3", messages=[user("Pick a word")], seed=3
    ).defer_batch(
        4, timeout=datetime.timedelta(seconds=60), interval=datetime.timedelta(milliseconds=20)
    )
    assert [r.content for r in deferred_batch] == [r.content for r in batch]

    deferred = client.chat.create("grok-4.3", messages=[user("Take your time")], seed=5).defer(
        timeout=datetime.timedelta(seconds=60), interval=datetime.timedelta(milliseconds=20)
    )
    assert deferred.content and deferred.reasoning_content
    assert deferred.usage.reasoning_tokens > 0
    summary["defer"] = True


def check_parse(client: Client, summary: dict) -> None:
    chat = client.chat.create("grok-4.3", messages=[user("Solve 2x + 3 = 7")], seed=1)
    _, parsed = chat.parse(Solution)
    assert isinstance(parsed, Solution)
    assert 0 <= parsed.confidence <= 100
    summary["parse"] = parsed.model_dump()


def check_tools(client: Client, summary: dict) -> None:
    weather = tool(
        "get_weather",
        "Current weather for a city",
        {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
        },
    )
    chat = client.chat.create("grok-4.3", tools=[weather], seed=2)
    chat.append(user("What is the weather in Paris?"))
    first = chat.sample()
    assert first.finish_reason == "REASON_TOOL_CALLS", first.finish_reason
    assert len(first.tool_calls) == 1
    call = first.tool_calls[0]
    args = json.loads(call.function.arguments)
    assert call.function.name == "get_weather" and args["unit"] in ("celsius", "fahrenheit")
    assert isinstance(args["city"], str)
    chat.append(first)
    chat.append(tool_result(json.dumps({"temp_c": 21}), tool_call_id=call.id))
    final = chat.sample()
    assert final.finish_reason == "REASON_STOP" and final.content and not final.tool_calls
    summary["tool_call"] = {"name": call.function.name, "arguments": args}


def check_images(client: Client, summary: dict) -> None:
    b64 = client.image.sample("a red fox", model="grok-imagine-image", image_format="base64")
    assert b64.base64.startswith("data:image/png;base64,")
    assert b64.image.startswith(PNG)
    url = client.image.sample("a red fox", model="grok-imagine-image", image_format="url")
    assert url.url.startswith("http://127.0.0.1:")
    assert url.image.startswith(PNG)
    assert url.image == b64.image
    many = client.image.sample_batch(
        "a blue whale", model="grok-imagine-image", n=3, image_format="base64"
    )
    assert len({r.image for r in many}) == 3
    summary["image_bytes"] = len(b64.image)
    summary["image_url"] = url.url


def check_state(client: Client, summary: dict) -> None:
    first = client.chat.create(
        "grok-3", messages=[user("Remember 7")], store_messages=True, seed=1
    ).sample()
    stored = client.chat.get_stored_completion(first.id)
    assert stored[0].content == first.content
    follow = client.chat.create("grok-3", previous_response_id=first.id, seed=1)
    follow.append(user("What number?"))
    assert follow.sample().usage.prompt_tokens > first.usage.prompt_tokens
    assert client.chat.delete_stored_completion(first.id) == first.id
    chat = client.chat.create(
        "grok-3", messages=[system("s")] + [user(f"m{i}") for i in range(5)], seed=1
    )
    compacted = chat.compact()
    assert compacted.dropped_message_count == 3
    chat.append(user("continue"))
    assert chat.sample().content
    summary["stored"] = True
    summary["compact_dropped"] = compacted.dropped_message_count


def check_batch(client: Client, summary: dict) -> None:
    batch = client.batch.create("conformance")
    chats = []
    for i in range(3):
        chat = client.chat.create("grok-3", seed=i, batch_request_id=f"req-{i}")
        chat.append(user(f"question {i}"))
        chats.append(chat)
    client.batch.add(batch.batch_id, chats)
    deadline = time.monotonic() + 60
    while client.batch.get(batch.batch_id).state.num_pending and time.monotonic() < deadline:
        time.sleep(0.02)
    results = client.batch.list_batch_results(batch.batch_id, limit=2)
    page_two = client.batch.list_batch_results(
        batch.batch_id, limit=2, pagination_token=results.pagination_token
    )
    done = [*results.succeeded, *page_two.succeeded]
    assert sorted(r.batch_request_id for r in done) == ["req-0", "req-1", "req-2"]
    assert all(r.response.content for r in done)
    summary["batch_results"] = len(done)


def check_models(client: Client, summary: dict) -> None:
    names = {m.name for m in client.models.list_language_models()}
    assert "grok-4.3" in names
    tokens = client.tokenize.tokenize_text("Hello, world!", "grok-4.3")
    assert "".join(t.string_token for t in tokens) == "Hello, world!"
    summary["models"] = sorted(names)


def main() -> None:
    address, key = sys.argv[1], sys.argv[2]
    client = Client(api_key=key, api_host=address, use_insecure_channel=True, timeout=60)
    summary: dict = {}
    checks = (
        check_chat,
        check_parse,
        check_tools,
        check_images,
        check_state,
        check_batch,
        check_models,
    )
    for check in checks:
        check(client, summary)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
