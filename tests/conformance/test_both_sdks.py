"""The official xai-sdk and our client in one process, against our emulator.

Our stubs live in a private descriptor pool, so both SDKs load side by side. The
same request sent by each must get the same answer, and each client must read an
agentic reply the same way: the official SDK is the reference for how outputs fold.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import xai_sdk
from xai_sdk.chat import user as their_user
from xai_sdk.proto import chat_pb2 as their_chat_pb2
from xai_sdk.tools import image_generation as their_image_generation
from xai_sdk.tools import web_search as their_web_search

from xai_pipelines.emulator import Emulator
from xai_pipelines.proto import chat_pb2
from xai_pipelines.sdk import Client, user

MODEL = "grok-4.3"
SEEDED = {"seed": 7, "temperature": 0.0, "max_tokens": 24}


@pytest.fixture
def clients(emulator: Emulator) -> Iterator[tuple[xai_sdk.Client, Client]]:
    theirs = xai_sdk.Client(
        api_key=emulator.api_key, api_host=emulator.address, use_insecure_channel=True, timeout=60
    )
    ours = Client(api_key=emulator.api_key, api_host=emulator.address)
    try:
        yield theirs, ours
    finally:
        ours.close()
        theirs.close()


def test_same_request_same_answer_from_both_sdks(clients):
    theirs, ours = clients
    a = theirs.chat.create(MODEL, messages=[their_user("Name a river")], **SEEDED).sample()
    b = ours.chat.create(MODEL, messages=[user("Name a river")], **SEEDED).sample()
    assert a.content == b.content and a.reasoning_content == b.reasoning_content
    assert a.usage.total_tokens == b.usage.total_tokens
    assert a.cost_usd == b.cost_usd and a.finish_reason.removeprefix("REASON_").lower() in {
        b.finish_reason, "max_len"}  # fmt: skip
    *_, (their_stream, _) = theirs.chat.create(MODEL, messages=[their_user("Name a river")],
                                                **SEEDED).stream()  # fmt: skip
    *_, (our_stream, _) = ours.chat.create(
        MODEL, messages=[user("Name a river")], **SEEDED
    ).stream()
    assert their_stream.content == our_stream.content == b.content


def ours_too(their_tool) -> chat_pb2.Tool:
    """The official helper's tool, byte for byte, as our proto (it sets optional fields)."""
    return chat_pb2.Tool.FromString(their_tool.SerializeToString())


def test_both_sdks_fold_an_agentic_reply_the_same_way(clients):
    theirs, ours = clients
    question = "Latest news about rivers"
    tool = their_web_search()
    a = theirs.chat.create(MODEL, messages=[their_user(question)], tools=[tool], seed=3).sample()
    b = ours.chat.create(MODEL, messages=[user(question)], tools=[ours_too(tool)], seed=3).sample()
    assert a.content == b.content and b.content
    assert a.finish_reason == "REASON_STOP" and b.finish_reason == "stop"
    assert [c.function.name for c in a.tool_calls] == [c.name for c in b.tool_calls]
    assert [o.message.content for o in a.tool_outputs] == [o.content for o in b.tool_outputs]
    assert list(a.citations) == b.citations
    assert {k.removeprefix("SERVER_SIDE_TOOL_").lower(): v
            for k, v in a.server_side_tool_usage.items()} == b.server_side_tool_usage  # fmt: skip
    assert a.cost_usd == b.cost_usd and a.service_tier == b.service_tier
    assert a.created.replace(tzinfo=None) == b.created.replace(tzinfo=None)


def test_both_sdks_read_image_generation_outputs_alike(clients):
    theirs, ours = clients
    tool = their_image_generation()
    a = theirs.chat.create(
        MODEL, messages=[their_user("Draw a fox")], tools=[tool], seed=5
    ).sample()
    b = ours.chat.create(
        MODEL, messages=[user("Draw a fox")], tools=[ours_too(tool)], seed=5
    ).sample()
    assert [o.image for o in a.image_outputs] == [o.image for o in b.image_outputs]
    assert [o.image_uuid for o in a.image_outputs] == [o.image_uuid for o in b.image_outputs]
    assert b.image_outputs and a.content == b.content


def test_our_request_bytes_are_the_official_request(clients):
    _, ours = clients
    chat = ours.chat.create(MODEL, messages=[user("Hi")], tools=[{"type": "web_search"}],
                            include=["inline_citations"], service_tier="priority", **SEEDED)  # fmt: skip
    wire = chat.request.SerializeToString()
    parsed = their_chat_pb2.GetCompletionsRequest.FromString(wire)
    assert parsed.model == MODEL and parsed.seed == 7 and parsed.tools[0].HasField("web_search")
    assert parsed.SerializeToString(deterministic=True) == chat.request.SerializeToString(
        deterministic=True
    )


def test_tokenize_and_images_agree(clients):
    theirs, ours = clients
    a = [t.string_token for t in theirs.tokenize.tokenize_text("Hello, rivers!", MODEL)]
    b = [t.string_token for t in ours.tokenize.tokenize_text("Hello, rivers!", MODEL)]
    assert a == b
    their_image = theirs.image.sample("a red fox", "grok-imagine-image", image_format="base64")
    our_image = ours.image.sample("a red fox", "grok-imagine-image", image_format="base64")
    assert their_image.image == our_image.image
