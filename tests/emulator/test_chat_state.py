"""Deferred completions, stored completions, previous_response_id chaining, CompactContext."""

from __future__ import annotations

import time

import grpc

from tests.emulator.conftest import chat_request, connect, rpc_error, system, user
from xai_pipelines.emulator import EmulatorConfig
from xai_pipelines.emulator.store import CompletionStore
from xai_pipelines.proto import chat_pb2, deferred_pb2


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_deferred_state_machine_pending_done_expired():
    clock = FakeClock()
    store = CompletionStore(pending_s=2.0, retention_s=10.0, clock=clock)
    response = chat_pb2.GetChatCompletionResponse(id="r1")
    request_id = store.defer(response)
    assert store.fetch(request_id) == (deferred_pb2.PENDING, None)
    clock.now += 1.99
    assert store.fetch(request_id)[0] == deferred_pb2.PENDING
    clock.now += 0.02
    assert store.fetch(request_id) == (deferred_pb2.DONE, response)
    clock.now += 10.0
    assert store.fetch(request_id) == (deferred_pb2.EXPIRED, None)


def poll_until(
    stubs, request_id: str, wanted: int
) -> tuple[list[int], chat_pb2.GetDeferredCompletionResponse]:
    seen: list[int] = []
    for _ in range(2000):
        r = stubs.chat.GetDeferredCompletion(
            deferred_pb2.GetDeferredRequest(request_id=request_id), metadata=stubs.metadata
        )
        if not seen or seen[-1] != r.status:
            seen.append(r.status)
        if r.status == wanted:
            return seen, r
        time.sleep(0.01)
    return seen, r


def test_deferred_over_grpc_goes_pending_then_done_then_expired(emulator_factory):
    emu = emulator_factory(EmulatorConfig(deferred_pending_s=0.5, deferred_retention_s=0.5))
    stubs = connect(emu)
    request = chat_request("Later please", seed=3)
    start = stubs.chat.StartDeferredCompletion(request, metadata=stubs.metadata)
    assert start.request_id
    seen, done = poll_until(stubs, start.request_id, deferred_pb2.DONE)
    assert seen == [deferred_pb2.PENDING, deferred_pb2.DONE]
    unary = stubs.chat.GetCompletion(request, metadata=stubs.metadata)
    assert done.response.outputs[0].message.content == unary.outputs[0].message.content
    seen, expired = poll_until(stubs, start.request_id, deferred_pb2.EXPIRED)
    assert seen[-1] == deferred_pb2.EXPIRED and not expired.HasField("response")
    stubs.channel.close()


def test_deferred_validates_up_front_and_unknown_id_is_not_found(stubs):
    err = rpc_error(
        stubs.chat.StartDeferredCompletion, chat_request(model="grok-99"), metadata=stubs.metadata
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND and "grok-99" in err.details()
    err = rpc_error(
        stubs.chat.GetDeferredCompletion,
        deferred_pb2.GetDeferredRequest(request_id="nope"),
        metadata=stubs.metadata,
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND


def test_stored_completion_get_and_delete(stubs):
    r = stubs.complete(prompt="Remember me", seed=1, store_messages=True)
    got = stubs.chat.GetStoredCompletion(
        chat_pb2.GetStoredCompletionRequest(response_id=r.id), metadata=stubs.metadata
    )
    assert got == r
    deleted = stubs.chat.DeleteStoredCompletion(
        chat_pb2.DeleteStoredCompletionRequest(response_id=r.id), metadata=stubs.metadata
    )
    assert deleted.response_id == r.id
    for call, req in (
        (stubs.chat.GetStoredCompletion, chat_pb2.GetStoredCompletionRequest(response_id=r.id)),
        (
            stubs.chat.DeleteStoredCompletion,
            chat_pb2.DeleteStoredCompletionRequest(response_id=r.id),
        ),
    ):
        assert rpc_error(call, req, metadata=stubs.metadata).code() == grpc.StatusCode.NOT_FOUND


def test_unstored_completion_is_not_found(stubs):
    r = stubs.complete(prompt="Forget me")
    err = rpc_error(
        stubs.chat.GetStoredCompletion,
        chat_pb2.GetStoredCompletionRequest(response_id=r.id),
        metadata=stubs.metadata,
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND


def test_previous_response_id_chains_stored_history(stubs):
    first = stubs.complete(
        messages=[system("Be brief."), user("Hi")], seed=1, store_messages=True, model="grok-3"
    )
    chained = stubs.complete(
        messages=[user("And then?")],
        previous_response_id=first.id,
        seed=1,
        store_messages=True,
        model="grok-3",
    )
    answer = first.outputs[0].message.content
    explicit = stubs.complete(
        messages=[
            system("Be brief."),
            user("Hi"),
            chat_pb2.Message(role=chat_pb2.ROLE_ASSISTANT, content=[chat_pb2.Content(text=answer)]),
            user("And then?"),
        ],
        seed=1,
        model="grok-3",
    )
    assert chained.outputs[0].message.content == explicit.outputs[0].message.content
    assert chained.usage.prompt_tokens == explicit.usage.prompt_tokens
    third = stubs.complete(messages=[user("More")], previous_response_id=chained.id, model="grok-3")
    assert third.usage.prompt_tokens > chained.usage.prompt_tokens
    err = rpc_error(stubs.complete, previous_response_id="missing-id")
    assert err.code() == grpc.StatusCode.NOT_FOUND


def test_compact_context_drops_old_messages(stubs):
    messages = [system("s")] + [user(f"message {i}") for i in range(6)]
    r = stubs.chat.CompactContext(
        chat_pb2.CompactContextRequest(model="grok-4", input=messages), metadata=stubs.metadata
    )
    assert r.dropped_message_count == 4
    assert r.encrypted_content and r.id
    assert r.usage.prompt_tokens > 0 and r.usage.cost_in_usd_ticks > 0
    err = rpc_error(
        stubs.chat.CompactContext,
        chat_pb2.CompactContextRequest(model="grok-4"),
        metadata=stubs.metadata,
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_compacted_context_hydrates_in_a_follow_up(stubs):
    messages = [system("s")] + [user(f"message {i}") for i in range(6)]
    compact = stubs.chat.CompactContext(
        chat_pb2.CompactContextRequest(model="grok-3", input=messages), metadata=stubs.metadata
    )
    placeholder = chat_pb2.Message(
        role=chat_pb2.ROLE_USER, encrypted_content=compact.encrypted_content
    )
    follow = stubs.complete(messages=[placeholder, user("next")], seed=1, model="grok-3")
    explicit = stubs.complete(
        messages=[system("s"), user("message 4"), user("message 5"), user("next")],
        seed=1,
        model="grok-3",
    )
    assert follow.outputs[0].message.content == explicit.outputs[0].message.content
    assert follow.usage.prompt_tokens == explicit.usage.prompt_tokens
    broken = chat_pb2.Message(
        role=chat_pb2.ROLE_USER, encrypted_content=compact.encrypted_content[:-3] + "!!!"
    )
    err = rpc_error(stubs.complete, messages=[broken, user("next")])
    assert (
        err.code() == grpc.StatusCode.INVALID_ARGUMENT
        and "messages[0].encrypted_content" in err.details()
    )
