"""The asyncio xAI client: :class:`AsyncClient`.

Example::

    async with AsyncClient() as client:            # key from XAI_API_KEY
        chat = client.chat.create("grok-4.3", messages=[user("Hi")])
        answers = await asyncio.gather(*(chat.sample() for _ in range(100)))

Configuration, key handling, retry policy, request builders, response folding,
errors and spans are the sync :class:`~xai_pipelines.sdk.Client`'s. Calls are
``grpc.aio`` calls on channels opened on demand (one per
:data:`~xai_pipelines.sdk._channel.CALLS_PER_CHANNEL` calls in flight, up to
``channels``), so thousands of calls are in flight on one event loop without a
thread each. A client belongs to the event loop of its first call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace

from xai_pipelines.sdk import telemetry
from xai_pipelines.sdk._channel import CALLS_PER_CHANNEL
from xai_pipelines.sdk.aio._call import AsyncCaller
from xai_pipelines.sdk.aio._channel import MAX_CHANNELS, ChannelPool, open_aio_channel
from xai_pipelines.sdk.aio.batch import AsyncBatchClient
from xai_pipelines.sdk.aio.chat import AsyncChatClient
from xai_pipelines.sdk.aio.files import AsyncFilesClient, AsyncFileUploads
from xai_pipelines.sdk.aio.image import AsyncImageClient
from xai_pipelines.sdk.aio.models import AsyncModelsClient, AsyncTokenizeClient
from xai_pipelines.sdk.client import (
    DEFAULT_HOST,
    DEFAULT_TIMEOUT_S,
    extra_metadata,
    is_loopback,
    resolve_host,
    resolve_key,
    resolve_policy,
)
from xai_pipelines.sdk.retry import RetryPolicy

__all__ = ["AsyncClient"]


class AsyncClient:
    """An asyncio client of the xAI gRPC API; arguments as for the sync ``Client``.

    Args:
        api_key: API key; defaults to the ``XAI_API_KEY`` environment variable.
        api_host: ``host[:port]``; the port defaults to 443.
        insecure: Plaintext instead of TLS. Default: plaintext only for loopback hosts.
        timeout: Default deadline per call in seconds (27 minutes when None).
        channels: Most ``grpc.aio`` channels to open; default :data:`MAX_CHANNELS` (64).
        calls_per_channel: Calls one channel carries before another is opened.
        max_retries: Shorthand for ``RetryPolicy(max_attempts=max_retries + 1)``.
        retry_policy: The full retry policy (wins over ``max_retries``).
        metadata: Extra gRPC metadata sent with every call.
        tracer_provider: Tracer provider for the call spans; default: the global one.

    Raises:
        MissingApiKeyError: When no key is given and ``XAI_API_KEY`` is unset.
        InvalidApiKeyError: When the key holds a character no header value may carry.
    """

    def __init__(
        self,
        api_key: str | None = None,
        api_host: str = DEFAULT_HOST,
        *,
        insecure: bool | None = None,
        timeout: float | None = None,
        channels: int | None = None,
        calls_per_channel: int = CALLS_PER_CHANNEL,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        metadata: Sequence[tuple[str, str]] | Mapping[str, str] | None = None,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        key = resolve_key(api_key)
        host = resolve_host(api_host)
        self.api_host = host
        self.insecure = is_loopback(host) if insecure is None else insecure
        self.timeout = DEFAULT_TIMEOUT_S if timeout is None else timeout
        self.retry_policy = resolve_policy(max_retries, retry_policy)
        secure = not self.insecure
        self._pool = ChannelPool(
            lambda: open_aio_channel(host, secure=secure),
            max_channels=MAX_CHANNELS if channels is None else channels,
            calls_per_channel=calls_per_channel,
        )
        caller = AsyncCaller(
            self._pool,
            self.retry_policy,
            telemetry.get_tracer(tracer_provider),
            host,
            key,
            timeout=self.timeout,
            metadata=extra_metadata(metadata),
        )
        self.files = AsyncFilesClient(caller)
        #: Uploads the local data of ``file()`` message parts, once per distinct content.
        self.uploads = AsyncFileUploads(self.files)
        self.chat = AsyncChatClient(caller, self.uploads)
        self.image = AsyncImageClient(caller)
        self.models = AsyncModelsClient(caller)
        self.tokenize = AsyncTokenizeClient(caller)
        self.batch = AsyncBatchClient(caller, self.image)

    @property
    def open_channels(self) -> int:
        """How many channels the pool has opened so far."""
        return self._pool.size

    async def close(self) -> None:
        """Close every channel (cancelling calls in flight) and the image download session."""
        await self._pool.close()
        self.image.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def __repr__(self) -> str:
        mode = "plaintext" if self.insecure else "tls"
        return f"AsyncClient(api_host={self.api_host!r}, {mode})"
