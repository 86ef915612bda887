"""Prompt caching per x-grok-conv-id: cached prefix tokens and the cached price."""

from __future__ import annotations

from xai_sdk import Client
from xai_sdk.chat import system as sdk_system
from xai_sdk.chat import user as sdk_user

from tests.emulator.conftest import system, user
from xai_pipelines.emulator.catalog import Catalog, chat_cost_ticks
from xai_pipelines.emulator.prompt_cache import CachedMessage, PromptCache
from xai_pipelines.emulator.tokenizer import MESSAGE_OVERHEAD_TOKENS, count_tokens
from xai_pipelines.proto import chat_pb2

MODEL = "grok-4.3"
SYSTEM = "You are a careful assistant. " * 20


def assistant(text: str) -> chat_pb2.Message:
    return chat_pb2.Message(role=chat_pb2.ROLE_ASSISTANT, content=[chat_pb2.Content(text=text)])


def ask(stubs, messages, conv: str | None):
    metadata = stubs.metadata + ((("x-grok-conv-id", conv),) if conv else ())
    request = chat_pb2.GetCompletionsRequest(model=MODEL, messages=messages, seed=1)
    return stubs.chat.GetCompletion(request, metadata=metadata)


def tokens(text: str) -> int:
    return count_tokens(text) + MESSAGE_OVERHEAD_TOKENS


def test_a_shared_prefix_is_cached_and_billed_at_the_cached_price(stubs):
    turn1 = [system(SYSTEM), user("What is prompt caching?")]
    first = ask(stubs, turn1, "conv-prefix")
    assert first.usage.cached_prompt_text_tokens == 0
    turn2 = [*turn1, assistant(first.outputs[0].message.content), user("And why?")]
    second = ask(stubs, turn2, "conv-prefix")
    u = second.usage
    assert u.cached_prompt_text_tokens == tokens(SYSTEM) + tokens("What is prompt caching?")
    assert u.cached_prompt_text_tokens < u.prompt_text_tokens
    model = Catalog().language(MODEL)
    assert model is not None
    cached = u.cached_prompt_text_tokens
    expected = chat_cost_ticks(
        model, u.prompt_text_tokens - cached, cached, u.completion_tokens, u.reasoning_tokens
    )
    assert u.cost_in_usd_ticks == expected
    uncached = ask(stubs, turn2, None)
    assert uncached.usage.cached_prompt_text_tokens == 0
    assert uncached.usage.cost_in_usd_ticks > u.cost_in_usd_ticks  # caching saved money
    again = ask(stubs, turn2, "conv-prefix")
    assert again.usage.cached_prompt_text_tokens == again.usage.prompt_text_tokens


def test_no_hit_without_the_same_conversation_or_after_an_edit(stubs):
    turn1 = [system(SYSTEM), user("Question one")]
    ask(stubs, turn1, "conv-a")
    assert ask(stubs, turn1, "conv-b").usage.cached_prompt_text_tokens == 0
    edited = [system(SYSTEM + "!"), user("Question one")]
    assert ask(stubs, edited, "conv-a").usage.cached_prompt_text_tokens == 0
    assert ask(stubs, turn1, None).usage.cached_prompt_text_tokens == 0


def test_cache_is_lru_bounded():
    cache = PromptCache(max_conversations=2, max_prompts=2)
    prompt = [CachedMessage(b"a", 5), CachedMessage(b"b", 7)]
    assert cache.serve("one", "m", prompt) == 0
    assert cache.serve("one", "m", prompt) == 12
    assert cache.serve("one", "other-model", prompt) == 0
    cache.serve("two", "m", prompt)
    assert len(cache) == 2
    assert cache.serve("one", "m", prompt) == 0  # evicted: least recently used
    assert cache.serve(None, "m", prompt) == 0


def test_official_sdk_metadata_gets_cache_hits(emulator):
    client = Client(
        api_key=emulator.api_key,
        api_host=emulator.address,
        use_insecure_channel=True,
        metadata=(("x-grok-conv-id", "conv-sdk"),),
    )
    chat = client.chat.create(MODEL, messages=[sdk_system(SYSTEM)], seed=2)
    chat.append(sdk_user("Hello"))
    first = chat.sample()
    chat.append(first)
    chat.append(sdk_user("Tell me more"))
    second = chat.sample()
    assert first.usage.cached_prompt_text_tokens == 0
    assert second.usage.cached_prompt_text_tokens >= tokens(SYSTEM)
    client.close()
