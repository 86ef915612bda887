"""The xAI client: configuration, channels and the service clients.

Example::

    with Client() as client:                       # key from XAI_API_KEY, api.x.ai:443, TLS
        r = client.chat.create("grok-4.3", messages=[user("Hi")]).sample()

    Client(api_key=emu.api_key, api_host=emu.address)   # loopback: plaintext automatically
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace

from xai_pipelines.sdk import telemetry
from xai_pipelines.sdk._call import Caller
from xai_pipelines.sdk._channel import CALLS_PER_CHANNEL, ChannelPool, open_channel
from xai_pipelines.sdk.batch import BatchClient
from xai_pipelines.sdk.chat import ChatClient
from xai_pipelines.sdk.errors import MissingApiKeyError
from xai_pipelines.sdk.files import FilesClient, FileUploads
from xai_pipelines.sdk.image import ImageClient
from xai_pipelines.sdk.keys import API_KEY_ENV, clean_api_key
from xai_pipelines.sdk.models import ModelsClient
from xai_pipelines.sdk.retry import RetryPolicy
from xai_pipelines.sdk.tokenize import TokenizeClient

__all__ = ["DEFAULT_HOST", "DEFAULT_TIMEOUT_S", "Client"]

DEFAULT_HOST = "api.x.ai:443"
#: Default per-call deadline, the one the hosted API's official SDK uses (27 minutes).
DEFAULT_TIMEOUT_S = 27 * 60.0
#: Most channels (connections) a sync client opens.
MAX_CHANNELS = 8


def is_loopback(host: str) -> bool:
    """Whether ``host`` (``name:port``, ``[v6]:port`` or bare) names this machine."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class Client:
    """A client of the xAI gRPC API.

    Args:
        api_key: API key; defaults to the ``XAI_API_KEY`` environment variable.
        api_host: ``host[:port]``; the port defaults to 443.
        insecure: Plaintext instead of TLS. Default: plaintext only for loopback hosts.
        timeout: Default deadline per call in seconds (27 minutes when None).
        channels: Most gRPC channels (connections) to open; default 8.
        calls_per_channel: Concurrent calls one channel carries before another is opened
            (HTTP/2 allows ~100 streams per connection); default 64.
        max_retries: Shorthand for ``RetryPolicy(max_attempts=max_retries + 1)``.
        retry_policy: The full retry policy (wins over ``max_retries``).
        metadata: Extra gRPC metadata sent with every call.
        tracer_provider: Tracer provider for the call spans; default: the global one.

    Raises:
        MissingApiKeyError: When no key is given and ``XAI_API_KEY`` is unset.
        InvalidApiKeyError: When the key (stripped of surrounding whitespace) holds a
            character no header value may carry.
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
        self.retry_policy = retry_policy = resolve_policy(max_retries, retry_policy)
        extra = extra_metadata(metadata)
        self._pool = ChannelPool(
            lambda: open_channel(
                host, secure=not self.insecure, api_key=key, timeout=self.timeout, metadata=extra
            ),
            max_channels=MAX_CHANNELS if channels is None else channels,
            calls_per_channel=calls_per_channel,
        )
        caller = Caller(self._pool, retry_policy, telemetry.get_tracer(tracer_provider), host, key)
        self.files = FilesClient(caller)
        #: Uploads the local data of ``file()`` message parts, once per distinct content.
        self.uploads = FileUploads(self.files)
        self.chat = ChatClient(caller, self.uploads)
        self.image = ImageClient(caller)
        self.models = ModelsClient(caller)
        self.tokenize = TokenizeClient(caller)
        self.batch = BatchClient(caller, self.image)

    @property
    def open_channels(self) -> int:
        """How many channels the pool has opened so far."""
        return self._pool.size

    def close(self) -> None:
        """Close every channel and the image download session."""
        self._pool.close()
        self.image.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "plaintext" if self.insecure else "tls"
        return f"Client(api_host={self.api_host!r}, {mode})"


def resolve_key(api_key: str | None) -> str:
    """The key to send: ``api_key`` or ``XAI_API_KEY``, cleaned (shared by ``sdk.aio``).

    Raises:
        MissingApiKeyError: When neither is set.
        InvalidApiKeyError: See :func:`~xai_pipelines.sdk.keys.clean_api_key`.
    """
    raw = api_key or os.environ.get(API_KEY_ENV)
    if not raw:
        raise MissingApiKeyError()
    return clean_api_key(raw, "api_key" if api_key else API_KEY_ENV)


def resolve_host(api_host: str) -> str:
    """``api_host`` with its port (443 when it has none)."""
    return api_host if _has_port(api_host) else f"{api_host}:443"


def resolve_policy(max_retries: int | None, retry_policy: RetryPolicy | None) -> RetryPolicy:
    """The client's retry policy: ``retry_policy``, else one allowing ``max_retries``."""
    if retry_policy is not None:
        return retry_policy
    return RetryPolicy() if max_retries is None else RetryPolicy(max_attempts=max_retries + 1)


def extra_metadata(
    metadata: Sequence[tuple[str, str]] | Mapping[str, str] | None,
) -> list[tuple[str, str]]:
    """The client's extra metadata as pairs."""
    return list(metadata.items() if isinstance(metadata, Mapping) else metadata or ())


def _has_port(host: str) -> bool:
    if host.startswith("["):
        return "]:" in host
    return host.count(":") == 1
