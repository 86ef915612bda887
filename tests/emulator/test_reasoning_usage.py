"""Reasoning models, search citations, and usage/cost consistent with Tokenize and Models."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2

from tests.emulator.conftest import connect, rpc_error, user
from xai_pipelines.emulator import EmulatorConfig
from xai_pipelines.emulator.catalog import Catalog, chat_cost_ticks
from xai_pipelines.emulator.tokenizer import MESSAGE_OVERHEAD_TOKENS
from xai_pipelines.proto import chat_pb2, image_pb2, tokenize_pb2


def test_reasoning_tokens_scale_with_effort(stubs):
    tokens = {}
    for effort in (chat_pb2.EFFORT_LOW, chat_pb2.EFFORT_MEDIUM, chat_pb2.EFFORT_HIGH):
        r = stubs.complete(prompt="Think", seed=1, model="grok-4.3", reasoning_effort=effort)
        out = r.outputs[0].message
        assert out.reasoning_content
        tokens[effort] = r.usage.reasoning_tokens
    assert (
        tokens[chat_pb2.EFFORT_LOW] < tokens[chat_pb2.EFFORT_MEDIUM] < tokens[chat_pb2.EFFORT_HIGH]
    )
    assert tokens[chat_pb2.EFFORT_HIGH] >= 3 * tokens[chat_pb2.EFFORT_LOW]
    none = stubs.complete(
        prompt="Think", seed=1, model="grok-4.3", reasoning_effort=chat_pb2.EFFORT_NONE
    )
    assert none.usage.reasoning_tokens == 0 and not none.outputs[0].message.reasoning_content


def test_unset_effort_runs_at_the_documented_default_and_retired_names_at_theirs(stubs):
    # docs.x.ai reasoning guide: grok-4.3 defaults to low; the May 15 retirement page:
    # retired reasoning slugs run on grok-4.3 at low, non-reasoning ones at none.
    def reasoning(model: str, **kw: int) -> int:
        r = stubs.complete(prompt="Think", seed=1, model=model, **kw)
        assert r.model == "grok-4.3"
        return r.usage.reasoning_tokens

    medium = reasoning("grok-4.3", reasoning_effort=chat_pb2.EFFORT_MEDIUM)
    assert 0 < reasoning("grok-4.3") < medium  # low, not the emulator's old medium
    assert 0 < reasoning("grok-4-0709") < medium
    assert reasoning("grok-3") == 0


def test_non_reasoning_model_has_no_reasoning_and_refuses_effort(stubs):
    model = "grok-4.20-0309-non-reasoning"
    r = stubs.complete(prompt="Think", seed=1, model=model)
    assert r.usage.reasoning_tokens == 0 and not r.outputs[0].message.reasoning_content
    err = rpc_error(stubs.complete, model=model, reasoning_effort=chat_pb2.EFFORT_LOW)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == f"Model {model} does not support parameter reasoningEffort."


def test_reasoning_models_are_configurable(emulator_factory):
    config = EmulatorConfig(reasoning_models=("grok-4.20-0309-non-reasoning",))
    stubs = connect(emulator_factory(config))
    r = stubs.complete(prompt="Think", seed=1, model="grok-4.20-non-reasoning")
    assert r.usage.reasoning_tokens > 0 and r.outputs[0].message.reasoning_content
    effort = stubs.complete(
        prompt="Think",
        seed=1,
        model="grok-4.20-non-reasoning",
        reasoning_effort=chat_pb2.EFFORT_HIGH,
    )
    assert effort.usage.reasoning_tokens > r.usage.reasoning_tokens
    stubs.channel.close()


def test_search_parameters_are_refused_now_live_search_is_gone(stubs):
    # Live search's citations are no more (see emulator/search.py); tests/emulator/
    # test_server_tools.py covers the refusal and the web_search / x_search tools.
    params = chat_pb2.SearchParameters(mode=chat_pb2.ON_SEARCH_MODE, return_citations=True)
    err = rpc_error(stubs.complete, prompt="News?", search_parameters=params)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "Live search" in err.details()


def test_search_tools_give_citations_and_server_side_tool_usage(stubs):
    tools = [
        chat_pb2.Tool(web_search=chat_pb2.WebSearch()),
        chat_pb2.Tool(x_search=chat_pb2.XSearch()),
    ]
    r = stubs.complete(prompt="What happened?", seed=1, tools=tools)
    assert r.citations
    assert any("x.com" in c for c in r.citations)
    assert set(r.usage.server_side_tools_used) == {1, 2}


def test_usage_matches_tokenize_and_prices(stubs):
    prompt = "Count these tokens, please!"
    r = stubs.complete(prompt=prompt, seed=2, model="grok-4.3")
    tok = stubs.tokenize.TokenizeText

    def count(text: str) -> int:
        return len(
            tok(
                tokenize_pb2.TokenizeTextRequest(text=text, model="grok-4.3"),
                metadata=stubs.metadata,
            ).tokens
        )

    out = r.outputs[0].message
    assert r.usage.prompt_tokens == count(prompt) + MESSAGE_OVERHEAD_TOKENS
    assert r.usage.completion_tokens == count(out.content)
    assert r.usage.reasoning_tokens == count(out.reasoning_content)
    model = next(
        m
        for m in stubs.models.ListLanguageModels(empty_pb2.Empty(), metadata=stubs.metadata).models
        if m.name == "grok-4.3"
    )
    expected = (
        r.usage.prompt_text_tokens * model.prompt_text_token_price
        + r.usage.cached_prompt_text_tokens * model.cached_prompt_token_price
        + (r.usage.completion_tokens + r.usage.reasoning_tokens) * model.completion_text_token_price
    )
    assert r.usage.cost_in_usd_ticks == expected


def test_image_parts_count_as_image_tokens(stubs):
    message = chat_pb2.Message(
        role=chat_pb2.ROLE_USER,
        content=[
            chat_pb2.Content(text="What is this?"),
            chat_pb2.Content(
                image_url=image_pb2.ImageUrlContent(image_url="data:image/png;base64,AAAA")
            ),
        ],
    )
    r = stubs.complete(messages=[message], seed=1)
    plain = stubs.complete(messages=[user("What is this?")], seed=1)
    assert r.usage.prompt_image_tokens == 256
    assert r.usage.prompt_text_tokens == plain.usage.prompt_text_tokens


def test_encrypted_content_on_request(stubs):
    plain = stubs.complete(prompt="Think", seed=1, model="grok-4.3")
    assert not plain.outputs[0].message.encrypted_content
    r = stubs.complete(prompt="Think", seed=1, model="grok-4.3", use_encrypted_content=True)
    encrypted = r.outputs[0].message.encrypted_content
    assert encrypted and encrypted != r.outputs[0].message.reasoning_content
    chunks = stubs.stream(prompt="Think", seed=1, model="grok-4.3", use_encrypted_content=True)
    assert "".join(o.delta.encrypted_content for c in chunks for o in c.outputs) == encrypted


def test_long_context_rate_doubles_every_token_from_the_threshold():
    model = Catalog().language("grok-4.3")
    assert model is not None
    # $1.25 / $0.20 / $2.50 per 1M tokens; from a 200k-token prompt $2.50 / $0.40 / $5.
    below = chat_cost_ticks(model, 199_000, 999, 100, 50, prompt_image_tokens=0)
    assert below == 199_000 * 12_500 + 999 * 2_000 + 150 * 25_000
    at = chat_cost_ticks(model, 199_000, 744, 100, 50, prompt_image_tokens=256)
    assert at == 199_000 * 25_000 + 744 * 4_000 + 256 * 25_000 + 150 * 50_000
    forced = chat_cost_ticks(model, 10, 0, 10, 0, prompt_tokens=200_000)
    assert forced == 10 * 25_000 + 10 * 50_000


def test_long_prompt_is_billed_at_the_long_context_rate(stubs):
    r = stubs.complete(prompt="word " * 200_000, seed=1, model="grok-4.7")
    u = r.usage
    assert u.prompt_tokens >= 200_000
    # grok-4.7 from 200k tokens: $4 input, $12 output per 1M tokens.
    assert (
        u.cost_in_usd_ticks
        == u.prompt_text_tokens * 40_000 + (u.completion_tokens + u.reasoning_tokens) * 120_000
    )
