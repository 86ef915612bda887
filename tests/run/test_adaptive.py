"""The adaptive concurrency limit on a fake clock (deterministic), the retry-after hint over
real gRPC, and a run against the emulator with injected RESOURCE_EXHAUSTED."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2

from xai_pipelines.emulator import Emulator, EmulatorConfig, FaultConfig
from xai_pipelines.plan import ChatJob
from xai_pipelines.records import ConcurrencyHistory, decode_manifest, decode_usage_report
from xai_pipelines.run.adaptive import (
    CUT_FACTOR,
    DEEPEST_CUT,
    GROW_FRACTION,
    MAX_RETRY_AFTER_S,
    MIN_CUT_INTERVAL_S,
    OVERLOAD_CUT_INTERVAL_S,
    PROBE_FRACTION,
    AdaptiveConcurrency,
    AdaptiveSettings,
)
from xai_pipelines.run.attempts import AttemptHooks
from xai_pipelines.run.ratelimit import RateLimiter
from xai_pipelines.run.session import PipelineRun, RunOptions
from xai_pipelines.run.sink import ResultSink
from xai_pipelines.run.stats import RunStats
from xai_pipelines.sdk import Client, user
from xai_pipelines.sdk.errors import CancelledError, RateLimitError, retry_after_hint
from xai_pipelines.sdk.retry import AttemptInfo
from xai_pipelines.store import OutputDir

MakeSpec = Callable[..., Any]
Trailers = tuple[tuple[str, Any], ...]
#: A refusing server's address, and the trailing metadata it sends (first item).
Server = tuple[str, list[Trailers]]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _fill(limiter: AdaptiveConcurrency) -> int:
    """Take every free place; the count taken (the last try found none)."""
    taken = 0
    while limiter.try_acquire() == 0.0:
        taken += 1
    return taken


def test_one_cut_per_episode_and_none_for_calls_sent_before_it() -> None:
    clock = FakeClock()
    limiter = AdaptiveConcurrency(100, clock=clock)
    assert _fill(limiter) == 100
    sent_before = clock.now
    clock.now += 0.5
    assert limiter.note_rate_limited(sent_before) is True
    assert limiter.limit == int(100 * CUT_FACTOR)  # too few successes to measure: the factor
    for _ in range(50):  # the rest of the burst: same episode
        assert limiter.note_rate_limited(sent_before) is False
    clock.now += MIN_CUT_INTERVAL_S + 1
    assert limiter.note_rate_limited(sent_before) is False  # sent before the cut
    assert limiter.note_rate_limited(clock.now - 0.1) is True  # sent after it: a new episode
    assert limiter.cuts == 2 and limiter.rate_limited == 53
    assert [c.reason for c in limiter.history().changes] == ["start", "cut", "cut"]


def test_minimum_time_between_cuts() -> None:
    clock = FakeClock()
    limiter = AdaptiveConcurrency(100, clock=clock)
    assert limiter.note_rate_limited(clock.now)
    clock.now += MIN_CUT_INTERVAL_S - 0.01
    assert not limiter.note_rate_limited(clock.now)  # sent after the cut, but too soon
    clock.now += 0.02
    assert limiter.note_rate_limited(clock.now)


def test_the_cut_aims_at_the_admitted_concurrency_when_most_calls_are_refused() -> None:
    clock = FakeClock()
    window = AdaptiveSettings().admitted_window_s
    limiter = AdaptiveConcurrency(200, clock=clock)
    _fill(limiter)
    first_cut = clock.now
    assert limiter.note_rate_limited(first_cut)  # early in the run: the factor
    assert limiter.limit == int(200 * CUT_FACTOR)

    def window_of(held_s: float, refusals: int) -> None:
        """40 successes in the window, each held ``held_s``, and ``refusals`` refused calls."""
        for i in range(40):
            clock.now += window / 40
            limiter.release(held_s)
            if i < refusals:
                limiter.note_rate_limited(first_cut - 1)  # sent before a cut: no new cut

    clock.now += MIN_CUT_INTERVAL_S
    window_of(0.5, refusals=2)  # 5% refused: a few refusals fewer calls would not avoid
    assert limiter.note_rate_limited(clock.now)
    assert limiter.limit == int(200 * CUT_FACTOR**2)
    clock.now += MIN_CUT_INTERVAL_S
    window_of(0.5, refusals=40)  # half refused: 40 per 2 s held 0.5 s each, 10 admitted
    assert limiter.note_rate_limited(clock.now)
    assert limiter.limit == int(200 * CUT_FACTOR**2 * DEEPEST_CUT)  # one episode's deepest
    clock.now += MIN_CUT_INTERVAL_S
    window_of(0.5, refusals=40)
    assert limiter.note_rate_limited(clock.now)
    assert limiter.limit == 10


def test_well_over_a_limit_cuts_come_sooner_and_regrowth_stops_at_the_admitted_level() -> None:
    clock = FakeClock()
    limiter = AdaptiveConcurrency(100, clock=clock)
    _fill(limiter)
    for i in range(20):  # 20 of 40 calls refused, early in the run (no whole window yet)
        clock.now += 0.01
        limiter.release(0.1)
        limiter.note_rate_limited(clock.now - 0.001 if i else clock.now - 1)
    # the first refusal cut by the factor; the next ones, well over a limit, cut to the
    # calls in flight times the share admitted as soon as calls sent after it were refused
    assert [c.reason for c in limiter.history().changes] == ["start", "cut", "cut"]
    assert limiter.limit == 45  # the 90 places in use (95 taken) * 0.5 admitted
    clock.now += OVERLOAD_CUT_INTERVAL_S - 0.2  # the last cut was 0.15 s into the loop
    limiter.note_rate_limited(clock.now)
    assert limiter.cuts == 2  # overload cuts are OVERLOAD_CUT_INTERVAL_S apart
    clock.now += 0.1
    assert limiter.note_rate_limited(clock.now) and limiter.cuts == 3
    level = limiter.limit
    limits = []
    for _ in range(20):  # regrowth: fast up to the admitted level measured, then a probe
        for _ in range(limiter.in_flight):
            limiter.release()
        _fill(limiter)
        clock.now += 1.0
        limits.append(limiter.limit)
    assert max(limits) <= level * (1 + PROBE_FRACTION) ** 20 + 1


def test_growth_is_gradual_only_when_the_limit_is_reached_and_capped() -> None:
    clock = FakeClock()
    limiter = AdaptiveConcurrency(64, clock=clock)
    limiter.note_rate_limited(clock.now)
    cut = limiter.limit
    assert cut == int(64 * CUT_FACTOR)
    clock.now += 5  # five rounds, but nobody waited for a place: no growth
    assert limiter.try_acquire() == 0.0
    limiter.release()
    assert limiter.limit == cut
    limits = []
    for _ in range(30):
        _fill(limiter)  # saturated during the round
        clock.now += 1.0
        for _ in range(limiter.in_flight):
            limiter.release()
        limits.append(limiter.limit)
    assert limits[0] == int(64 * CUT_FACTOR * (1 + GROW_FRACTION))  # one step per round
    assert all(b - a <= max(1, a * GROW_FRACTION) + 1 for a, b in itertools.pairwise(limits))
    assert limits[-1] == 64  # back to the configured concurrency, never above
    changes = limiter.history().changes
    assert [c.reason for c in changes] == ["start", "cut", "grow"]  # one entry per climb
    assert changes[-1].limit == 64


def test_never_below_the_floor() -> None:
    clock = FakeClock()
    limiter = AdaptiveConcurrency(4, AdaptiveSettings(floor=2), clock=clock)
    for _ in range(10):
        limiter.note_rate_limited(clock.now)
        clock.now += MIN_CUT_INTERVAL_S
    assert limiter.limit == 2 and _fill(limiter) == 2
    assert AdaptiveConcurrency(1, clock=clock).floor == 1  # the floor never exceeds the maximum


def test_retry_after_pauses_dispatch_and_is_capped() -> None:
    clock = FakeClock()
    limiter = AdaptiveConcurrency(10, clock=clock)
    limiter.note_rate_limited(clock.now, retry_after_s=2.5)
    assert limiter.try_acquire() == pytest.approx(2.5)
    clock.now += 2.5
    assert limiter.try_acquire() == 0.0
    limiter.pause(10 * MAX_RETRY_AFTER_S)
    assert limiter.try_acquire() == pytest.approx(MAX_RETRY_AFTER_S)
    pauses = [c for c in limiter.history().changes if c.reason == "pause"]
    assert [c.pause_s for c in pauses] == [2.5, MAX_RETRY_AFTER_S]


def test_blocking_acquire_wakes_on_release_and_stops() -> None:
    limiter = AdaptiveConcurrency(1)
    assert limiter.acquire()
    threading.Timer(0.05, limiter.release).start()
    started = time.monotonic()
    assert limiter.acquire()
    assert time.monotonic() - started < 1
    stop = threading.Event()
    stop.set()
    assert limiter.acquire(stop) is False


def test_history_is_bounded_first_and_latest_kept() -> None:
    clock = FakeClock()
    settings = AdaptiveSettings(history_cap=10, min_cut_interval_s=1.0)
    limiter = AdaptiveConcurrency(1000, settings, clock=clock)
    for _ in range(30):
        clock.now += 1.0
        limiter.pause(0.5)
    history = limiter.history()
    assert len(history.changes) == 10 and history.dropped == 21
    assert history.changes[0].reason == "start" and history.changes[-1].at_s == 30.0


def test_the_hook_cuts_pauses_and_the_retry_waits_at_least_the_hint(
    refusing_server: Server, tmp_path: Path
) -> None:
    out = OutputDir(tmp_path)
    out.create()
    job = ChatJob(id="j0", request={"model": "m", "messages": [{"role": "user", "content": "x"}]})
    with out.open_results() as results, out.open_errors() as errors:
        hooks = AttemptHooks(
            ResultSink(results, errors, RunStats(), "run-1"),
            RateLimiter(),
            threading.Event(),
            AdaptiveConcurrency(4),
        )
        assert hooks.adaptive is not None
        error = _server_error(refusing_server, (("retry-after", "0.3"),))
        assert isinstance(error, RateLimitError) and retry_after_hint(error) == 0.3
        with hooks.scope(job, None) as scope:
            hooks.acquire(0)
            hooks.on_attempt(AttemptInfo(1, error, 0.05, will_retry=True))
            assert hooks.adaptive.cuts == 1 and hooks.adaptive.pauses == 1
            started = time.monotonic()
            hooks.backoff(0.05)  # the policy's delay; the hint adds the rest
            assert time.monotonic() - started >= 0.3 - 0.01
            assert scope.place_since is not None  # the retry holds a place again
        assert hooks.adaptive.in_flight == 0  # given back when the job ended


def test_the_async_backoff_takes_a_place_and_ends_at_once_on_abort(tmp_path: Path) -> None:
    out = OutputDir(tmp_path)
    out.create()
    job = ChatJob(id="j0", request={"model": "m", "messages": [{"role": "user", "content": "x"}]})
    with out.open_results() as results, out.open_errors() as errors:
        hooks = AttemptHooks(
            ResultSink(results, errors, RunStats(), "run-1"),
            RateLimiter(),
            threading.Event(),
            AdaptiveConcurrency(2),
        )
        assert hooks.adaptive is not None

        async def retry_then_abort() -> None:
            with hooks.scope(job, None) as scope:
                await hooks.abackoff(0.01)
                assert scope.place_since is not None and hooks.adaptive.in_flight == 1
                hooks.abort.set()
                with pytest.raises(CancelledError):
                    await hooks.abackoff(30.0)

        started = time.monotonic()
        asyncio.run(retry_then_abort())
        assert time.monotonic() - started < 5
        assert hooks.adaptive.in_flight == 0


@pytest.fixture
def refusing_server() -> Iterator[Server]:
    """A gRPC server refusing every call with RESOURCE_EXHAUSTED and the trailing
    metadata the test puts first in the list (a stand-in for the hosted API's answer)."""
    trailers: list[Trailers] = [()]

    def refuse(request: bytes, context: grpc.ServicerContext) -> bytes:
        context.set_trailing_metadata(trailers[0])
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "rate limit exceeded")
        raise AssertionError("abort returns by raising")

    class Refuse(grpc.GenericRpcHandler):
        def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
            return grpc.unary_unary_rpc_method_handler(refuse)

    server = grpc.server(futures.ThreadPoolExecutor(2))
    server.add_generic_rpc_handlers((Refuse(),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", trailers
    finally:
        server.stop(None)


def _server_error(server: Server, trailing: Trailers) -> BaseException:
    """The client's error for a call the server refuses with ``trailing`` metadata."""
    address, trailers = server
    trailers[0] = trailing
    with Client(api_key="k", api_host=address, max_retries=0) as client:
        try:
            client.chat.create("grok-4.3", [user("hi")]).sample()
        except RateLimitError as exc:
            return exc
    raise AssertionError("the server refused nothing")


def test_retry_after_hint_from_metadata_or_retry_info(refusing_server: Server) -> None:
    assert retry_after_hint(_server_error(refusing_server, ())) is None
    assert retry_after_hint(_server_error(refusing_server, (("retry-after", "1.5"),))) == 1.5
    assert retry_after_hint(_server_error(refusing_server, (("retry-after", "soon"),))) is None
    info = error_details_pb2.RetryInfo(
        retry_delay=duration_pb2.Duration(seconds=2, nanos=500_000_000)
    )
    status = status_pb2.Status(code=8, message="rate limit exceeded")
    status.details.add().Pack(info)
    details = (("grpc-status-details-bin", status.SerializeToString()),)
    assert retry_after_hint(_server_error(refusing_server, details)) == 2.5
    both = (("retry-after", "4"), *details)
    assert retry_after_hint(_server_error(refusing_server, both)) == 4.0


def test_a_run_with_injected_rate_limits_completes_and_records_the_limit(
    make_spec: MakeSpec, emulator_factory: Callable[..., Emulator], tmp_path: Path
) -> None:
    emu = emulator_factory(
        EmulatorConfig(faults=FaultConfig(seed=5, resource_exhausted_rate=0.1, latency_s=0.002))
    )
    spec = make_spec(
        jobs=120,
        execution={
            "concurrency": 16,
            "retries": {"max_attempts": 10, "initial_backoff": "5ms", "max_backoff": "20ms"},
        },
    )
    out = tmp_path / "out"
    settings = AdaptiveSettings(min_cut_interval_s=0.05, grow_interval_s=0.05)
    outcome = PipelineRun(
        spec,
        RunOptions(
            out_dir=out,
            api_key=emu.api_key,
            endpoint=emu.address,
            progress="quiet",
            adaptive=settings,
        ),
    ).run()
    assert outcome.status == "completed"
    assert emu.stats.errors_injected.get("RESOURCE_EXHAUSTED", 0) > 3
    usage = decode_usage_report((out / "usage.json").read_bytes())
    manifest = decode_manifest((out / "manifest.json").read_bytes())
    assert usage.concurrency == manifest.concurrency
    history = usage.concurrency
    assert isinstance(history, ConcurrencyHistory) and history.maximum == 16
    assert history.cuts >= 1 and history.rate_limited >= history.cuts
    assert {"start", "cut"} <= {c.reason for c in history.changes}
    assert json.loads((out / "usage.json").read_text())["concurrency"]["maximum"] == 16
