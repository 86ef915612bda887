"""Server-side tools: agentic responses over unary, stream, deferred and batch; live search;
service tier. Checked with raw stubs and with the official xai-sdk's response aggregation."""

from __future__ import annotations

import base64
import json
import time

import grpc
import pytest
from xai_sdk import Client
from xai_sdk.chat import tool as sdk_tool
from xai_sdk.chat import user as sdk_user
from xai_sdk.tools import code_execution, image_generation, web_search, x_search

from tests.emulator.conftest import chat_request, rpc_error
from xai_pipelines.catalog import load_catalog
from xai_pipelines.emulator.catalog import Catalog, chat_cost_ticks
from xai_pipelines.emulator.search import LIVE_SEARCH_GONE
from xai_pipelines.proto import batch_pb2, chat_pb2, deferred_pb2, sample_pb2, usage_pb2

MODEL = "grok-4.3"
PROMPT = "What is 12 * (3 + 4)? Look it up and compute it."
WEB = chat_pb2.Tool(web_search=chat_pb2.WebSearch())
X = chat_pb2.Tool(x_search=chat_pb2.XSearch(allowed_x_handles=["xai"]))
CODE = chat_pb2.Tool(code_execution=chat_pb2.CodeExecution())
IMAGE = chat_pb2.Tool(image_generation=chat_pb2.ImageGeneration())
ALL_OUTPUTS = [
    chat_pb2.INCLUDE_OPTION_WEB_SEARCH_CALL_OUTPUT,
    chat_pb2.INCLUDE_OPTION_X_SEARCH_CALL_OUTPUT,
    chat_pb2.INCLUDE_OPTION_CODE_EXECUTION_CALL_OUTPUT,
    chat_pb2.INCLUDE_OPTION_COLLECTIONS_SEARCH_CALL_OUTPUT,
    chat_pb2.INCLUDE_OPTION_MCP_CALL_OUTPUT,
]


def agentic(stubs, tools, **fields):
    fields.setdefault("model", MODEL)
    fields.setdefault("seed", 5)
    return stubs.complete(prompt=fields.pop("prompt", PROMPT), tools=tools, **fields)


def test_agentic_response_has_call_and_output_pairs_then_the_answer(stubs):
    r = agentic(stubs, [WEB, X, CODE], include=ALL_OUTPUTS)
    assert [o.index for o in r.outputs] == list(range(7))
    roles = [o.message.role for o in r.outputs]
    assert roles == [chat_pb2.ROLE_ASSISTANT, chat_pb2.ROLE_TOOL] * 3 + [chat_pb2.ROLE_ASSISTANT]
    types = [o.message.tool_calls[0].type for o in r.outputs[:6]]
    assert types == [
        chat_pb2.TOOL_CALL_TYPE_WEB_SEARCH_TOOL,
        chat_pb2.TOOL_CALL_TYPE_WEB_SEARCH_TOOL,
        chat_pb2.TOOL_CALL_TYPE_X_SEARCH_TOOL,
        chat_pb2.TOOL_CALL_TYPE_X_SEARCH_TOOL,
        chat_pb2.TOOL_CALL_TYPE_CODE_EXECUTION_TOOL,
        chat_pb2.TOOL_CALL_TYPE_CODE_EXECUTION_TOOL,
    ]
    for call_out, tool_out in zip(r.outputs[0:6:2], r.outputs[1:6:2], strict=True):
        assert call_out.message.tool_calls == tool_out.message.tool_calls
        assert call_out.message.tool_calls[0].status == chat_pb2.TOOL_CALL_STATUS_COMPLETED
        assert not call_out.message.content and tool_out.message.content
    web = json.loads(r.outputs[1].message.content)["results"]
    assert all(hit["url"].startswith("https://") for hit in web)
    posts = json.loads(r.outputs[3].message.content)["results"]
    assert all(hit["url"].startswith("https://x.com/xai/status/") for hit in posts)
    code = r.outputs[4].message.tool_calls[0].function
    assert json.loads(code.arguments)["code"] == "result = 12 * (3 + 4)\nprint(result)"
    assert json.loads(r.outputs[5].message.content)["stdout"] == "84\n"
    final = r.outputs[-1]
    assert final.finish_reason == sample_pb2.REASON_STOP and final.message.content
    assert list(r.citations) == [hit["url"] for hit in web + posts]
    assert list(r.usage.server_side_tools_used) == [
        usage_pb2.SERVER_SIDE_TOOL_WEB_SEARCH,
        usage_pb2.SERVER_SIDE_TOOL_X_SEARCH,
        usage_pb2.SERVER_SIDE_TOOL_CODE_EXECUTION,
    ]


