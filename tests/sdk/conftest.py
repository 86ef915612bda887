"""Fixtures for the client tests: clients on the emulator, fast retries, in-memory spans."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from xai_pipelines.emulator import Emulator
from xai_pipelines.sdk import Client, RetryPolicy


def fast_policy(max_attempts: int = 4, **kwargs: object) -> RetryPolicy:
    """A retry policy with millisecond backoffs (tests must stay fast)."""
    settings: dict = {
        "initial_backoff": 0.001,
        "max_backoff": 0.01,
        "rate_limit_backoff": 0.002,
        "jitter": 0.0,
    }
    settings.update(kwargs)
    return RetryPolicy(max_attempts=max_attempts, **settings)


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    """A private tracer provider exporting to memory (the global provider is untouched)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


@pytest.fixture
def make_client() -> Iterator[Callable[..., Client]]:
    """``make(emu, **kwargs)``: a Client on ``emu`` with fast retries, closed at test end."""
    made: list[Client] = []

    def make(emu: Emulator, **kwargs: object) -> Client:
        kwargs.setdefault("retry_policy", fast_policy())
        client = Client(api_key=emu.api_key, api_host=emu.address, **kwargs)  # type: ignore[arg-type]
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(emulator: Emulator, make_client: Callable[..., Client]) -> Client:
    """A client on the shared emulator."""
    return make_client(emulator)
