"""The async client's retries, deadlines and cancellation against the emulator's faults.

The async path runs the sync client's one retry policy (``RetryPolicy.acall`` /
``astream``): same attempts, backoffs, rate-limit backoff, ``on_attempt`` reports and
``interrupt``; these tests hold it to that over real loopback gRPC.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from xai_pipelines.emulator import Emulator, EmulatorConfig, FaultConfig
from xai_pipelines.sdk import user
from xai_pipelines.sdk.aio import AsyncClient
from xai_pipelines.sdk.errors import (
    CancelledError,
    DeadlineExceededError,
    InternalServerError,
    InvalidRequestError,
    RateLimitError,
    UnavailableError,
)

from .conftest import fast_policy

T = TypeVar("T")


def run(emu: Emulator, body: Callable[[AsyncClient], Awaitable[T]], **options: Any) -> T:
    """Run ``body(client)`` on a fresh event loop with an AsyncClient on ``emu``."""
    options.setdefault("retry_policy", fast_policy())

    async def main() -> T:
        async with AsyncClient(api_key=emu.api_key, api_host=emu.address, **options) as client:
            return await body(client)

    return asyncio.run(main())


def heal_after(emu: Emulator, failures: int):
    """An on_attempt hook that turns the emulator's faults off after ``failures`` failures."""
    seen: list[tuple[str, int, bool]] = []

    def on_attempt(info):
        seen.append((info.error.code, info.attempt, info.will_retry))
        if len(seen) >= failures:
            emu.set_faults(FaultConfig())

    return seen, on_attempt


async def wait_until(check: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    ("faults", "code"),
    [
        (FaultConfig(unavailable_rate=1.0), "UNAVAILABLE"),
        (FaultConfig(internal_rate=1.0), "INTERNAL"),
        (FaultConfig(resource_exhausted_rate=1.0), "RESOURCE_EXHAUSTED"),
    ],
)
def test_transient_errors_are_retried_until_success(emulator_factory, faults, code):
    emu = emulator_factory(EmulatorConfig(faults=faults))
    seen, heal = heal_after(emu, 2)

    async def body(client: AsyncClient):
        return await client.chat.create("grok-4.3", messages=[user("hi")]).sample()

    r = run(emu, body, retry_policy=fast_policy(max_attempts=5, on_attempt=heal))
    assert r.attempts == 3 and seen == [(code, 1, True), (code, 2, True)]
    assert emu.stats.calls["GetCompletion"] == 3 and emu.stats.errors_injected[code] == 2


def test_attempts_run_out_and_final_errors_are_reported(emulator_factory):
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(unavailable_rate=1.0)))
    reports: list = []

    async def body(client: AsyncClient) -> None:
        with pytest.raises(UnavailableError) as info:
            await client.chat.create("grok-4.3", messages=[user("hi")]).sample()
        assert "injected fault" in info.value.message

    policy = fast_policy(max_attempts=3, on_attempt=reports.append)
    run(emu, body, retry_policy=policy, metadata={"x-test": "1"})
    assert [(r.attempt, r.will_retry) for r in reports] == [(1, True), (2, True), (3, False)]
    assert emu.stats.calls["GetCompletion"] == 3


def test_invalid_argument_is_never_retried_and_max_retries_shorthand(emulator_factory):
    emu = emulator_factory()
    reports: list = []

    async def body(client: AsyncClient) -> None:
        with pytest.raises(InvalidRequestError):
            await client.chat.create("grok-4.3", messages=[user("hi")], top_p=3).sample()

    run(emu, body, retry_policy=fast_policy(on_attempt=reports.append))
    assert [(r.attempt, r.will_retry, r.delay) for r in reports] == [(1, False, 0.0)]
    emu.set_faults(FaultConfig(internal_rate=1.0))

    async def shorthand(client: AsyncClient) -> None:
        assert client.retry_policy.max_attempts == 2
        with pytest.raises(InternalServerError):
            await client.chat.create("grok-4.3", messages=[user("x")]).sample()

    run(emu, shorthand, retry_policy=None, max_retries=1)
    assert emu.stats.calls["GetCompletion"] == 3


def test_backoffs_are_the_policys_and_rate_limits_start_longer(emulator_factory):
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(resource_exhausted_rate=1.0)))
    waits: list[float] = []

    async def recorded(delay: float) -> None:
        waits.append(delay)

    policy = fast_policy(
        max_attempts=3, initial_backoff=0.01, rate_limit_backoff=0.5, multiplier=3.0, max_backoff=10.0,
        async_sleep=recorded,
    )  # fmt: skip

    async def body(client: AsyncClient) -> None:
        with pytest.raises(RateLimitError):
            await client.image.sample("a fox")
        emu.set_faults(FaultConfig(unavailable_rate=1.0))
        with pytest.raises(UnavailableError):
            await client.image.sample("a fox")

    run(emu, body, retry_policy=policy)
    # rate_limit_backoff, then times the multiplier (no jitter); then initial_backoff
    assert waits == [0.5, 1.5, 0.01, pytest.approx(0.03)]


