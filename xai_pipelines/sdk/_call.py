"""The one call wrapper: channel lease, error conversion, retries and spans.

Every RPC the client makes goes through :class:`Caller`. This is the only place
``grpc.RpcError`` is caught: it becomes an :class:`~xai_pipelines.sdk.errors.XaiError`
(``raise ... from exc``) with the API key scrubbed from the message, and the retry
policy decides on the converted error. Service clients add the span around it
with :meth:`Caller.traced` (unary) or :meth:`Caller.start_span` (streams, whose
span outlives the call that creates it).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import trace

from xai_pipelines.sdk import telemetry
from xai_pipelines.sdk._channel import ChannelPool
from xai_pipelines.sdk.errors import REQUEST_ID_KEYS, XaiError, error_for_status
from xai_pipelines.sdk.redact import redact
from xai_pipelines.sdk.retry import RetryPolicy


def convert_rpc_error(exc: grpc.RpcError, api_key: str) -> XaiError:
    """The :class:`XaiError` for a failed call (sync or ``grpc.aio``), key scrubbed."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = (exc.details() if hasattr(exc, "details") else None) or ""
    details = redact(details, (api_key,))
    request_id = None
    trailing = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
    for key, value in trailing or ():
        if key.lower() in REQUEST_ID_KEYS:
            request_id = value if isinstance(value, str) else value.decode()
    return error_for_status(code, details, request_id=request_id)


class _Untraced:
    """The block of a call without a span (telemetry off): it holds the invalid span and
    does nothing else, so one instance serves every call."""

    __slots__ = ()

    def __enter__(self) -> trace.Span:
        return trace.INVALID_SPAN

    def __exit__(self, *exc_info: object) -> None:
        return None


_UNTRACED = _Untraced()


class CallTracing:
    """The span half of a caller, shared by :class:`Caller` and ``sdk.aio``'s.

    Args:
        tracer: Tracer for the call spans.
        server: ``host:port`` (span attribute).
    """

    def __init__(self, tracer: trace.Tracer, server: str) -> None:
        self.tracer = tracer
        self.server = server

    @property
    def recording(self) -> bool:
        """Whether the call spans may record (see :func:`telemetry.recording`)."""
        return telemetry.recording(self.tracer)

    def traced(
        self, name: str, attributes: Mapping[str, Any]
    ) -> AbstractContextManager[trace.Span]:
        """A CLIENT span around a unary call; a failure is recorded on it and re-raised.

        With a no-op tracer there is no span to make (nor to make current): the block
        gets the invalid span, whose methods do nothing.
        """
        if not self.recording:
            return _UNTRACED
        return self._span(name, attributes)

    @contextmanager
    def _span(self, name: str, attributes: Mapping[str, Any]) -> Iterator[trace.Span]:
        with self.tracer.start_as_current_span(
            name,
            kind=trace.SpanKind.CLIENT,
            attributes=dict(attributes),
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except BaseException as exc:
                telemetry.record_error(span, exc)
                raise

    def start_span(
        self, name: str, attributes: Mapping[str, Any], parent: otel_context.Context
    ) -> trace.Span:
        """Start (not activate) a CLIENT span under ``parent``; the caller ends it."""
        return self.tracer.start_span(
            name, context=parent, kind=trace.SpanKind.CLIENT, attributes=dict(attributes)
        )

    def attributes(self, operation: str, model: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Request attributes for a span (see :func:`telemetry.request_attributes`)."""
        return telemetry.request_attributes(operation, model, self.server, params)


class Caller(CallTracing):
    """Sends requests over a channel pool with conversion, retries and tracing.

    Args:
        pool: The client's channel pool.
        policy: Retry policy for every call.
        tracer: Tracer for the call spans.
        server: ``host:port`` (span attribute).
        api_key: Scrubbed from any error message.
    """

    def __init__(
        self,
        pool: ChannelPool,
        policy: RetryPolicy,
        tracer: trace.Tracer,
        server: str,
        api_key: str,
    ) -> None:
        super().__init__(tracer, server)
        self.pool = pool
        self.policy = policy
        self._api_key = api_key

    def unary(
        self,
        stub_class: type,
        method: str,
        request: Any,
        *,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> tuple[Any, int]:
        """Call a unary RPC with retries.

        Args:
            stub_class: The generated stub class.
            method: The RPC name.
            request: The request proto.
            timeout: Deadline in seconds (default: the client's).
            metadata: Extra gRPC metadata for this call only.

        Returns:
            ``(response, attempts)``.
        """
        return self.client_stream(
            stub_class, method, lambda: request, timeout=timeout, metadata=metadata
        )

    def client_stream(
        self,
        stub_class: type,
        method: str,
        requests: Callable[[], Any],
        *,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> tuple[Any, int]:
        """Call a unary or client-streaming RPC with retries.

        Args:
            requests: Makes the request (or, for a client-streaming RPC, a fresh iterator
                of requests): called once per attempt, so a retry resends from the start.

        Returns:
            ``(response, attempts)``.
        """
        extra = tuple(metadata) or None

        def attempt(number: int) -> tuple[Any, int]:
            with self.pool.lease() as channel, self._converted():
                call = getattr(channel.stub(stub_class), method)
                return call(requests(), timeout=timeout, metadata=extra), number

        return self.policy.call(attempt)

    def stream(
        self,
        stub_class: type,
        method: str,
        request: Any,
        *,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> Generator[tuple[int, Any], None, None]:
        """Call a server-streaming RPC, reopening it from the start on retryable errors.

        Yields:
            ``(attempt, item)``; a larger attempt than before means the stream restarted.
        """
        extra = tuple(metadata) or None

        def open_stream(number: int) -> Iterator[tuple[int, Any]]:
            with self.pool.lease() as channel:
                call = getattr(channel.stub(stub_class), method)(
                    request, timeout=timeout, metadata=extra
                )
                try:
                    with self._converted():
                        for item in call:
                            yield number, item
                finally:
                    call.cancel()  # no-op once finished; frees the stream if abandoned

        return self.policy.stream(open_stream)

    @contextmanager
    def _converted(self) -> Iterator[None]:
        try:
            yield
        except grpc.RpcError as exc:
            raise self._convert(exc) from exc

    def _convert(self, exc: grpc.RpcError) -> XaiError:
        return convert_rpc_error(exc, self._api_key)
