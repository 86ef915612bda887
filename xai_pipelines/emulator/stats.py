"""Call counters the emulator keeps (read through ``Emulator.stats``)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class EmulatorStats:
    """A snapshot of the counters.

    Attributes:
        calls: Calls received per method name (e.g. ``"GetCompletion"``), authenticated or not.
        errors_injected: Injected errors per status code name (e.g. ``"UNAVAILABLE"``),
            including rate-limit refusals and cut streams.
        rate_limited: Calls refused by the per-key RPM/TPM limits.
        unauthenticated: Calls refused for a missing or wrong key.
        streams_cut: Streams aborted after ``cut_stream_after`` chunks.
        in_flight: Calls in progress now.
        peak_in_flight: Most calls in progress at once since start.
    """

    calls: dict[str, int] = field(default_factory=dict)
    errors_injected: dict[str, int] = field(default_factory=dict)
    rate_limited: int = 0
    unauthenticated: int = 0
    streams_cut: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0

    @property
    def total_calls(self) -> int:
        """All calls received."""
        return sum(self.calls.values())


class StatsRecorder:
    """Thread-safe counters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()
        self._counts: Counter[str] = Counter()
        self._in_flight = 0
        self._peak = 0

    def call(self, method: str) -> None:
        """Count a call to ``method`` (its short name)."""
        with self._lock:
            self._calls[method] += 1

    def error(self, code_name: str) -> None:
        """Count an injected error."""
        with self._lock:
            self._errors[code_name] += 1

    def bump(self, counter: str) -> None:
        """Count one of ``rate_limited``, ``unauthenticated``, ``streams_cut``."""
        with self._lock:
            self._counts[counter] += 1

    def enter(self) -> None:
        """A call started."""
        with self._lock:
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)

    def leave(self) -> None:
        """A call ended."""
        with self._lock:
            self._in_flight -= 1

    def snapshot(self) -> EmulatorStats:
        """The counters now."""
        with self._lock:
            return EmulatorStats(
                calls=dict(self._calls),
                errors_injected=dict(self._errors),
                rate_limited=self._counts["rate_limited"],
                unauthenticated=self._counts["unauthenticated"],
                streams_cut=self._counts["streams_cut"],
                in_flight=self._in_flight,
                peak_in_flight=self._peak,
            )
