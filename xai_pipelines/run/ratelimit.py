"""Client-side rate limits: ``execution.rate_limit.requests_per_minute`` / ``tokens_per_minute``.

The hosted API enforces a team's limits per second: requests per second are the
per-minute budget divided by 60, "you cannot spend a full minute's requests in a
single second", and tokens per minute (https://docs.x.ai/developers/rate-limits,
read 2026-11-29). So each limit here is a token bucket refilled continuously at a
sixtieth of the per-minute figure per second whose capacity (the largest burst) is
:data:`BURST_S` = one second of that rate, at least one request: a run may send in
any one second what the API admits in a second, never a minute's worth.

Each call first takes one request and an *estimate* of its tokens (from the
plan's token bounds, see ``chat_job.call_estimate``); once the
real usage is known the difference is given back (or taken). A call estimated
above one second of tokens waits for a full bucket and then leaves it in debt,
which later calls pay back, so it is never starved.

What the API refuses anyway (``RESOURCE_EXHAUSTED``) is the business of
:mod:`xai_pipelines.run.adaptive`, which adapts the calls in flight.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

Clock = Callable[[], float]

#: Bucket capacity in seconds of refill: the hosted API's window is one second.
BURST_S = 1.0
#: Longest single wait before looking at ``stop`` again.
POLL_S = 0.25


class TokenBucket:
    """A token bucket refilled continuously at ``rate_per_s`` up to ``capacity``.

    The balance may go negative (a call that used more than estimated), which
    delays later takers until it is paid back. It starts with a single token so
    that a short run cannot burst above the rate.

    Args:
        rate_per_s: Refill rate.
        capacity: Largest balance (the burst size); at least 1.
        clock: Monotonic clock in seconds.
    """

    def __init__(self, rate_per_s: float, capacity: float, clock: Clock = time.monotonic) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate_per_s
        self.capacity = max(1.0, capacity)
        self._clock = clock
        self._tokens = min(1.0, self.capacity)
        self._stamp = clock()
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def try_take(self, amount: float) -> float:
        """Take ``amount`` if available now.

        Returns:
            0.0 when taken, otherwise the seconds to wait before trying again.
        """
        with self._lock:
            now = self._clock()
            self._refill(now)
            need = min(amount, self.capacity)
            if self._tokens >= need - 1e-9:  # float slack: never wait a sub-ulp time
                self._tokens -= amount
                return 0.0
            return (need - self._tokens) / self.rate

    def give_back(self, amount: float) -> None:
        """Return ``amount`` (negative to take more) after reconciliation."""
        with self._lock:
            self._refill(self._clock())
            self._tokens = min(self.capacity, self._tokens + amount)


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits shared by all worker threads.

    Both are smoothed per second, as the hosted API applies them: each bucket refills
    at a sixtieth of the per-minute figure every second and holds :data:`BURST_S`
    seconds of it (see the module docstring).

    Args:
        requests_per_minute: None for no request limit.
        tokens_per_minute: None for no token limit.
        clock: Monotonic clock in seconds.
        sleep: Sleep function.
    """

    def __init__(
        self,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._sleep = sleep
        self.requests = per_second_bucket(requests_per_minute, clock)
        self.tokens = per_second_bucket(tokens_per_minute, clock)

    def acquire(self, estimated_tokens: int = 0, stop: threading.Event | None = None) -> bool:
        """Block until one request and ``estimated_tokens`` may be sent.

        Returns:
            False if ``stop`` was set while waiting (nothing is taken then).
        """
        while True:
            if stop is not None and stop.is_set():
                return False
            wait = self.try_acquire(estimated_tokens)
            if wait == 0:
                return True
            if stop is not None:
                stop.wait(min(wait, POLL_S))
            else:
                self._sleep(min(wait, POLL_S))

    @property
    def limited(self) -> bool:
        """Whether any limit is set (without one, :meth:`acquire` never waits)."""
        return self.requests is not None or self.tokens is not None

    def try_acquire(self, estimated_tokens: int = 0) -> float:
        """Take one request and ``estimated_tokens`` if both may be sent now.

        Returns:
            0.0 when taken, otherwise the seconds to wait before trying again (nothing
            is taken then). The async runners wait with it, one caller at a time.
        """
        wait = 0.0
        if self.requests is not None:
            wait = self.requests.try_take(1)
        if wait == 0 and self.tokens is not None and estimated_tokens > 0:
            wait = self.tokens.try_take(estimated_tokens)
            if wait and self.requests is not None:
                self.requests.give_back(1)
        return wait

    def reconcile(self, estimated_tokens: int, actual_tokens: int) -> None:
        """Correct the token bucket once a call's real usage is known."""
        if self.tokens is not None and estimated_tokens != actual_tokens:
            self.tokens.give_back(estimated_tokens - actual_tokens)


def per_second_bucket(
    per_minute: float | None, clock: Clock = time.monotonic
) -> TokenBucket | None:
    """The bucket of a per-minute limit as the hosted API applies it (None: no limit).

    The rule: refill ``per_minute / 60`` every second, hold ``BURST_S`` seconds of
    that (at least 1), so a minute's budget can never go out in one second.
    """
    if not per_minute:
        return None
    rate = per_minute / 60
    return TokenBucket(rate, rate * BURST_S, clock)
