"""Per-key requests-per-minute and tokens-per-minute limits over a sliding window."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable

WINDOW_S = 60.0


class RateLimiter:
    """Sliding one-minute windows of requests and tokens, per key.

    Args:
        clock: Monotonic clock (injectable for tests).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._requests: dict[str, deque[float]] = defaultdict(deque)
        self._tokens: dict[str, deque[tuple[float, int]]] = defaultdict(deque)

    def admit(self, key: str, rpm: int | None, tpm: int | None) -> str | None:
        """Count a request for ``key`` if within limits.

        Returns:
            None when admitted, else the reason (the request is not counted).
        """
        now = self._clock()
        with self._lock:
            requests = self._requests[key]
            tokens = self._tokens[key]
            while requests and requests[0] <= now - WINDOW_S:
                requests.popleft()
            while tokens and tokens[0][0] <= now - WINDOW_S:
                tokens.popleft()
            if rpm is not None and len(requests) >= rpm:
                return f"rate limit exceeded: {rpm} requests per minute per API key"
            if tpm is not None and sum(n for _, n in tokens) >= tpm:
                return f"rate limit exceeded: {tpm} tokens per minute per API key"
            requests.append(now)
            return None

    def record_tokens(self, key: str, count: int) -> None:
        """Add ``count`` tokens used by ``key`` now."""
        if count > 0:
            with self._lock:
                self._tokens[key].append((self._clock(), count))
