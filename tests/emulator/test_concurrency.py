"""Many concurrent calls: no races in stored completions, deferred jobs, rate counters."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from tests.emulator.conftest import chat_request, connect
from xai_pipelines.emulator import EmulatorConfig, FaultConfig
from xai_pipelines.proto import chat_pb2, deferred_pb2

CALLS = 256


def wait_for(predicate, what: str) -> None:
    for _ in range(3000):
        if predicate():
            return
        time.sleep(0.01)
    pytest.fail(f"timed out waiting for {what}")


def test_256_calls_in_flight_at_once(emulator_factory):
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(time_to_first_token_s=60.0)))
    conns = [connect(emu) for _ in range(4)]
    calls = [
        conns[i % 4].chat.GetCompletionChunk(chat_request(f"p{i}"), metadata=conns[0].metadata)
        for i in range(CALLS)
    ]
    wait_for(lambda: emu.stats.in_flight == CALLS, "256 calls in flight")
    assert emu.stats.peak_in_flight == CALLS
    for call in calls:
        call.cancel()
    wait_for(lambda: emu.stats.in_flight == 0, "cancelled calls to end")
    for c in conns:
        c.channel.close()


def test_256_concurrent_unary_calls_are_correct_and_stored(emulator_factory):
    emu = emulator_factory()
    conns = [connect(emu) for _ in range(4)]
    requests = [
        chat_request(f"question {i % 64}", seed=i % 64, store_messages=True) for i in range(CALLS)
    ]
    futures = [
        conns[i % 4].chat.GetCompletion.future(r, metadata=conns[0].metadata)
        for i, r in enumerate(requests)
    ]
    responses = [f.result() for f in futures]
    by_prompt: dict[int, set[str]] = {}
    for i, r in enumerate(responses):
        by_prompt.setdefault(i % 64, set()).add(r.outputs[0].message.content)
    assert all(len(texts) == 1 for texts in by_prompt.values())
    assert len({next(iter(t)) for t in by_prompt.values()}) == 64
    assert len({r.id for r in responses}) == CALLS

    def fetch(r: chat_pb2.GetChatCompletionResponse) -> chat_pb2.GetChatCompletionResponse:
        return conns[0].chat.GetStoredCompletion(
            chat_pb2.GetStoredCompletionRequest(response_id=r.id), metadata=conns[0].metadata
        )

    with ThreadPoolExecutor(32) as pool:
        stored = list(pool.map(fetch, responses))
    assert stored == responses
    assert emu.stats.calls["GetCompletion"] == CALLS
    for c in conns:
        c.channel.close()


def test_rate_limit_is_exact_under_concurrency(emulator_factory):
    # 6,000 a minute: 100 a second, a burst of at most 100 (one second's worth).
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(requests_per_minute=6000)))
    stubs = connect(emu)
    started = time.monotonic()
    futures = [
        stubs.chat.GetCompletion.future(chat_request(), metadata=stubs.metadata)
        for _ in range(CALLS)
    ]
    codes = []
    for f in futures:
        try:
            f.result()
            codes.append("OK")
        except grpc.RpcError as exc:
            codes.append(exc.code().name)
    refilled = 100 * (time.monotonic() - started)  # admitted while the calls arrived
    assert 100 <= codes.count("OK") <= 100 + refilled + 1
    assert codes.count("RESOURCE_EXHAUSTED") == CALLS - codes.count("OK")
    assert emu.stats.rate_limited == CALLS - codes.count("OK")
    stubs.channel.close()


def test_concurrent_deferred_completions(emulator_factory):
    emu = emulator_factory(EmulatorConfig(deferred_pending_s=0.05))
    stubs = connect(emu)
    starts = [
        stubs.chat.StartDeferredCompletion.future(
            chat_request(f"d{i}", seed=i), metadata=stubs.metadata
        )
        for i in range(64)
    ]
    ids = [f.result().request_id for f in starts]
    assert len(set(ids)) == 64

    def done(request_id: str) -> chat_pb2.GetDeferredCompletionResponse:
        while True:
            r = stubs.chat.GetDeferredCompletion(
                deferred_pb2.GetDeferredRequest(request_id=request_id), metadata=stubs.metadata
            )
            if r.status != deferred_pb2.PENDING:
                return r
            time.sleep(0.01)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(done, ids))
    assert all(r.status == deferred_pb2.DONE for r in results)
    expected = [stubs.complete(prompt=f"d{i}", seed=i).outputs[0].message.content for i in (0, 63)]
    assert [
        results[0].response.outputs[0].message.content,
        results[63].response.outputs[0].message.content,
    ] == expected
    stubs.channel.close()


def test_streams_per_connection_limit_queues_extra_calls(emulator_factory):
    emu = emulator_factory(
        EmulatorConfig(max_streams_per_connection=4, faults=FaultConfig(time_to_first_token_s=60.0))
    )
    first, second = connect(emu, own_connection=True), connect(emu, own_connection=True)
    calls = [
        first.chat.GetCompletionChunk(chat_request(), metadata=first.metadata) for _ in range(8)
    ]
    wait_for(lambda: emu.stats.in_flight == 4, "4 calls on the first connection")
    calls += [
        second.chat.GetCompletionChunk(chat_request(), metadata=second.metadata) for _ in range(4)
    ]
    wait_for(lambda: emu.stats.in_flight == 8, "4 more on a second connection")
    assert emu.stats.peak_in_flight == 8  # the first connection never had more than 4 open
    for call in calls:
        call.cancel()
    for s in (first, second):
        s.channel.close()