def test_rpm_refusals_are_rate_limit_errors(emulator_factory):
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(requests_per_minute=1)))

    async def body(client: AsyncClient) -> None:
        chat = client.chat.create("grok-4.3", messages=[user("hi")])
        await chat.sample()
        with pytest.raises(RateLimitError):
            await chat.sample()

    run(emu, body, retry_policy=fast_policy(max_attempts=2))
    assert emu.stats.rate_limited == 2


def test_interrupt_ends_a_backoff_at_once(emulator_factory):
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(resource_exhausted_rate=1.0)))
    abort = threading.Event()
    policy = fast_policy(rate_limit_backoff=30.0, max_backoff=60.0, interrupt=abort)

    async def body(client: AsyncClient) -> float:
        threading.Timer(0.2, abort.set).start()  # another thread aborts, as the run layer does
        started = time.perf_counter()
        with pytest.raises(CancelledError, match="aborted while waiting to retry"):
            await client.chat.create("grok-4.3", messages=[user("x")]).sample()
        return time.perf_counter() - started

    assert run(emu, body, retry_policy=policy) < 2.0


def test_a_hook_that_raises_ends_the_call(emulator_factory):
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(unavailable_rate=1.0)))

    def stop(info) -> None:
        raise TimeoutError("job deadline")

    async def body(client: AsyncClient) -> None:
        with pytest.raises(TimeoutError) as info:
            await client.chat.create("grok-4.3", messages=[user("x")]).sample()
        assert isinstance(info.value.__cause__, UnavailableError)

    run(emu, body, retry_policy=fast_policy(on_attempt=stop))
    assert emu.stats.calls["GetCompletion"] == 1


def test_streams_restart_from_the_start_before_and_after_the_first_chunk(emulator_factory):
    for cut in (0, 2):
        emu = emulator_factory(EmulatorConfig(faults=FaultConfig(cut_stream_after=cut)))
        seen, heal = heal_after(emu, 1)

        async def body(client: AsyncClient) -> tuple[list, str]:
            chat = client.chat.create(
                "grok-4.3", messages=[user("Stream it.")], seed=5, max_tokens=20
            )
            items = [item async for item in chat.stream()]
            return items, (await chat.sample()).content

        items, unary = run(emu, body, retry_policy=fast_policy(on_attempt=heal))
        attempts = [c.attempt for _, c in items]
        assert attempts[:cut] == [1] * cut and set(attempts[cut:]) == {2}
        final = items[-1][0]
        assert final.attempts == 2 and final.content == unary
        assert final.content == "".join(c.content for _, c in items if c.attempt == 2)
        assert seen == [("UNAVAILABLE", 1, True)]


def test_stream_failures_surface_as_xai_errors(emulator_factory):
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(cut_stream_after=1)))

    async def body(client: AsyncClient) -> None:
        with pytest.raises(UnavailableError):
            async for _ in client.chat.create("grok-4.3", [user("x")], max_tokens=20).stream():
                pass

    run(emu, body, retry_policy=fast_policy(max_attempts=2))
    assert emu.stats.streams_cut == 2


def test_deadline_exceeded_is_raised_and_not_retried(emulator_factory):
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(latency_s=2.0)))

    async def body(client: AsyncClient) -> None:
        with pytest.raises(DeadlineExceededError):
            await client.chat.create("grok-4.3", messages=[user("slow")]).sample()
        with pytest.raises(DeadlineExceededError):
            await client.chat.create("grok-4.3", [user("slow")]).sample(timeout=0.2)

    run(emu, body, timeout=0.2)
    assert emu.stats.calls["GetCompletion"] == 2


def test_a_cancelled_task_cancels_its_rpc(emulator_factory):
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(latency_s=5.0)))
    reports: list = []

    async def body(client: AsyncClient) -> float:
        task = asyncio.create_task(client.chat.create("grok-4.3", [user("slow")]).sample())
        await wait_until(lambda: emu.stats.in_flight == 1)
        started = time.perf_counter()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await wait_until(lambda: emu.stats.in_flight == 0, within=2.0)  # the server saw it end
        assert client._pool._channels[0].in_flight == 0
        return time.perf_counter() - started

    assert run(emu, body, retry_policy=fast_policy(on_attempt=reports.append)) < 2.0
    assert reports == []  # a cancelled task is not a failed attempt
    assert emu.stats.calls["GetCompletion"] == 1


def test_a_cancelled_or_abandoned_stream_cancels_its_rpc(emulator_factory):
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(per_token_delay_s=0.5)))

    async def body(client: AsyncClient) -> None:
        chat = client.chat.create("grok-4.3", [user("A long story")], max_tokens=200)
        stream = chat.stream()
        await anext(stream)
        assert client._pool._channels[0].in_flight == 1 and emu.stats.in_flight == 1
        await stream.aclose()
        assert client._pool._channels[0].in_flight == 0
        await wait_until(lambda: emu.stats.in_flight == 0, within=2.0)

        async def consume() -> None:
            async for _ in chat.stream():
                pass

        task = asyncio.create_task(consume())
        await wait_until(lambda: emu.stats.in_flight == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await wait_until(lambda: emu.stats.in_flight == 0, within=2.0)
        assert client._pool._channels[0].in_flight == 0

    run(emu, body)
