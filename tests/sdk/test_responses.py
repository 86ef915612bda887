"""How a Response reads the outputs of a reply (pure: replies built by hand).

The shapes follow what the hosted API sends with server-side tools, as the official
SDK's own test server (xai-sdk 1.21.0, tests/server.py) does: an assistant output with
the tool call, a ROLE_TOOL output with the tool's result, then the final answer.
"""

from __future__ import annotations

import base64
import json

import pytest

from xai_pipelines.proto import chat_pb2, sample_pb2, usage_pb2
from xai_pipelines.sdk import Response, ToolCall
from xai_pipelines.sdk.batch import BatchResult, _agentic
from xai_pipelines.sdk.errors import InvalidResponseError, RequestValidationError
from xai_pipelines.sdk.messages import response_messages, to_message, to_messages
from xai_pipelines.sdk.response import Chunk, StreamAccumulator

JPEG = b"\xff\xd8\xff\xe0fake-jpeg"


def _call(kind: int, name: str, status: int = chat_pb2.TOOL_CALL_STATUS_COMPLETED, cid: str = "c1"):
    return chat_pb2.ToolCall(
        id=cid, type=kind, status=status,
        function=chat_pb2.FunctionCall(name=name, arguments='{"q": 1}'),
    )  # fmt: skip


def _out(index: int, role: int, content: str = "", calls=(), reason: int = 0, **msg):
    return chat_pb2.CompletionOutput(
        index=index, finish_reason=reason,
        message=chat_pb2.CompletionMessage(role=role, content=content, tool_calls=list(calls), **msg),
    )  # fmt: skip


def agentic_reply(tool_content: str = "results", call=None) -> chat_pb2.GetChatCompletionResponse:
    call = call or _call(chat_pb2.TOOL_CALL_TYPE_WEB_SEARCH_TOOL, "web_search")
    reply = chat_pb2.GetChatCompletionResponse(
        id="r", model="m", service_tier=usage_pb2.SERVICE_TIER_PRIORITY,
        usage=usage_pb2.SamplingUsage(
            prompt_tokens=10, cost_in_usd_ticks=25_000_000,
            server_side_tools_used=[usage_pb2.SERVER_SIDE_TOOL_WEB_SEARCH] * 2
            + [usage_pb2.SERVER_SIDE_TOOL_X_SEARCH],
        ),
    )  # fmt: skip
    reply.created.FromSeconds(1_800_000_000)
    reply.outputs.extend([
        _out(0, chat_pb2.ROLE_ASSISTANT, "Let me look.", [call], reasoning_content="plan"),
        _out(1, chat_pb2.ROLE_TOOL, tool_content, [call]),
        _out(2, chat_pb2.ROLE_ASSISTANT, "Final answer.", reason=sample_pb2.REASON_STOP,
             reasoning_content="think", encrypted_content="enc",
             citations=[chat_pb2.InlineCitation(id="1", start_index=0, end_index=5,
                                                web_citation=chat_pb2.WebCitation(url="https://a"))]),
    ])  # fmt: skip
    return reply


def test_an_agentic_reply_folds_into_its_final_answer():
    r = Response(agentic_reply(), None)
    assert r.aggregated and r.index == 0
    assert r.content == "Final answer." and r.finish_reason == "stop"
    assert r.reasoning_content == "think" and r.encrypted_content == "enc"
    [call] = r.tool_calls
    assert call.type == "web_search" and call.server_side and call.status == "completed"
    assert r.server_side_tool_calls == [call]
    [out] = r.tool_outputs
    assert out.index == 1 and out.content == "results" and out.tool_call_id == "c1"
    assert r.server_side_tool_usage == {"web_search": 2, "x_search": 1}
    assert r.cost_usd == pytest.approx(0.0025) and r.service_tier == "priority"
    assert r.created is not None and r.created.year == 2027
    [cite] = r.inline_citations
    assert (cite.source, cite.url, cite.start_index, cite.end_index) == ("web", "https://a", 0, 5)
    record = r.to_dict()
    assert json.loads(json.dumps(record)) == record
    assert record["server_side_tool_usage"] == {"web_search": 2, "x_search": 1}
    assert record["created"] == "2027-01-15T08:00:00+00:00"


def test_index_zero_alone_would_miss_the_answer():
    r = Response(agentic_reply(), 0)  # what the client read before: index 0 only
    assert r.content == "Let me look." and r.finish_reason is None


