"""BatchMgmt request metadata and single results; the request id the emulator attaches."""

from __future__ import annotations

import time

import pytest

from xai_pipelines.emulator import EmulatorConfig
from xai_pipelines.sdk import Client, build_image_request, user
from xai_pipelines.sdk.errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    RequestValidationError,
)


def _wait_done(client: Client, batch_id: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if client.batch.get(batch_id).done:
            return
        time.sleep(0.02)
    raise AssertionError("batch did not finish")


def test_request_metadata_pages_and_state_filter(emulator_factory, make_client):
    client = make_client(emulator_factory())
    batch = client.batch.create("meta")
    chats = [
        (f"q{i}", client.chat.create("grok-4.3", [user(f"Q {i}")], max_tokens=4, seed=i))
        for i in range(3)
    ]
    bad = ("bad", client.chat.create("grok-4.3", [user("x")], temperature=7))
    client.batch.add_requests(batch.batch_id, [*chats, ("img", build_image_request("a fox")), bad])
    _wait_done(client, batch.batch_id)
    items, token = client.batch.list_request_metadata(batch.batch_id, limit=2)
    assert [i.batch_request_id for i in items] == ["q0", "q1"] and token
    every = {i.batch_request_id: i for i in client.batch.iter_request_metadata(batch.batch_id, 2)}
    assert list(every) == ["q0", "q1", "q2", "img", "bad"]
    assert every["q0"].endpoint == "/v1/chat/completions" and every["q0"].model == "grok-4.3"
    assert every["img"].endpoint == "/v1/images/generations"
    assert every["bad"].state == "failed" and every["q2"].state == "succeeded"
    assert every["q1"].finish_time is not None and every["q1"].create_time is not None
    assert every["q1"].finish_time >= every["q1"].create_time
    failed = list(client.batch.iter_request_metadata(batch.batch_id, states=["failed"]))
    assert [i.batch_request_id for i in failed] == ["bad"]
    with pytest.raises(RequestValidationError):
        client.batch.list_request_metadata(batch.batch_id, states=["done"])  # type: ignore[list-item]


def test_get_request_result_returns_the_request_and_its_result(emulator_factory, make_client):
    client = make_client(emulator_factory())
    batch = client.batch.create("one")
    chat = client.chat.create("grok-4.3", [user("Say hi")], max_tokens=6, seed=5, n=2)
    client.batch.add_requests(batch.batch_id, [("greet", chat), ("copy", chat.request)])
    _wait_done(client, batch.batch_id)
    request, result = client.batch.get_request_result(batch.batch_id, "greet")
    assert request.completion_request.messages[0].content[0].text == "Say hi"
    assert result is not None and result.ok and result.batch_request_id == "greet"
    online = client.chat.create("grok-4.3", [user("Say hi")], max_tokens=6, seed=5).sample_batch(2)
    assert [r.content for r in result.responses] == [r.content for r in online]
    with pytest.raises(NotFoundError) as caught:
        client.batch.get_request_result(batch.batch_id, "nope")
    assert caught.value.request_id and caught.value.request_id.startswith("req_")


def test_unfinished_request_has_no_result(emulator_factory, make_client):
    client = make_client(emulator_factory(EmulatorConfig(batch_request_delay_s=5.0)))
    batch = client.batch.create("slow")
    client.batch.add_requests(batch.batch_id, [("a", build_image_request("a fox"))])
    request, result = client.batch.get_request_result(batch.batch_id, "a")
    assert request.image_request.prompt == "a fox" and result is None
    (meta,) = client.batch.iter_request_metadata(batch.batch_id)
    assert meta.state == "pending" and meta.finish_time is None
    client.batch.cancel(batch.batch_id)


def test_errors_from_the_emulator_carry_a_distinct_request_id(emulator, make_client):
    client = make_client(emulator)
    ids = set()
    for _ in range(2):
        with pytest.raises(InvalidRequestError) as caught:
            client.chat.create("grok-4.3", [user("x")], temperature=7).sample()
        assert caught.value.request_id and caught.value.request_id in str(caught.value)
        ids.add(caught.value.request_id)
    assert len(ids) == 2


def test_refused_key_error_carries_a_request_id(emulator_factory):
    emu = emulator_factory(EmulatorConfig(api_keys=("right-key",)))
    with (
        Client(api_key="wrong-key", api_host=emu.address) as client,
        pytest.raises(AuthenticationError) as caught,
    ):
        client.models.list_language_models()
    assert caught.value.request_id and caught.value.request_id.startswith("req_")
    assert "wrong-key" not in str(caught.value)
