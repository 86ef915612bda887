"""gRPC channels: options, auth and deadline interceptors, and a pool of channels.

One HTTP/2 connection carries about 100 concurrent streams, so the client keeps a
small pool: a call leases the least-loaded channel, and a new channel is opened
when every open one already carries ``calls_per_channel`` calls (up to
``max_channels``). Each channel gets its own connection (a local subchannel pool;
otherwise gRPC would share one connection between identical channels).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, NamedTuple, TypeVar

import grpc

from xai_pipelines.version import __version__

USER_AGENT = f"xai-pipelines/{__version__}"
CLIENT_VERSION_METADATA = ("xai-sdk-version", f"xai-pipelines-python/{__version__}")
_MIB = 1 << 20
#: Calls one channel carries before the pool opens another: HTTP/2 servers commonly allow
#: about 100 concurrent streams per connection (gRPC's and the hosted API's front ends).
CALLS_PER_CHANNEL = 64

CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.max_send_message_length", 20 * _MIB),
    ("grpc.max_receive_message_length", 20 * _MIB),
    # The client's RetryPolicy is the only retry layer (see retry.py).
    ("grpc.enable_retries", 0),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.primary_user_agent", USER_AGENT),
    ("grpc.use_local_subchannel_pool", 1),
)


class _CallDetails(NamedTuple):
    method: str
    timeout: float | None
    metadata: Sequence[tuple[str, str]] | None
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: Any


class _Interceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
):
    """Rewrites call details (one class serves unary, server- and client-streaming calls)."""

    def __init__(self, rewrite: Callable[[Any], _CallDetails]) -> None:
        self._rewrite = rewrite

    def intercept_unary_unary(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        return continuation(self._rewrite(client_call_details), request)

    def intercept_unary_stream(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        return continuation(self._rewrite(client_call_details), request)

    def intercept_stream_unary(self, continuation, client_call_details, request_iterator):  # type: ignore[no-untyped-def]
        return continuation(self._rewrite(client_call_details), request_iterator)


def call_metadata(
    api_key: str, metadata: Sequence[tuple[str, str]] = ()
) -> tuple[tuple[str, str], ...]:
    """The metadata every call carries after its own: the bearer key, the client version
    and the client's extra metadata (sync channels add it by interceptor, async calls
    directly)."""
    return (("authorization", f"Bearer {api_key}"), CLIENT_VERSION_METADATA, *metadata)


def call_timeout(explicit: float | None, default: float) -> float:
    """The deadline of a call: its own, else the client's default."""
    return default if explicit is None else explicit


def channel_credentials() -> grpc.ChannelCredentials:
    """TLS credentials with the system's root certificates (the API key goes in metadata)."""
    return grpc.ssl_channel_credentials()


def auth_interceptor(api_key: str, metadata: Sequence[tuple[str, str]] = ()) -> _Interceptor:
    """Adds ``authorization: Bearer <key>``, the client version and extra metadata."""
    extra = call_metadata(api_key, metadata)

    def rewrite(details: Any) -> _CallDetails:
        return _CallDetails(
            details.method,
            details.timeout,
            (*(details.metadata or ()), *extra),
            details.credentials,
            details.wait_for_ready,
            details.compression,
        )

    return _Interceptor(rewrite)


def deadline_interceptor(timeout: float) -> _Interceptor:
    """Gives calls without an explicit timeout a deadline of ``timeout`` seconds."""

    def rewrite(details: Any) -> _CallDetails:
        return _CallDetails(
            details.method,
            call_timeout(details.timeout, timeout),
            details.metadata,
            details.credentials,
            details.wait_for_ready,
            details.compression,
        )

    return _Interceptor(rewrite)


def open_channel(
    target: str,
    *,
    secure: bool,
    api_key: str,
    timeout: float,
    metadata: Sequence[tuple[str, str]] = (),
) -> grpc.Channel:
    """Open one intercepted channel to ``target``."""
    if secure:
        raw = grpc.secure_channel(target, channel_credentials(), options=CHANNEL_OPTIONS)
    else:
        raw = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
    return grpc.intercept_channel(
        raw, auth_interceptor(api_key, metadata), deadline_interceptor(timeout)
    )


C = TypeVar("C")


class PooledChannel(Generic[C]):
    """A channel (sync or ``grpc.aio``) plus its cached stubs and its count of calls in flight."""

    def __init__(self, channel: C) -> None:
        self.channel = channel
        self.in_flight = 0
        self._stubs: dict[type, Any] = {}

    def stub(self, stub_class: type) -> Any:
        """The (cached) stub of ``stub_class`` on this channel."""
        stub = self._stubs.get(stub_class)
        if stub is None:
            stub = self._stubs[stub_class] = stub_class(self.channel)
        return stub


class LeasePool(Generic[C]):
    """Channels to one target, opened on demand and leased to calls by load.

    A call leases the least-loaded channel; a new one is opened when every open one
    already carries ``calls_per_channel`` calls, up to ``max_channels`` (past that the
    least-loaded channel takes more). Shared by the sync pool and ``sdk.aio``'s.

    Args:
        factory: Opens a new channel.
        max_channels: Most channels ever opened.
        calls_per_channel: Calls a channel carries before another one is opened.
    """

    def __init__(self, factory: Callable[[], C], max_channels: int, calls_per_channel: int) -> None:
        if max_channels < 1 or calls_per_channel < 1:
            raise ValueError("max_channels and calls_per_channel must be positive")
        self._factory = factory
        self._max = max_channels
        self._per_channel = calls_per_channel
        self._channels: collections.deque[PooledChannel[C]] = collections.deque()
        self._lock = threading.Lock()
        self._closed = False

    @property
    def size(self) -> int:
        """Channels open now."""
        return len(self._channels)

    def lease(self) -> Lease[C]:
        """Borrow a channel for the duration of one call (``with pool.lease() as channel``)."""
        return Lease(self)

    def _release(self, chosen: PooledChannel[C]) -> None:
        with self._lock:
            chosen.in_flight -= 1

    def _acquire(self) -> PooledChannel[C]:
        with self._lock:
            if self._closed:
                raise RuntimeError("the client is closed")
            best = min(self._channels, key=lambda c: c.in_flight, default=None)
            if best is None or (best.in_flight >= self._per_channel and self.size < self._max):
                best = PooledChannel(self._factory())
                self._channels.append(best)
            best.in_flight += 1
            return best

    def _detach(self) -> list[C]:
        """Mark the pool closed and hand over its channels (for the caller to close)."""
        with self._lock:
            self._closed = True
            channels, self._channels = list(self._channels), collections.deque()
        return [pooled.channel for pooled in channels]


class Lease(Generic[C]):
    """The block of :meth:`LeasePool.lease`: a channel taken on entry, given back on exit
    (a class, not a generator: every call takes one)."""

    __slots__ = ("_chosen", "_pool")

    def __init__(self, pool: LeasePool[C]) -> None:
        self._pool = pool
        self._chosen: PooledChannel[C] | None = None

    def __enter__(self) -> PooledChannel[C]:
        self._chosen = self._pool._acquire()
        return self._chosen

    def __exit__(self, *exc_info: object) -> None:
        if self._chosen is not None:
            self._pool._release(self._chosen)


class ChannelPool(LeasePool[grpc.Channel]):
    """Sync channels to one target, leased to calls by load (see :class:`LeasePool`)."""

    def close(self) -> None:
        """Close every channel; later leases fail."""
        for channel in self._detach():
            channel.close()
