"""Run-level tracing: the run id on every span started under a run, RPC spans included.

The run span puts the run id in OpenTelemetry baggage; a span processor added
to the SDK tracer provider copies it onto every span started below it, so the
client's RPC spans carry it without the client knowing about runs.
"""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider

RUN_ID_ATTR = "xai_pipelines.run_id"
_installed: set[int] = set()
_lock = threading.Lock()


class RunIdProcessor(SpanProcessor):
    """Copies the run id from baggage onto each span as it starts."""

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        """Set :data:`RUN_ID_ATTR` when a run id is in the parent context's baggage."""
        run_id = baggage.get_baggage(RUN_ID_ATTR, parent_context)
        if run_id is not None:
            span.set_attribute(RUN_ID_ATTR, str(run_id))

    def on_end(self, span: ReadableSpan) -> None:
        """Nothing to do at the end of a span."""


def install_run_id_processor(provider: Any | None = None) -> None:
    """Add :class:`RunIdProcessor` to the (global) SDK tracer provider, once."""
    provider = provider or trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        return  # no SDK provider installed: spans are no-ops anyway
    with _lock:
        if id(provider) not in _installed:
            provider.add_span_processor(RunIdProcessor())
            _installed.add(id(provider))


def run_context(run_id: str, span: trace.Span) -> otel_context.Context:
    """The context job spans start in: the run span, plus the run id in baggage."""
    ctx = trace.set_span_in_context(span)
    return baggage.set_baggage(RUN_ID_ATTR, run_id, ctx)
