"""Client-side rate limits: token buckets for requests and tokens per minute.

Each call first takes one request and an *estimate* of its tokens (from the
plan's token bounds, see ``chat_job.call_estimate``); once the
real usage is known the difference is given back (or taken). After the API
answers ``RESOURCE_EXHAUSTED`` the dispatch rate is cut for a while
(:meth:`RateLimiter.note_rate_limited`), on top of the configured limits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

Clock = Callable[[], float]


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


@dataclass(frozen=True)
class SlowDown:
    """How hard and how long to slow down after ``RESOURCE_EXHAUSTED``.

    Attributes:
        factor: The dispatch rate is multiplied by this on each rate-limit error.
        window_s: How long the reduced rate holds after the last rate-limit error.
        cooldown_s: Minimum time between two successive reductions.
        min_rate_per_s: The rate never drops below this.
    """

    factor: float = 0.5
    window_s: float = 10.0
    cooldown_s: float = 1.0
    min_rate_per_s: float = 0.5


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits shared by all worker threads.

    Args:
        requests_per_minute: None for no request limit.
        tokens_per_minute: None for no token limit.
        burst_s: Bucket capacity, in seconds of refill.
        slow_down: Reaction to ``RESOURCE_EXHAUSTED``.
        clock: Monotonic clock in seconds.
        sleep: Sleep function.
    """

    def __init__(
        self,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        *,
        burst_s: float = 1.0,
        slow_down: SlowDown | None = None,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._burst_s = burst_s
        self.requests = (
            TokenBucket(requests_per_minute / 60, requests_per_minute / 60 * burst_s, clock)
            if requests_per_minute
            else None
        )
        self.tokens = (
            TokenBucket(tokens_per_minute / 60, tokens_per_minute / 60 * burst_s, clock)
            if tokens_per_minute
            else None
        )
        self.slow_down = slow_down or SlowDown()
        self._lock = threading.Lock()
        self._recent: deque[float] = deque(maxlen=512)
        self._slow: TokenBucket | None = None
        self._slow_until = 0.0
        self._last_cut = -1e9

    def acquire(self, estimated_tokens: int = 0, stop: threading.Event | None = None) -> bool:
        """Block until one request and ``estimated_tokens`` may be sent.

        Returns:
            False if ``stop`` was set while waiting (nothing is taken then).
        """
        while True:
            if stop is not None and stop.is_set():
                return False
            wait = self._wait_slow()
            if wait == 0 and self.requests is not None:
                wait = self.requests.try_take(1)
            if wait == 0 and self.tokens is not None and estimated_tokens > 0:
                wait = self.tokens.try_take(estimated_tokens)
                if wait and self.requests is not None:
                    self.requests.give_back(1)
            if wait == 0:
                with self._lock:
                    self._recent.append(self._clock())
                return True
            if stop is not None:
                stop.wait(min(wait, 0.25))
            else:
                self._sleep(min(wait, 0.25))

    def _wait_slow(self) -> float:
        with self._lock:
            slow = self._slow
            if slow is not None and self._clock() >= self._slow_until:
                self._slow = slow = None
        return slow.try_take(1) if slow is not None else 0.0

    def reconcile(self, estimated_tokens: int, actual_tokens: int) -> None:
        """Correct the token bucket once a call's real usage is known."""
        if self.tokens is not None and estimated_tokens != actual_tokens:
            self.tokens.give_back(estimated_tokens - actual_tokens)

    def note_rate_limited(self) -> None:
        """React to ``RESOURCE_EXHAUSTED``: cut the dispatch rate for ``window_s``."""
        sd = self.slow_down
        with self._lock:
            now = self._clock()
            self._slow_until = now + sd.window_s
            if now - self._last_cut < sd.cooldown_s:
                return
            self._last_cut = now
            current = self._slow.rate if self._slow is not None else self._observed_rate(now)
            rate = max(sd.min_rate_per_s, current * sd.factor)
            self._slow = TokenBucket(rate, rate * self._burst_s, self._clock)
        log.warning("rate limited by the API: dispatch slowed to %.2f requests/s", rate)

    def _observed_rate(self, now: float) -> float:
        configured = self.requests.rate if self.requests is not None else float("inf")
        if len(self._recent) < 2:
            return min(configured, self.slow_down.min_rate_per_s * 20)
        span = max(now - self._recent[0], 1e-3)
        return min(configured, len(self._recent) / span)

    @property
    def slowed(self) -> bool:
        """Whether a slow-down window is in force."""
        with self._lock:
            return self._slow is not None and self._clock() < self._slow_until
