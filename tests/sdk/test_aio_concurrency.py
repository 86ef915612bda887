"""Many calls in flight on one event loop: no thread per call, channels opened on demand."""

from __future__ import annotations

import asyncio
import math
import threading
import time

import pytest

from xai_pipelines.emulator import EmulatorConfig, FaultConfig
from xai_pipelines.sdk import user
from xai_pipelines.sdk.aio import AsyncClient, ChannelPool

from .conftest import fast_policy

CALLS = 1_000
LATENCY_S = 0.5


def client_threads() -> set[str]:
    """Threads of this process that are not the emulator's (it runs in-process)."""
    return {t.name for t in threading.enumerate() if not t.name.startswith("emulator")}


@pytest.mark.slow
def test_a_thousand_concurrent_calls_on_a_few_channels_without_a_thread_each(emulator_factory):
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(latency_s=LATENCY_S)))
    per_channel = 250

    async def main() -> tuple[float, int, int, int]:
        async with AsyncClient(
            api_key=emu.api_key, api_host=emu.address, retry_policy=fast_policy(),
            calls_per_channel=per_channel,
        ) as client:  # fmt: skip
            before = len(client_threads())
            most = before

            async def one(i: int) -> str:
                nonlocal most
                chat = client.chat.create("grok-4.3", messages=[user(f"q{i}")], max_tokens=4)
                response = await chat.sample()
                most = max(most, len(client_threads()))
                return response.content

            started = time.perf_counter()
            answers = await asyncio.gather(*(one(i) for i in range(CALLS)))
            elapsed = time.perf_counter() - started
            assert all(answers)
            return elapsed, client.open_channels, most - before, emu.stats.peak_in_flight

    elapsed, channels, extra_threads, peak = asyncio.run(main())
    assert channels == math.ceil(CALLS / per_channel)  # opened on demand, one per 250 in flight
    assert extra_threads <= 2  # gRPC's own poller at most, never one per call
    assert peak >= 300  # the calls were in flight together, not queued behind each other
    # 1,000 calls of 0.5 s each (500 s one after another) in a few seconds. The bound is
    # loose: the emulator shares this process and the machine's two cores.
    assert elapsed < 10.0, elapsed


def test_the_pool_opens_channels_by_load_up_to_its_limit():
    opened: list[object] = []

    def factory() -> object:
        opened.append(object())
        return opened[-1]

    pool = ChannelPool(factory, max_channels=3, calls_per_channel=2)  # type: ignore[arg-type]
    leases = [pool.lease() for _ in range(8)]
    channels = [lease.__enter__() for lease in leases]
    assert pool.size == 3 and len(opened) == 3
    assert sorted(c.in_flight for c in pool._channels) == [2, 3, 3]  # past the limit: least loaded
    for lease in leases:
        lease.__exit__(None, None, None)
    assert all(c.in_flight == 0 for c in pool._channels) and channels[0].channel is opened[0]
    with pytest.raises(ValueError):
        ChannelPool(factory, max_channels=0, calls_per_channel=1)  # type: ignore[arg-type]