def test_tool_fees_are_in_the_cost(stubs):
    r = agentic(stubs, [WEB, X, CODE])
    u = r.usage
    model = Catalog().language(MODEL)
    assert model is not None
    tokens = chat_cost_ticks(
        model, u.prompt_text_tokens, 0, u.completion_tokens, u.reasoning_tokens, 0
    )
    prices = load_catalog().tool_prices
    fees = prices["web_search"] + prices["x_search"] + prices["code_execution"]
    assert fees == 3 * 50_000_000  # $5 per 1,000 calls each
    assert u.cost_in_usd_ticks == tokens + fees


def test_tool_outputs_only_when_included_and_inline_citations_on_request(stubs):
    bare = agentic(stubs, [WEB])
    assert bare.outputs[1].message.role == chat_pb2.ROLE_TOOL
    assert bare.outputs[1].message.content == ""
    assert bare.citations and not bare.outputs[-1].message.citations
    cited = agentic(stubs, [WEB], include=[chat_pb2.INCLUDE_OPTION_INLINE_CITATIONS])
    final = cited.outputs[-1].message
    (citation,) = final.citations
    marker = final.content[citation.start_index : citation.end_index]
    assert marker == f"[[1]]({citation.web_citation.url})"
    assert citation.web_citation.url == cited.citations[0]


def test_agentic_answers_are_deterministic(stubs):
    a = agentic(stubs, [WEB, CODE], include=ALL_OUTPUTS)
    b = agentic(stubs, [WEB, CODE], include=ALL_OUTPUTS)
    assert list(a.outputs) == list(b.outputs) and list(a.citations) == list(b.citations)
    assert a.usage == b.usage
    other = agentic(stubs, [WEB, CODE], include=ALL_OUTPUTS, prompt="Something else entirely")
    assert list(other.citations) != list(a.citations)


def test_image_generation_tool_returns_a_real_image_envelope(stubs):
    r = agentic(stubs, [IMAGE], prompt="Draw a lighthouse")
    call, output = r.outputs[0], r.outputs[1]
    (tool_call,) = output.message.tool_calls
    assert tool_call.type == chat_pb2.TOOL_CALL_TYPE_IMAGE_GENERATION_TOOL
    assert tool_call.function.name == "imagine_text_to_image"
    assert call.message.tool_calls[0] == tool_call
    envelope = json.loads(output.message.content)
    assert envelope["__type"] == "image_generation_result" and envelope["image_uuid"]
    png = base64.b64decode(envelope["result"].split("base64,", 1)[1])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = load_catalog().image("grok-imagine-image")
    assert image is not None
    assert r.usage.cost_in_usd_ticks > image.image_price
    assert list(r.usage.server_side_tools_used) == [usage_pb2.SERVER_SIDE_TOOL_IMAGE_GENERATION]


def test_collections_and_mcp_tools(stubs):
    tools = [
        chat_pb2.Tool(
            collections_search=chat_pb2.CollectionsSearch(collection_ids=["col_1"], limit=2)
        ),
        chat_pb2.Tool(
            mcp=chat_pb2.MCP(
                server_label="docs",
                server_url="https://mcp.example/sse",
                allowed_tool_names=["lookup"],
            )
        ),
    ]
    r = agentic(stubs, tools, include=[*ALL_OUTPUTS, chat_pb2.INCLUDE_OPTION_INLINE_CITATIONS])
    matches = json.loads(r.outputs[1].message.content)["matches"]
    assert len(matches) == 2
    assert r.outputs[2].message.tool_calls[0].function.name == "lookup"
    assert json.loads(r.outputs[3].message.content)["server_label"] == "docs"
    prices = load_catalog().tool_prices
    model = Catalog().language(MODEL)
    assert model is not None
    u = r.usage
    tokens = chat_cost_ticks(
        model, u.prompt_text_tokens, 0, u.completion_tokens, u.reasoning_tokens
    )
    assert u.cost_in_usd_ticks == tokens + prices["collections_search"]  # MCP has no call fee
    cited = r.outputs[-1].message.citations
    assert cited[0].collections_citation.collection_ids == ["col_1"]
    err = rpc_error(stubs.complete, tools=[chat_pb2.Tool(mcp=chat_pb2.MCP(server_label="x"))])
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "server_url" in err.details()


