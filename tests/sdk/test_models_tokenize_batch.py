"""Models (prices), Tokenize and BatchMgmt against the emulator."""

from __future__ import annotations

import time

import pytest

from xai_pipelines.emulator import EmulatorConfig
from xai_pipelines.sdk import Client, build_image_request, user
from xai_pipelines.sdk.errors import NotFoundError


def test_language_models_with_prices_and_cost_rule(client: Client):
    models = client.models.list_language_models()
    names = [m.name for m in models]
    assert "grok-4.3" in names
    grok = client.models.get_language_model("grok-4-latest")  # by alias
    assert grok.name == "grok-4.3" and grok.prompt_text_token_price > 0
    assert grok.completion_text_token_price > 0 and grok.max_prompt_length > 0
    r = client.chat.create("grok-4.3", messages=[user("price me")], max_tokens=10, seed=1).sample()
    assert grok.cost_usd_ticks(r.usage) == r.usage.cost_usd_ticks


def test_image_models(client: Client):
    models = client.models.list_image_generation_models()
    assert any(m.name == "grok-imagine-image" and m.image_price > 0 for m in models)
    assert client.models.get_image_generation_model("grok-imagine-image").image_price > 0
    with pytest.raises(NotFoundError):
        client.models.get_image_generation_model("nope")


def test_tokenize(client: Client):
    tokens = client.tokenize.tokenize_text("Hello world, hello!", "grok-4.3")
    assert len(tokens) >= 3 and "".join(t.string_token for t in tokens) == "Hello world, hello!"
    assert client.tokenize.count_tokens("Hello world, hello!", "grok-4.3") == len(tokens)


def wait_done(client: Client, batch_id: str):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        info = client.batch.get(batch_id)
        if info.done:
            return info
        time.sleep(0.02)
    raise AssertionError("batch did not finish")


def test_batch_lifecycle_with_paginated_results(emulator_factory, make_client):
    client = make_client(emulator_factory())
    batch = client.batch.create("nightly")
    assert batch.name == "nightly" and batch.batch_id
    chats = [(f"q{i}", client.chat.create("grok-4.3", messages=[user(f"Question {i}")], max_tokens=5, seed=i))
             for i in range(5)]  # fmt: skip
    client.batch.add_requests(batch.batch_id, chats)
    client.batch.add_requests(batch.batch_id, [("img", build_image_request("a fox", n=2))])
    client.batch.add_requests(
        batch.batch_id, [("bad", client.chat.create("grok-4.3", [user("x")], temperature=7))]
    )
    info = wait_done(client, batch.batch_id)
    assert info.num_requests == 7 and info.num_success == 6 and info.num_error == 1
    page = client.batch.list_results(batch.batch_id, limit=2)
    assert len(page.results) == 2 and page.pagination_token
    results = {
        r.batch_request_id: r for r in client.batch.iter_results(batch.batch_id, page_size=2)
    }
    assert set(results) == {"q0", "q1", "q2", "q3", "q4", "img", "bad"}
    direct = client.chat.create(
        "grok-4.3", messages=[user("Question 3")], max_tokens=5, seed=3
    ).sample()
    assert results["q3"].ok and results["q3"].response.content == direct.content
    assert len(results["img"].images) == 2 and results["img"].images[0].image
    assert not results["bad"].ok and results["bad"].error.code == "INVALID_ARGUMENT"
    assert batch.batch_id in {b.batch_id for b in client.batch.iter_batches(page_size=1)}


def test_batch_cancel(emulator_factory, make_client):
    client = make_client(emulator_factory(EmulatorConfig(batch_request_delay_s=0.5)))
    batch = client.batch.create("slow")
    client.batch.add_requests(
        batch.batch_id, [client.chat.create("grok-4.3", [user("x")]) for _ in range(4)]
    )
    cancelled = client.batch.cancel(batch.batch_id)
    assert cancelled.cancel_time is not None
    info = wait_done(client, batch.batch_id)
    assert info.num_cancelled >= 1
