"""``xai-run serve`` whose ``--rpm`` is enforced per second, as the hosted API enforces it.

The hosted API derives a per-second limit from the per-minute budget (RPM / 60):
"you cannot spend a full minute's requests in a single second"
(https://docs.x.ai/developers/rate-limits, read 2026-11-29). The emulator's ``--rpm``
counts a sliding minute instead, which admits a minute's budget in the first second
and then refuses everything for the rest of the minute: a client cannot converge on
that within a benchmark's time. Until the emulator models the per-second rule, the
rate-limit rows run it with its request limiter replaced here (tokens per minute
stay the emulator's sliding minute).

Usage: ``python -m benchmarks.per_second serve [serve flags]``
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from xai_pipelines.emulator import ratelimit, server


class PerSecondLimiter(ratelimit.RateLimiter):
    """Requests refused beyond ``rpm / 60`` per second (a bucket holding one second, at
    least one request), per key; tokens as the emulator counts them."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock)
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, stamp)
        self._bucket_lock = threading.Lock()

    def admit(self, key: str, rpm: int | None, tpm: int | None) -> str | None:
        """Count a request for ``key`` if within limits (None), else say why."""
        if rpm is not None:
            rate = rpm / 60
            capacity = max(1.0, rate)
            now = self._clock()
            with self._bucket_lock:
                tokens, stamp = self._buckets.get(key, (capacity, now))
                tokens = min(capacity, tokens + (now - stamp) * rate)
                if tokens < 1:
                    self._buckets[key] = (tokens, now)
                    return f"rate limit exceeded: {rate:g} requests per second per API key"
                self._buckets[key] = (tokens - 1, now)
        return super().admit(key, None, tpm)


def main() -> None:
    """Install the per-second limiter, then run the ``xai-run`` command line."""
    server.RateLimiter = PerSecondLimiter  # type: ignore[misc]
    from xai_pipelines.cli.app import main as cli

    cli()


if __name__ == "__main__":
    main()