def test_defaults_without_cost_tier_or_time():
    reply = chat_pb2.GetChatCompletionResponse(outputs=[_out(0, chat_pb2.ROLE_ASSISTANT, "x")])
    r = Response(reply, None)
    assert r.cost_usd is None and r.service_tier == "default" and r.created is None
    assert r.tool_calls == [] and r.tool_outputs == [] and r.image_outputs == []


def _image_call(status: int = chat_pb2.TOOL_CALL_STATUS_COMPLETED, cid: str = "img"):
    return _call(
        chat_pb2.TOOL_CALL_TYPE_IMAGE_GENERATION_TOOL, "imagine_text_to_image", status, cid
    )


def _envelope(data: bytes = JPEG) -> str:
    url = f"data:image/jpeg;base64,{base64.b64encode(data).decode()}"
    return json.dumps({"__type": "image_generation_result", "result": url, "image_uuid": "u1"})


def test_image_generation_outputs_decode_their_envelope():
    r = Response(agentic_reply(_envelope(), _image_call()), None)
    [img] = r.image_outputs
    assert img.image == JPEG and img.mime_type == "image/jpeg" and img.image_uuid == "u1"
    assert img.tool_call.name == "imagine_text_to_image" and img.index == 1
    assert img.to_dict() == {"index": 1, "tool_call_id": "img", "mime_type": "image/jpeg",
                             "image_uuid": "u1"}  # fmt: skip


def test_failed_image_calls_are_left_out_and_bad_envelopes_are_errors():
    failed = Response(agentic_reply("{}", _image_call(chat_pb2.TOOL_CALL_STATUS_FAILED)), None)
    assert failed.image_outputs == []
    for content in ("not json", json.dumps({"__type": "other"}),
                    json.dumps({"__type": "image_generation_result", "result": "https://x"})):  # fmt: skip
        broken = Response(agentic_reply(content, _image_call()), None)
        with pytest.raises(InvalidResponseError, match="not an image result envelope"):
            _ = broken.image_outputs


def test_batch_indices_each_read_their_own_outputs():
    reply = chat_pb2.GetChatCompletionResponse(outputs=[
        _out(1, chat_pb2.ROLE_ASSISTANT, "b", reason=sample_pb2.REASON_MAX_LEN),
        _out(0, chat_pb2.ROLE_ASSISTANT, "a", reason=sample_pb2.REASON_STOP),
    ])  # fmt: skip
    a, b = Response(reply, 0), Response(reply, 1)
    assert (a.content, a.finish_reason, b.content, b.finish_reason) == ("a", "stop", "b", "length")
    assert Response(reply, None).content == "b"  # the last output by index


def test_answer_reads_what_the_properties_read():
    batch = chat_pb2.GetChatCompletionResponse(outputs=[
        _out(1, chat_pb2.ROLE_ASSISTANT, "b", [_call(chat_pb2.TOOL_CALL_TYPE_CLIENT_SIDE_TOOL, "f")],
             reason=sample_pb2.REASON_TOOL_CALLS, reasoning_content="rb"),
        _out(0, chat_pb2.ROLE_ASSISTANT, "a", reason=sample_pb2.REASON_STOP),
    ])  # fmt: skip
    tool_only = chat_pb2.GetChatCompletionResponse(outputs=[_out(0, chat_pb2.ROLE_TOOL, "t")])
    cases = [
        Response(agentic_reply(), None),
        Response(agentic_reply(), 0),
        Response(agentic_reply(), 2),
        Response(batch, None),
        Response(batch, 0),
        Response(batch, 1),
        Response(batch, 5),  # no output for this index
        Response(tool_only, None),  # no answer, only a tool's output
        Response(chat_pb2.GetChatCompletionResponse(), None),
    ]
    for r in cases:
        answer = r.answer()
        assert answer.content == r.content
        assert answer.reasoning_content == r.reasoning_content
        assert answer.tool_calls == r.tool_calls
        assert answer.finish_reason == r.finish_reason
    assert Response(batch, 1).answer().tool_calls[0].name == "f"
    assert Response(tool_only, None).answer() == ("", "", [], None)


