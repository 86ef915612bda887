"""Seeded fault decisions: delays and injected errors, swappable at runtime."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

import grpc

from xai_pipelines.emulator.config import FaultConfig


@dataclass(frozen=True)
class CallFaults:
    """What happens to one call, decided when it starts."""

    config: FaultConfig
    delay_s: float
    error: grpc.StatusCode | None


class FaultInjector:
    """Draws per-call faults from one generator seeded by ``FaultConfig.seed``.

    Replacing the config (``set``) reseeds, so a test sees the same faults for
    the same sequence of calls.
    """

    def __init__(self, config: FaultConfig) -> None:
        self._lock = threading.Lock()
        self.set(config)

    @property
    def config(self) -> FaultConfig:
        """The faults in force."""
        return self._config

    def set(self, config: FaultConfig) -> None:
        """Replace the faults in force."""
        with self._lock:
            self._config = config
            self._rng = random.Random(config.seed)

    def applies_to(self, method: str) -> bool:
        """Whether faults apply to the gRPC method path ``method``."""
        return any(method.startswith(prefix) for prefix in self._config.methods)

    def draw(self) -> CallFaults:
        """Decide the delay and error (if any) of a call starting now."""
        with self._lock:
            config = self._config
            jitter = self._rng.uniform(0, config.jitter_s) if config.jitter_s else 0.0
            roll = self._rng.random()
        error = None
        for rate, code in (
            (config.unavailable_rate, grpc.StatusCode.UNAVAILABLE),
            (config.resource_exhausted_rate, grpc.StatusCode.RESOURCE_EXHAUSTED),
            (config.internal_rate, grpc.StatusCode.INTERNAL),
        ):
            if roll < rate:
                error = code
                break
            roll -= rate
        return CallFaults(config, config.latency_s + jitter, error)
