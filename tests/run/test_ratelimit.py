"""Token buckets and the rate limiter, on a fake clock (deterministic, no sleeping)."""

from __future__ import annotations

import threading

import pytest

from xai_pipelines.run.ratelimit import RateLimiter, SlowDown, TokenBucket


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


def test_resource_exhausted_slows_dispatch_for_a_window() -> None:
    clock = FakeClock()
    sd = SlowDown(factor=0.5, window_s=5.0, cooldown_s=1.0, min_rate_per_s=1.0)
    limiter = RateLimiter(requests_per_minute=1200, slow_down=sd, clock=clock, sleep=clock.sleep)
    for _ in range(100):
        limiter.acquire()
    limiter.note_rate_limited()
    assert limiter.slowed
    t0, sent = clock.now, 0
    while clock.now - t0 < 4:
        limiter.acquire()
        sent += 1
    assert 30 <= sent <= 45  # ~10/s instead of 20/s
    clock.now += 5
    assert not limiter.slowed
    t0, sent = clock.now, 0
    while clock.now - t0 < 2:
        limiter.acquire()
        sent += 1
    assert sent >= 38


def test_unlimited_limiter_is_free_and_stop_interrupts_waits() -> None:
    limiter = RateLimiter()
    assert all(limiter.acquire(10_000) for _ in range(1000))
    slow = RateLimiter(requests_per_minute=1)
    slow.acquire()
    stop = threading.Event()
    stop.set()
    assert slow.acquire(stop=stop) is False