def test_mixed_function_and_server_tools_pause_for_the_client(stubs):
    weather = chat_pb2.Tool(
        function=chat_pb2.Function(
            name="get_weather",
            parameters=json.dumps(
                {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
            ),
        )
    )
    r = agentic(stubs, [WEB, weather], prompt="Search the news, then get the weather")
    assert r.outputs[0].message.tool_calls[0].type == chat_pb2.TOOL_CALL_TYPE_WEB_SEARCH_TOOL
    final = r.outputs[-1]
    assert final.finish_reason == sample_pb2.REASON_TOOL_CALLS
    (client_call,) = final.message.tool_calls
    assert client_call.type == chat_pb2.TOOL_CALL_TYPE_CLIENT_SIDE_TOOL
    assert client_call.function.name == "get_weather"


def test_tool_choice_none_and_max_turns_limit_the_calls(stubs):
    none = agentic(
        stubs, [WEB, CODE], tool_choice=chat_pb2.ToolChoice(mode=chat_pb2.TOOL_MODE_NONE)
    )
    assert len(none.outputs) == 1 and not none.usage.server_side_tools_used
    one = agentic(stubs, [WEB, CODE], max_turns=1)
    assert len(one.outputs) == 3
    assert list(one.usage.server_side_tools_used) == [usage_pb2.SERVER_SIDE_TOOL_WEB_SEARCH]
    err = rpc_error(stubs.complete, tools=[WEB], n=2, model=MODEL)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "n must be 1" in err.details()


def test_stream_deltas_rebuild_the_agentic_response(stubs):
    request = chat_request(
        PROMPT, model=MODEL, seed=5, tools=[WEB, CODE, IMAGE], include=ALL_OUTPUTS
    )
    unary = stubs.chat.GetCompletion(request, metadata=stubs.metadata)
    chunks = list(stubs.chat.GetCompletionChunk(request, metadata=stubs.metadata))
    rebuilt: dict[int, chat_pb2.CompletionMessage] = {}
    for chunk in chunks[:-1]:
        (entry,) = chunk.outputs  # one output at a time, in order
        message = rebuilt.setdefault(entry.index, chat_pb2.CompletionMessage())
        message.role = entry.delta.role
        message.content += entry.delta.content
        message.reasoning_content += entry.delta.reasoning_content
        message.tool_calls.extend(entry.delta.tool_calls)
        message.citations.extend(entry.delta.citations)
    assert [rebuilt[o.index] for o in unary.outputs] == [o.message for o in unary.outputs]
    order = [c.outputs[0].index for c in chunks[:-1]]
    assert order == sorted(order)
    last = chunks[-1]
    assert [(o.index, o.finish_reason, o.delta.role) for o in last.outputs] == [
        (o.index, o.finish_reason, o.message.role) for o in unary.outputs
    ]
    assert last.usage == unary.usage and list(last.citations) == list(unary.citations)


def test_deferred_and_batch_give_the_same_agentic_answer(stubs):
    request = chat_request(PROMPT, model=MODEL, seed=5, tools=[WEB, CODE])
    unary = stubs.chat.GetCompletion(request, metadata=stubs.metadata)
    started = stubs.chat.StartDeferredCompletion(request, metadata=stubs.metadata)
    deadline = time.monotonic() + 10
    while True:
        polled = stubs.chat.GetDeferredCompletion(
            deferred_pb2.GetDeferredRequest(request_id=started.request_id), metadata=stubs.metadata
        )
        if polled.status == deferred_pb2.DONE or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert list(polled.response.outputs) == list(unary.outputs)
    batch = stubs.batch.CreateBatch(
        batch_pb2.CreateBatchRequest(name="agentic"), metadata=stubs.metadata
    )
    stubs.batch.AddBatchRequests(
        batch_pb2.AddBatchRequestsRequest(
            batch_id=batch.batch_id,
            batch_requests=[
                batch_pb2.BatchRequest(batch_request_id="a", completion_request=request)
            ],
        ),
        metadata=stubs.metadata,
    )
    while time.monotonic() < deadline:
        results = stubs.batch.ListBatchResults(
            batch_pb2.ListBatchResultsRequest(batch_id=batch.batch_id), metadata=stubs.metadata
        ).results
        if results:
            break
        time.sleep(0.05)
    (result,) = results
    assert list(result.response.completion_response.outputs) == list(unary.outputs)
    assert (
        result.response.completion_response.usage.cost_in_usd_ticks == unary.usage.cost_in_usd_ticks
    )


def test_live_search_is_refused_like_the_hosted_api(stubs):
    for mode in (chat_pb2.ON_SEARCH_MODE, chat_pb2.AUTO_SEARCH_MODE, chat_pb2.OFF_SEARCH_MODE):
        err = rpc_error(
            stubs.complete, model=MODEL, search_parameters=chat_pb2.SearchParameters(mode=mode)
        )
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.details() == LIVE_SEARCH_GONE


def test_service_tier_is_echoed(stubs):
    default = stubs.complete(model=MODEL, seed=1)
    assert default.service_tier == usage_pb2.SERVICE_TIER_DEFAULT
    priority = stubs.complete(model=MODEL, seed=1, service_tier=usage_pb2.SERVICE_TIER_PRIORITY)
    assert priority.service_tier == usage_pb2.SERVICE_TIER_PRIORITY
    assert priority.usage.cost_in_usd_ticks == default.usage.cost_in_usd_ticks
    chunks = stubs.stream(model=MODEL, seed=1, service_tier=usage_pb2.SERVICE_TIER_PRIORITY)
    assert all(c.service_tier == usage_pb2.SERVICE_TIER_PRIORITY for c in chunks)
    err = rpc_error(stubs.complete, model=MODEL, service_tier=7)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "service_tier" in err.details()


@pytest.fixture
def sdk(emulator):
    client = Client(api_key=emulator.api_key, api_host=emulator.address, use_insecure_channel=True)
    yield client
    client.close()


def test_official_sdk_folds_the_agentic_response(sdk):
    chat = sdk.chat.create(
        MODEL, tools=[web_search(), code_execution(), image_generation()], seed=3,
        include=["code_execution_call_output"],
    )  # fmt: skip
    chat.append(sdk_user("What is 6 * 7? Draw it too."))
    response = chat.sample()
    assert response.content and response.finish_reason == "REASON_STOP"
    assert response.server_side_tool_usage == {
        "SERVER_SIDE_TOOL_WEB_SEARCH": 1,
        "SERVER_SIDE_TOOL_CODE_EXECUTION": 1,
        "SERVER_SIDE_TOOL_IMAGE_GENERATION": 1,
    }
    assert len(response.tool_outputs) == 3 and len(response.citations) == 3
    (image,) = response.image_outputs
    assert image.image.startswith(b"\x89PNG") and image.mime_type == "image/png"
    assert json.loads(response.tool_outputs[1].message.content)["stdout"] == "42\n"
    assert response.cost_usd is not None and response.cost_usd > 0
    assert response.service_tier is not None

    streamed = None
    for response_so_far, _chunk in chat.stream():
        streamed = response_so_far
    assert streamed is not None
    assert streamed.content == response.content
    assert streamed.finish_reason == "REASON_STOP"
    assert streamed.server_side_tool_usage == response.server_side_tool_usage
    assert len(streamed.tool_outputs) == 3 and len(streamed.image_outputs) == 1
    assert [c.function.name for c in streamed.tool_calls] == [
        "web_search",
        "code_execution",
        "imagine_text_to_image",
    ]


def test_official_sdk_mixed_tools_return_the_client_call(sdk):
    chat = sdk.chat.create(
        MODEL,
        tools=[
            x_search(),
            sdk_tool("get_weather", "Weather", {"type": "object", "properties": {}}),
        ],
    )
    chat.append(sdk_user("Check X, then get the weather"))
    response = chat.sample()
    assert response.finish_reason == "REASON_TOOL_CALLS"
    assert [c.function.name for c in response.tool_calls][-1] == "get_weather"
    assert response.server_side_tool_usage == {"SERVER_SIDE_TOOL_X_SEARCH": 1}
