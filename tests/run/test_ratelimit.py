"""Token buckets and the rate limiter, on a fake clock (deterministic, no sleeping).

The limits are smoothed per second as the hosted API applies them (RPM / 60 per second).
"""

from __future__ import annotations

import threading

import pytest

from xai_pipelines.run.ratelimit import BURST_S, RateLimiter, TokenBucket, per_second_bucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_bucket_refills_at_its_rate_and_starts_without_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10.0, 10.0, clock)
    assert bucket.try_take(1) == 0.0
    assert bucket.try_take(1) == pytest.approx(0.1)
    clock.now += 0.5
    for _ in range(5):
        assert bucket.try_take(1) == 0.0
    assert bucket.try_take(1) > 0
    with pytest.raises(ValueError):
        TokenBucket(0, 1)


def test_request_limit_holds_over_a_simulated_minute() -> None:
    clock = FakeClock()
    limiter = RateLimiter(requests_per_minute=600, clock=clock, sleep=clock.sleep)
    start = clock.now
    sent = 0
    while clock.now - start < 60:
        assert limiter.acquire()
        sent += 1
    assert 590 <= sent <= 612


def test_tokens_estimated_then_reconciled() -> None:
    clock = FakeClock()
    limiter = RateLimiter(tokens_per_minute=6000, clock=clock, sleep=clock.sleep)  # 100/s
    clock.now += 1  # fill the 1 s burst: 100 tokens
    assert limiter.acquire(estimated_tokens=100)
    t0 = clock.now
    limiter.reconcile(estimated_tokens=100, actual_tokens=20)  # 80 given back
    assert limiter.acquire(estimated_tokens=80)
    assert clock.now == t0  # no wait: the refund paid for it
    limiter.reconcile(estimated_tokens=10, actual_tokens=110)  # used 100 more than taken
    assert limiter.acquire(estimated_tokens=50)
    assert clock.now - t0 == pytest.approx(1.5, abs=0.01)


def test_oversized_estimate_waits_for_a_full_bucket_not_forever() -> None:
    clock = FakeClock()
    limiter = RateLimiter(tokens_per_minute=600, clock=clock, sleep=clock.sleep)  # 10/s, cap 10
    assert limiter.acquire(estimated_tokens=1000)
    assert clock.now - 100.0 < 2


def test_a_full_bucket_bursts_one_second_of_rate_never_a_minute() -> None:
    clock = FakeClock()
    limiter = RateLimiter(requests_per_minute=6000, clock=clock, sleep=clock.sleep)  # 100/s
    assert limiter.requests is not None and limiter.requests.capacity == 100 * BURST_S
    clock.now += 3600  # idle for an hour: the bucket holds one second's worth, no more
    t0, sent = clock.now, 0
    while clock.now == t0:
        limiter.acquire()
        sent += 1
    assert sent == 101  # the burst (100), then the first call that had to wait
    for second in range(5):  # then 100 per second, in every second
        start, sent = clock.now, 0
        while clock.now - start < 1.0:
            limiter.acquire()
            sent += 1
        assert 99 <= sent <= 101, second


def test_per_second_bucket_rule() -> None:
    assert per_second_bucket(None) is None and per_second_bucket(0) is None
    tokens = per_second_bucket(600_000)
    assert tokens is not None and (tokens.rate, tokens.capacity) == (10_000, 10_000)
    slow = per_second_bucket(30)  # half a request per second: a burst of at least one
    assert slow is not None and (slow.rate, slow.capacity) == (0.5, 1.0)


def test_unlimited_limiter_is_free_and_stop_interrupts_waits() -> None:
    limiter = RateLimiter()
    assert all(limiter.acquire(10_000) for _ in range(1000))
    slow = RateLimiter(requests_per_minute=1)
    slow.acquire()
    stop = threading.Event()
    stop.set()
    assert slow.acquire(stop=stop) is False
