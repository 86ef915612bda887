"""Fault injection: seeded error rates, rate limits, latency, stream faults, runtime swaps."""

from __future__ import annotations

import grpc
import pytest

from tests.emulator.conftest import chat_request, connect, rpc_error
from xai_pipelines.emulator import EmulatorConfig, FaultConfig
from xai_pipelines.proto import tokenize_pb2


def outcomes(stubs, count: int) -> list[str]:
    seen = []
    for _ in range(count):
        try:
            stubs.complete(seed=1)
            seen.append("OK")
        except grpc.RpcError as exc:
            seen.append(exc.code().name)
    return seen


def test_error_rates_are_seeded_and_reproducible(emulator_factory):
    faults = FaultConfig(
        seed=42, unavailable_rate=0.2, resource_exhausted_rate=0.2, internal_rate=0.2
    )
    runs = []
    for _ in range(2):
        emu = emulator_factory(EmulatorConfig(faults=faults))
        stubs = connect(emu)
        runs.append(outcomes(stubs, 40))
        stats = emu.stats
        stubs.channel.close()
    assert runs[0] == runs[1]
    assert {"OK", "UNAVAILABLE", "RESOURCE_EXHAUSTED", "INTERNAL"} == set(runs[0])
    assert stats.calls["GetCompletion"] == 40
    assert sum(stats.errors_injected.values()) == 40 - runs[1].count("OK")


def test_rate_one_fails_every_call_and_set_faults_swaps_at_runtime(emulator_factory):
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(unavailable_rate=1.0)))
    stubs = connect(emu)
    err = rpc_error(stubs.complete)
    assert err.code() == grpc.StatusCode.UNAVAILABLE and "injected" in err.details()
    emu.set_faults(FaultConfig())
    assert stubs.complete().outputs
    emu.set_faults(FaultConfig(internal_rate=1.0))
    assert rpc_error(stubs.complete).code() == grpc.StatusCode.INTERNAL
    assert emu.faults.internal_rate == 1.0
    stubs.channel.close()


def test_faults_apply_to_chat_and_image_only_by_default(emulator_factory):
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(unavailable_rate=1.0)))
    stubs = connect(emu)
    tokens = stubs.tokenize.TokenizeText(
        tokenize_pb2.TokenizeTextRequest(text="hi", model="grok-4"), metadata=stubs.metadata
    )
    assert tokens.tokens
    stubs.channel.close()


def test_requests_per_minute_limit_is_per_key(emulator_factory):
    # 3 a minute is one request per 20 s, at most one at once (per second, see ratelimit).
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(requests_per_minute=3)))
    first, second = connect(emu, key="key-one"), connect(emu, key="key-two")
    assert outcomes(first, 3) == ["OK"] + ["RESOURCE_EXHAUSTED"] * 2
    assert outcomes(second, 1) == ["OK"]
    err = rpc_error(first.complete)
    assert "3 requests per minute" in err.details() and "key-one" not in err.details()
    assert emu.stats.rate_limited == 3
    for s in (first, second):
        s.channel.close()


def test_tokens_per_minute_limit(emulator_factory):
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(tokens_per_minute=50)))
    stubs = connect(emu)
    used = stubs.complete(seed=1, model="grok-3").usage.total_tokens
    assert used >= 50
    err = rpc_error(stubs.complete)
    assert (
        err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "50 tokens per minute" in err.details()
    )
    stubs.channel.close()


def test_streamed_tokens_count_towards_tpm(emulator_factory):
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(tokens_per_minute=50)))
    stubs = connect(emu)
    stubs.stream(seed=1, model="grok-3")
    assert rpc_error(stubs.stream).code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    stubs.channel.close()


@pytest.mark.parametrize("k", [0, 1, 3])
def test_stream_cut_after_k_chunks(emulator_factory, k):
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(cut_stream_after=k)))
    stubs = connect(emu)
    received = []
    with pytest.raises(grpc.RpcError) as info:
        for chunk in stubs.chat.GetCompletionChunk(chat_request(seed=1), metadata=stubs.metadata):
            received.append(chunk)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert len(received) == k
    assert emu.stats.streams_cut == 1
    assert stubs.complete().outputs  # unary calls are not cut
    stubs.channel.close()


def test_latency_exceeds_a_short_deadline(emulator_factory):
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(latency_s=30.0)))
    stubs = connect(emu)
    err = rpc_error(stubs.chat.GetCompletion, chat_request(), metadata=stubs.metadata, timeout=0.3)
    assert err.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    stubs.channel.close()


def test_time_to_first_token_delays_the_first_chunk(emulator_factory):
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(time_to_first_token_s=30.0)))
    stubs = connect(emu)
    received = []
    with pytest.raises(grpc.RpcError) as info:
        for chunk in stubs.chat.GetCompletionChunk(
            chat_request(), metadata=stubs.metadata, timeout=0.3
        ):
            received.append(chunk)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED and received == []
    stubs.channel.close()


def test_per_token_delay_slows_later_chunks(emulator_factory):
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(per_token_delay_s=30.0)))
    stubs = connect(emu)
    received = []
    with pytest.raises(grpc.RpcError) as info:
        for chunk in stubs.chat.GetCompletionChunk(
            chat_request(), metadata=stubs.metadata, timeout=2.0
        ):
            received.append(chunk)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert len(received) == 1
    stubs.channel.close()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"unavailable_rate": 1.5}, "unavailable_rate must be in [0, 1]"),
        ({"unavailable_rate": 0.6, "internal_rate": 0.6}, "error rates add up to"),
        ({"latency_s": -1}, "latency_s must not be negative"),
        ({"requests_per_minute": -1}, "requests_per_minute must not be negative"),
    ],
)
def test_fault_config_is_checked(fields, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        FaultConfig(**fields)


def test_drawn_delays_are_seeded_and_within_bounds():
    from xai_pipelines.emulator.faults import FaultInjector

    config = FaultConfig(seed=9, latency_s=0.5, jitter_s=0.25, unavailable_rate=0.5)
    first = [FaultInjector(config).draw() for _ in range(1)]
    a, b = FaultInjector(config), FaultInjector(config)
    draws_a = [(d.delay_s, d.error) for d in (a.draw() for _ in range(50))]
    draws_b = [(d.delay_s, d.error) for d in (b.draw() for _ in range(50))]
    assert draws_a == draws_b and first[0].delay_s == draws_a[0][0]
    assert all(0.5 <= delay <= 0.75 for delay, _ in draws_a)
    assert len({delay for delay, _ in draws_a}) > 40
    assert {error for _, error in draws_a} == {None, grpc.StatusCode.UNAVAILABLE}
    a.set(FaultConfig(seed=9, latency_s=0.5, jitter_s=0.25, unavailable_rate=0.5))
    assert [(d.delay_s, d.error) for d in (a.draw() for _ in range(50))] == draws_a


def test_tokens_per_minute_slide_after_a_minute():
    from xai_pipelines.emulator.ratelimit import RateLimiter

    now = [1000.0]
    limiter = RateLimiter(clock=lambda: now[0])
    limiter.record_tokens("k", 100)
    now[0] += 20.0
    refusal = limiter.admit("k", None, 100)
    assert refusal is not None and refusal.retry_after_s == pytest.approx(40.0)
    assert refusal.message == "rate limit exceeded: 100 tokens per minute per API key"
    assert limiter.admit("other", None, 100) is None
    now[0] += 40.1
    assert limiter.admit("k", None, 100) is None
