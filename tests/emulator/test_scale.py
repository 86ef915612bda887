"""Thousands of delayed calls at once: held on an event loop, not a thread each.

The emulator serves gRPC with ``grpc.aio`` on one loop thread, so a call waiting
on injected latency costs a timer. The clients here use non-blocking calls
(``.future()`` and streams) over several connections, so they need no thread
per call either.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

import grpc
import pytest

from benchmarks.emulator_concurrent import hold_calls
from tests.emulator.conftest import chat_request, connect, rpc_error
from xai_pipelines.emulator import EmulatorConfig, FaultConfig

CHANNELS = 4
#: Threads the emulator and the client may add, whatever the number of calls: the loop, the
#: gRPC poller, the HTTP host, the batch worker, one per client channel, and some slack.
THREAD_SLACK = 16


def wait_for(predicate, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def codes(calls) -> Counter[str]:
    seen: Counter[str] = Counter()
    for call in calls:
        try:
            call.result()
            seen["OK"] += 1
        except grpc.RpcError as exc:
            seen[exc.code().name] += 1
    return seen


@pytest.mark.slow
def test_2000_delayed_calls_complete_in_seconds_on_a_few_threads(emulator_factory):
    before = threading.active_count()
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(latency_s=1.0)))
    conns = [connect(emu, own_connection=True) for _ in range(CHANNELS)]
    started = time.monotonic()
    futures = [
        conns[i % CHANNELS].chat.GetCompletion.future(
            chat_request(f"question {i}", seed=i), metadata=conns[0].metadata
        )
        for i in range(2000)
    ]
    most_threads = 0
    while not all(f.done() for f in futures[-50:]):
        most_threads = max(most_threads, threading.active_count())
        time.sleep(0.02)
    replies = [f.result() for f in futures]
    elapsed = time.monotonic() - started
    # The old server held 320 calls at a time: 2,000 one-second calls took 6.25 s or more.
    assert elapsed < 20, f"{elapsed:.1f} s"
    assert most_threads - before < THREAD_SLACK, (before, most_threads)
    assert len({r.id for r in replies}) == 2000
    assert len({r.outputs[0].message.content for r in replies}) == 2000
    assert emu.stats.calls["GetCompletion"] == 2000
    wait_for(lambda: emu.stats.in_flight == 0, "the calls' ends to be counted")
    for c in conns:
        c.channel.close()


@pytest.mark.slow
def test_1000_calls_held_at_once_then_ended_by_stop(emulator_factory):
    """Unary calls waiting on latency and streams waiting for their first token, all at once."""
    before = threading.active_count()
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(latency_s=120.0)))
    conns = [connect(emu, own_connection=True) for _ in range(CHANNELS)]
    metadata = conns[0].metadata
    unary = [
        conns[i % CHANNELS].chat.GetCompletion.future(chat_request(f"u{i}"), metadata=metadata)
        for i in range(500)
    ]
    wait_for(lambda: emu.stats.in_flight == 500, "500 unary calls in flight")
    emu.set_faults(FaultConfig(time_to_first_token_s=120.0))  # streams: no latency, a late token
    streams = [
        conns[i % CHANNELS].chat.GetCompletionChunk(chat_request(f"s{i}"), metadata=metadata)
        for i in range(500)
    ]
    wait_for(lambda: emu.stats.in_flight == 1000, "1,000 calls in flight")
    assert threading.active_count() - before < THREAD_SLACK
    stopping = time.monotonic()
    emu.stop()
    # Every injected wait ends at once: the calls do not sit out their 120 s.
    ended = codes(unary) + codes(streams)
    assert time.monotonic() - stopping < 30
    assert set(ended) <= {"UNAVAILABLE", "CANCELLED"} and ended.total() == 1000, ended
    assert emu.stats.in_flight == 0 and emu.stats.peak_in_flight == 1000
    for c in conns:
        c.channel.close()


def test_calls_beyond_max_concurrent_rpcs_are_refused(emulator_factory):
    emu = emulator_factory(
        EmulatorConfig(max_concurrent_rpcs=8, faults=FaultConfig(latency_s=60.0))
    )
    stubs = connect(emu)
    held = [
        stubs.chat.GetCompletion.future(chat_request(), metadata=stubs.metadata) for _ in range(8)
    ]
    wait_for(lambda: emu.stats.in_flight == 8, "8 calls in flight")
    assert rpc_error(stubs.complete).code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    for call in held:
        call.cancel()
    wait_for(lambda: emu.stats.in_flight == 0, "cancelled calls to end")
    emu.set_faults(FaultConfig())
    assert stubs.complete().outputs
    stubs.channel.close()


# The 10,000-call proof takes ~8 s of both cores (a client process and the server); the
# 2,000-call test above runs with the suite. XAI_SCALE=1 collects this one too. It is the
# benchmark row emulator-concurrent's own measurement (benchmarks/emulator_concurrent.py).
if os.environ.get("XAI_SCALE") == "1":

    @pytest.mark.slow
    def test_10000_calls_from_another_process_are_held_at_once_and_released(emulator_factory):
        emu = emulator_factory(EmulatorConfig(faults=FaultConfig(latency_s=120.0)))
        held = hold_calls(emu, 10_000)
        assert not held.client_error
        assert held.extra_threads < THREAD_SLACK
        # A load-testing client that dies takes its calls with it: the server lets all go.
        assert held.released
        assert held.peak_in_flight == 10_000 and held.total_calls == 10_000
