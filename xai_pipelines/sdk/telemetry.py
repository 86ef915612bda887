"""OpenTelemetry tracing for the client: one span per API call.

Every call makes a CLIENT span named ``<operation> <model>`` (``chat.sample grok-4``,
``chat.stream ...``, ``chat.defer ...``, ``image.sample ...``, ``models.list``, ...) as a
child of the caller's current span, so the executor's run/job spans contain them. The
attributes follow the GenAI semantic conventions:

* ``gen_ai.system`` / ``gen_ai.provider.name`` = ``xai``; ``gen_ai.operation.name``
  (``chat`` or ``generate_content``); ``server.address``/``server.port``;
* ``gen_ai.request.model``, ``.temperature``, ``.max_tokens``, ``.top_p``, ``.seed``,
  ``.stop_sequences``, ``.frequency_penalty``, ``.presence_penalty``, ``.choice.count``;
* ``gen_ai.response.model``, ``.id``, ``.finish_reasons``;
* ``gen_ai.usage.input_tokens``, ``.output_tokens``, ``.reasoning_tokens``,
  ``.cache_read.input_tokens``; and ``xai.attempts``, ``xai.cost_usd_ticks``,
  ``xai.ttft_s`` (streams), ``error.type`` on failure (the exception is recorded).

Prompt and completion contents go to ``gen_ai.input.messages`` /
``gen_ai.output.messages`` (JSON) unless ``XAI_PIPELINES_TELEMETRY_CONTENT`` is ``0``,
``false`` or ``no``. The API key is never an attribute.

Nothing is exported until :func:`configure_telemetry` installs a tracer provider
(or the application installs its own); until then spans are no-ops.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

from xai_pipelines.version import __version__

__all__ = [
    "CONTENT_ENV",
    "Exporter",
    "configure_telemetry",
    "content_enabled",
    "get_tracer",
    "recording",
    "tracer",
]

Exporter = Literal["none", "console", "otlp"]

#: Environment variable that disables content attributes when ``0``/``false``/``no``.
CONTENT_ENV = "XAI_PIPELINES_TELEMETRY_CONTENT"
INSTRUMENTATION_NAME = "xai_pipelines.sdk"

#: The module tracer; it follows whatever global tracer provider is installed.
tracer = trace.get_tracer(INSTRUMENTATION_NAME, __version__)


def get_tracer(provider: trace.TracerProvider | None = None) -> trace.Tracer:
    """The SDK tracer from ``provider``, or the module tracer (global provider)."""
    if provider is None:
        return tracer
    return provider.get_tracer(INSTRUMENTATION_NAME, __version__)


def recording(tracer: trace.Tracer) -> bool:
    """Whether ``tracer`` may record spans: False when it is a no-op (no SDK provider).

    A proxy tracer (the global provider's before one is installed) records once a
    global provider is installed, so this is asked per span, not once. Callers skip
    building span attributes, and the span itself, when it is False.
    """
    # exact types first: isinstance against these ABC-derived classes is a Python call
    if type(tracer) is trace.ProxyTracer or isinstance(tracer, trace.ProxyTracer):
        # what the proxy delegates to now: the installed provider's tracer, or a no-op
        tracer = tracer._tracer
    return not (type(tracer) is trace.NoOpTracer or isinstance(tracer, trace.NoOpTracer))


def content_enabled() -> bool:
    """Whether prompt/completion contents may be recorded (``XAI_PIPELINES_TELEMETRY_CONTENT``)."""
    return os.environ.get(CONTENT_ENV, "1").strip().lower() not in {"0", "false", "no", "off"}


def configure_telemetry(exporter: Exporter | None = None) -> TracerProvider | None:
    """Install a global tracer provider exporting the client's spans.

    Args:
        exporter: ``none`` (no provider, spans stay no-ops), ``console`` (spans printed
            to stdout) or ``otlp`` (OTLP/gRPC; endpoint, headers and protocol options come
            from the standard ``OTEL_EXPORTER_OTLP_*`` variables). ``None`` reads
            ``OTEL_TRACES_EXPORTER`` and defaults to ``none``. The resource honours
            ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES``.

    Returns:
        The installed provider (call ``shutdown()`` to flush), or None for ``none``.

    Raises:
        ValueError: For an unknown exporter name.
    """
    name = (exporter or os.environ.get("OTEL_TRACES_EXPORTER") or "none").strip().lower()
    if name == "none":
        return None
    span_exporter: SpanExporter
    if name == "console":
        span_exporter = ConsoleSpanExporter()
        processor: SimpleSpanProcessor | BatchSpanProcessor = SimpleSpanProcessor(span_exporter)
    elif name == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        processor = BatchSpanProcessor(OTLPSpanExporter())
    else:
        raise ValueError(f"unknown telemetry exporter {name!r}: use none, console or otlp")
    service = os.environ.get("OTEL_SERVICE_NAME") or "xai-pipelines"
    resource = Resource.create({"service.name": service})  # also reads OTEL_RESOURCE_ATTRIBUTES
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    return provider


_REQUEST_ATTRS = {
    "temperature": "gen_ai.request.temperature",
    "max_tokens": "gen_ai.request.max_tokens",
    "top_p": "gen_ai.request.top_p",
    "seed": "gen_ai.request.seed",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "n": "gen_ai.request.choice.count",
}


def request_attributes(
    operation: str, model: str, server: str, params: Mapping[str, Any]
) -> dict[str, Any]:
    """Span attributes describing a request.

    Args:
        operation: GenAI operation name (``chat``, ``generate_content``, ...).
        model: Requested model.
        server: ``host:port`` the client talks to.
        params: Request parameters that are set (names as in the JSON request form).
    """
    host, _, port = server.rpartition(":")
    attrs: dict[str, Any] = {
        "gen_ai.system": "xai",
        "gen_ai.provider.name": "xai",
        "gen_ai.operation.name": operation,
        "server.address": host or server,
    }
    if port.isdigit():
        attrs["server.port"] = int(port)
    if model:
        attrs["gen_ai.request.model"] = model
    for key, attr in _REQUEST_ATTRS.items():
        value = params.get(key)
        if value is not None:
            attrs[attr] = value
    stop = params.get("stop")
    if stop:
        attrs["gen_ai.request.stop_sequences"] = list(stop)
    return attrs


def usage_attributes(usage: Any) -> dict[str, Any]:
    """Token-usage attributes from a :class:`~xai_pipelines.records.Usage`."""
    attrs = {
        "gen_ai.usage.input_tokens": usage.prompt_tokens,
        "gen_ai.usage.output_tokens": usage.completion_tokens,
        "gen_ai.usage.reasoning_tokens": usage.reasoning_tokens,
        "gen_ai.usage.cache_read.input_tokens": usage.cached_prompt_tokens,
    }
    if usage.cost_usd_ticks is not None:
        attrs["xai.cost_usd_ticks"] = usage.cost_usd_ticks
    return attrs


def set_content(span: trace.Span, key: str, value: Sequence[Any] | str) -> None:
    """Record prompt or completion contents as JSON, unless disabled by the environment."""
    if content_enabled() and span.is_recording():
        text = value if isinstance(value, str) else json.dumps(list(value), ensure_ascii=False)
        span.set_attribute(key, text)


def record_error(span: trace.Span, exc: BaseException) -> None:
    """Mark ``span`` failed by ``exc`` (records the exception and ``error.type``)."""
    code = getattr(exc, "code", None)
    span.set_attribute("error.type", code if isinstance(code, str) else type(exc).__qualname__)
    span.record_exception(exc)
    span.set_status(trace.Status(trace.StatusCode.ERROR, str(exc)))


def set_attributes(span: trace.Span, attrs: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> None:
    """Set every attribute whose value is not None."""
    items = attrs.items() if isinstance(attrs, Mapping) else attrs
    for key, value in items:
        if value is not None:
            span.set_attribute(key, value)
