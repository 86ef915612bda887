"""Live counters of a run, shared by the workers, the progress display and the summary."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from xai_pipelines.catalog import TICKS_PER_USD


@dataclass
class RunStats:
    """Thread-safe counters of one run.

    Attributes:
        total: Jobs in the plan (None when unknown).
        skipped: Jobs already finished by an earlier run into the directory.
        unsaved: Jobs that finished but whose result line is only in memory (a write
            failed); counted in ``done`` once written.
    """

    total: int | None = None
    skipped: int = 0
    done: int = 0
    failed: int = 0
    unsaved: int = 0
    in_flight: int = 0
    retries: int = 0
    tokens: int = 0
    images: int = 0
    cost_ticks: int = 0
    errors_by_code: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def job_started(self) -> None:
        """A job was handed to a worker."""
        with self._lock:
            self.in_flight += 1

    def job_finished(self, tokens: int, images: int, cost_ticks: int | None) -> None:
        """A job succeeded."""
        with self._lock:
            self.in_flight -= 1
            self.done += 1
            self.tokens += tokens
            self.images += images
            self.cost_ticks += cost_ticks or 0

    def job_unsaved(self, tokens: int, images: int, cost_ticks: int | None) -> None:
        """A job succeeded but its line could not be written yet (its spend still counts)."""
        with self._lock:
            self.in_flight -= 1
            self.unsaved += 1
            self.tokens += tokens
            self.images += images
            self.cost_ticks += cost_ticks or 0

    def unsaved_written(self) -> None:
        """The line of an unsaved job was written after all."""
        with self._lock:
            self.unsaved -= 1
            self.done += 1

    def job_abandoned(self) -> None:
        """A job ended without a result (the run was aborted under it)."""
        with self._lock:
            self.in_flight -= 1

    def job_failed(self, code: str) -> None:
        """A job failed for good."""
        with self._lock:
            self.in_flight -= 1
            self.failed += 1
            self.errors_by_code[code] += 1

    def retried(self) -> None:
        """An attempt failed and will be retried."""
        with self._lock:
            self.retries += 1

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy of the counters, plus rate and ETA."""
        with self._lock:
            elapsed = max(time.monotonic() - self.started, 1e-9)
            finished = self.done + self.failed + self.unsaved
            rate = finished / elapsed
            remaining = None
            if self.total is not None:
                remaining = max(0, self.total - self.skipped - finished)
            return {
                "total": self.total,
                "skipped": self.skipped,
                "done": self.done,
                "failed": self.failed,
                "unsaved": self.unsaved,
                "in_flight": self.in_flight,
                "retries": self.retries,
                "tokens": self.tokens,
                "images": self.images,
                "cost_usd": self.cost_ticks / TICKS_PER_USD,
                "elapsed_s": elapsed,
                "rate": rate,
                "eta_s": remaining / rate if remaining is not None and rate > 0 else None,
                "errors_by_code": dict(self.errors_by_code),
            }
