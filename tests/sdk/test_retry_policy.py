"""The retry policy on its own: decisions, delays, callbacks, stream restarts."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from xai_pipelines.sdk import errors
from xai_pipelines.sdk.retry import AttemptInfo, RetryPolicy, is_rate_limited, is_retryable


def err(code: grpc.StatusCode) -> errors.XaiError:
    return errors.error_for_status(code, "boom")


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        (grpc.StatusCode.UNAVAILABLE, True),
        (grpc.StatusCode.INTERNAL, True),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, True),
        (grpc.StatusCode.DEADLINE_EXCEEDED, False),
        (grpc.StatusCode.INVALID_ARGUMENT, False),
        (grpc.StatusCode.UNAUTHENTICATED, False),
        (grpc.StatusCode.PERMISSION_DENIED, False),
        (grpc.StatusCode.NOT_FOUND, False),
        (grpc.StatusCode.CANCELLED, False),
    ],
)
def test_which_codes_are_retryable(code, retryable):
    assert is_retryable(err(code)) is retryable
    assert is_rate_limited(err(code)) is (code == grpc.StatusCode.RESOURCE_EXHAUSTED)


def test_non_api_errors_are_final():
    assert not is_retryable(ValueError("x"))
    assert not is_retryable(errors.MissingApiKeyError())


def test_error_classes_keep_code_message_and_request_id():
    e = errors.error_for_status(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down", request_id="r-1")
    assert isinstance(e, errors.RateLimitError)
    assert (e.code, e.message, e.request_id) == ("RESOURCE_EXHAUSTED", "slow down", "r-1")
    assert str(e) == "RESOURCE_EXHAUSTED: slow down (request id r-1)"
    assert isinstance(errors.error_for_status(grpc.StatusCode.ABORTED, "x"), errors.APIError)


def test_errors_module_all_is_complete():
    public = {
        n for n, v in vars(errors).items() if isinstance(v, type) and issubclass(v, Exception)
    }
    assert public <= set(errors.__all__)


def test_delays_grow_cap_and_rate_limits_start_longer():
    policy = RetryPolicy(
        initial_backoff=0.1, multiplier=2, max_backoff=0.5, jitter=0, rate_limit_backoff=0.4
    )
    unavailable = err(grpc.StatusCode.UNAVAILABLE)
    assert [policy.delay(unavailable, n) for n in (1, 2, 3, 4, 5)] == pytest.approx(
        [0.1, 0.2, 0.4, 0.5, 0.5]
    )
    limited = err(grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert [policy.delay(limited, n) for n in (1, 2)] == pytest.approx([0.4, 0.5])
    jittered = RetryPolicy(initial_backoff=1, jitter=0.5, max_backoff=100)
    assert all(1 <= jittered.delay(unavailable, 1) <= 1.5 for _ in range(50))


def test_call_retries_reports_and_sleeps_through_the_policy():
    slept: list[float] = []
    reported: list[AttemptInfo] = []
    policy = RetryPolicy(max_attempts=4, initial_backoff=0.5, jitter=0, sleep=slept.append,
                         on_attempt=reported.append)  # fmt: skip
    attempts: list[int] = []

    def flaky(attempt: int) -> str:
        attempts.append(attempt)
        if attempt < 3:
            raise err(grpc.StatusCode.UNAVAILABLE)
        return "ok"

    assert policy.call(flaky) == "ok"
    assert attempts == [1, 2, 3] and slept == [0.5, 1.0]
    assert [(r.error.code, r.attempt, r.delay, r.will_retry) for r in reported] == [
        ("UNAVAILABLE", 1, 0.5, True),
        ("UNAVAILABLE", 2, 1.0, True),
    ]


def test_call_gives_up_and_reraises_the_last_error():
    policy = RetryPolicy(max_attempts=2, sleep=lambda s: None)
    calls: list[int] = []

    def always(attempt: int) -> None:
        calls.append(attempt)
        raise err(grpc.StatusCode.INTERNAL)

    with pytest.raises(errors.InternalServerError):
        policy.call(always)
    assert calls == [1, 2]

    def final(attempt: int) -> None:
        calls.append(attempt)
        raise err(grpc.StatusCode.NOT_FOUND)

    calls.clear()
    with pytest.raises(errors.NotFoundError):
        policy.call(final)
    assert calls == [1]


def test_retry_stream_restarts_from_the_start():
    policy = RetryPolicy(max_attempts=3, sleep=lambda s: None)

    def open_stream(attempt: int):
        yield (attempt, "a")
        if attempt == 1:
            raise err(grpc.StatusCode.UNAVAILABLE)
        yield (attempt, "b")

    assert list(policy.stream(open_stream)) == [(1, "a"), (2, "a"), (2, "b")]


def test_policy_validation():
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="multiplier"):
        RetryPolicy(multiplier=0.5)


def test_decisions_come_from_the_error_classes():
    assert errors.RateLimitError("x").retryable and errors.UnavailableError("x").retryable
    assert errors.InternalServerError("x").retryable  # INTERNAL by default
    unknown = err(grpc.StatusCode.UNKNOWN)
    assert isinstance(unknown, errors.InternalServerError) and not is_retryable(unknown)
    assert not is_retryable(err(grpc.StatusCode.DATA_LOSS))
    assert not is_retryable(errors.DeadlineExceededError("x"))
    assert is_rate_limited(errors.RateLimitError("x", code="RESOURCE_EXHAUSTED"))


def test_the_final_failure_is_reported_without_a_retry():
    reported: list[AttemptInfo] = []
    policy = RetryPolicy(max_attempts=2, jitter=0, sleep=lambda s: None, on_attempt=reported.append)
    with pytest.raises(errors.UnavailableError):
        policy.call(lambda n: (_ for _ in ()).throw(err(grpc.StatusCode.UNAVAILABLE)))
    assert [(r.attempt, r.will_retry) for r in reported] == [(1, True), (2, False)]
    assert reported[-1].delay == 0.0


def test_a_hook_that_raises_ends_the_call_chained_to_the_attempt_error():
    class Stop(Exception):
        pass

    def hook(info: AttemptInfo) -> None:
        if info.will_retry:
            raise Stop("deadline")

    calls: list[int] = []

    def flaky(attempt: int) -> None:
        calls.append(attempt)
        raise err(grpc.StatusCode.UNAVAILABLE)

    policy = RetryPolicy(max_attempts=5, sleep=lambda s: None, on_attempt=hook)
    with pytest.raises(Stop) as info:
        policy.call(flaky)
    assert calls == [1] and isinstance(info.value.__cause__, errors.UnavailableError)


def test_an_interrupt_ends_the_backoff_at_once():
    import threading
    import time

    stop = threading.Event()
    stop.set()
    policy = RetryPolicy(max_attempts=3, initial_backoff=30, interrupt=stop)
    started = time.monotonic()
    with pytest.raises(errors.CancelledError):
        policy.call(lambda n: (_ for _ in ()).throw(err(grpc.StatusCode.UNAVAILABLE)))
    assert time.monotonic() - started < 5


def test_streams_share_decisions_and_reports_with_unary_calls():
    reported: list[AttemptInfo] = []
    policy = RetryPolicy(max_attempts=3, jitter=0, sleep=lambda s: None, on_attempt=reported.append)

    def broken(attempt: int):
        yield attempt
        raise err(grpc.StatusCode.RESOURCE_EXHAUSTED if attempt == 1 else grpc.StatusCode.NOT_FOUND)

    with pytest.raises(errors.NotFoundError):
        list(policy.stream(broken))
    assert [(r.attempt, r.will_retry, r.delay) for r in reported] == [
        (1, True, policy.rate_limit_backoff),
        (2, False, 0.0),
    ]


def test_a_stream_closed_by_its_consumer_is_not_a_failed_attempt():
    reported: list[AttemptInfo] = []
    closed: list[int] = []
    policy = RetryPolicy(max_attempts=3, sleep=lambda s: None, on_attempt=reported.append)

    def endless(attempt: int):
        try:
            while True:
                yield attempt
        finally:
            closed.append(attempt)

    items = policy.stream(endless)
    assert [next(items), next(items)] == [1, 1]
    items.close()
    assert closed == [1] and reported == []


def test_async_calls_and_streams_decide_report_and_wait_as_the_sync_ones():
    """acall/astream run the same loop as call/stream: same attempts, reports and waits;
    a failed stream attempt is closed before the next opens."""
    import asyncio

    def flaky(attempt: int) -> str:
        if attempt < 3:
            raise err(grpc.StatusCode.UNAVAILABLE if attempt == 1 else grpc.StatusCode.INTERNAL)
        return "ok"

    def policy(reported: list[AttemptInfo], slept: list[float]) -> RetryPolicy:
        async def async_sleep(delay: float) -> None:
            slept.append(delay)

        return RetryPolicy(max_attempts=3, initial_backoff=0.5, jitter=0, sleep=slept.append,
                           async_sleep=async_sleep, on_attempt=reported.append)  # fmt: skip

    sync_reports: list[AttemptInfo] = []
    sync_slept: list[float] = []
    assert policy(sync_reports, sync_slept).call(flaky) == "ok"

    async def attempt(number: int) -> str:
        return flaky(number)

    closed: list[int] = []

    async def open_stream(number: int):
        try:
            yield number
            flaky(number)
            yield "done"
        finally:
            closed.append(number)

    async def run_async() -> tuple[list[AttemptInfo], list[float], list[AttemptInfo], list[Any]]:
        reports: list[AttemptInfo] = []
        slept: list[float] = []
        assert await policy(reports, slept).acall(attempt) == "ok"
        stream_reports: list[AttemptInfo] = []
        items = [item async for item in policy(stream_reports, []).astream(open_stream)]
        return reports, slept, stream_reports, items

    reports, slept, stream_reports, items = asyncio.run(run_async())
    shape = [(r.attempt, type(r.error), r.delay, r.will_retry) for r in sync_reports]
    assert [(r.attempt, type(r.error), r.delay, r.will_retry) for r in reports] == shape
    assert [(r.attempt, type(r.error), r.delay, r.will_retry) for r in stream_reports] == shape
    assert slept == sync_slept == [0.5, 1.0]
    assert items == [1, 2, 3, "done"] and closed == [1, 2, 3]


def test_a_cancelled_async_call_is_neither_retried_nor_reported():
    import asyncio

    reported: list[AttemptInfo] = []
    policy = RetryPolicy(max_attempts=5, on_attempt=reported.append)
    attempts: list[int] = []

    async def hang(attempt: int) -> None:
        attempts.append(attempt)
        await asyncio.sleep(60)

    async def main() -> None:
        task = asyncio.ensure_future(policy.acall(hang))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert attempts == [1] and reported == []