def test_append_replays_every_output_of_an_agentic_answer():
    messages = response_messages(Response(agentic_reply(), None))
    assert [m.role for m in messages] == [chat_pb2.ROLE_ASSISTANT, chat_pb2.ROLE_TOOL,
                                          chat_pb2.ROLE_ASSISTANT]  # fmt: skip
    assert messages[0].tool_calls[0].type == chat_pb2.TOOL_CALL_TYPE_WEB_SEARCH_TOOL
    assert messages[0].reasoning_content == "plan"
    assert messages[1].tool_call_id == "c1" and messages[1].content[0].text == "results"
    assert messages[2].encrypted_content == "enc" and messages[2].reasoning_content == "think"
    with pytest.raises(RequestValidationError, match="replays as 3 messages"):
        to_message(Response(agentic_reply(), None))


def test_append_of_one_batch_answer_is_one_assistant_message():
    reply = agentic_reply()
    for out in reply.outputs:  # one answer of a batch: all its outputs at its index
        out.index = 0
    [msg] = to_messages(Response(reply, 0))
    assert msg.role == chat_pb2.ROLE_ASSISTANT and msg.content[0].text == "Final answer."
    assert [c.id for c in msg.tool_calls] == ["c1"] and msg.encrypted_content == "enc"
    assert not msg.HasField("tool_call_id")


def test_tool_calls_keep_their_type_and_status_through_the_json_form():
    call = ToolCall.from_proto(_call(chat_pb2.TOOL_CALL_TYPE_CODE_EXECUTION_TOOL, "code"))
    data = call.to_dict()
    assert data["type"] == "code_execution" and data["status"] == "completed"
    [msg] = to_messages({"role": "assistant", "content": "", "tool_calls": [data]})
    assert msg.tool_calls[0].type == chat_pb2.TOOL_CALL_TYPE_CODE_EXECUTION_TOOL
    assert msg.tool_calls[0].status == chat_pb2.TOOL_CALL_STATUS_COMPLETED
    client_side = {"id": "x", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    [msg] = to_messages({"role": "assistant", "tool_calls": [client_side]})
    assert msg.tool_calls[0].type == chat_pb2.TOOL_CALL_TYPE_CLIENT_SIDE_TOOL
    fn = ToolCall.from_proto(msg.tool_calls[0])
    assert fn.type == "client_side_tool" and fn.status is None and not fn.server_side
    with pytest.raises(RequestValidationError, match="unknown type"):
        to_messages({"role": "assistant", "tool_calls": [{**client_side, "type": "teleport"}]})


def test_stream_chunks_fold_like_the_unary_reply_and_show_tool_outputs():
    reply = agentic_reply()
    acc = StreamAccumulator()
    chunks = []
    for out in reply.outputs:
        chunk = chat_pb2.GetChatCompletionChunk(
            id="r", model="m", service_tier=reply.service_tier, created=reply.created,
            outputs=[chat_pb2.CompletionOutputChunk(
                index=out.index, finish_reason=out.finish_reason,
                delta=chat_pb2.Delta(role=out.message.role, content=out.message.content,
                                     reasoning_content=out.message.reasoning_content,
                                     encrypted_content=out.message.encrypted_content,
                                     tool_calls=out.message.tool_calls,
                                     citations=out.message.citations))],
        )  # fmt: skip
        chunks.append(Chunk(chunk, None))
        acc.add(chunk)
    acc.add(chat_pb2.GetChatCompletionChunk(id="r", usage=reply.usage))
    assert Response(acc.proto, None).to_dict() == Response(reply, None).to_dict()
    assert [c.content for c in chunks] == ["Let me look.", "", "Final answer."]
    assert chunks[1].tool_outputs[0].content == "results" and chunks[1].tool_calls == []
    assert chunks[2].finish_reason == "stop" and chunks[2].inline_citations[0].url == "https://a"


def test_batch_results_read_agentic_replies_as_one_answer():
    assert _agentic(agentic_reply())
    plain = chat_pb2.GetChatCompletionResponse(outputs=[
        _out(0, chat_pb2.ROLE_ASSISTANT, "a"), _out(1, chat_pb2.ROLE_ASSISTANT, "b"),
        _out(2, chat_pb2.ROLE_ASSISTANT, "", [_call(chat_pb2.TOOL_CALL_TYPE_CLIENT_SIDE_TOOL, "f")]),
    ])  # fmt: skip
    assert not _agentic(plain)
    one = BatchResult("q", response=Response(agentic_reply(), None))
    assert [r.content for r in one.responses] == ["Final answer."]
    many = BatchResult("q", response=Response(plain, 0))
    assert [r.content for r in many.responses] == ["a", "b", ""]
