"""``grpc.aio`` channels: the sync client's options and credentials, pooled by load.

A channel is opened on demand (never before the first call, so a client made outside
a running event loop still works) with the same options and TLS credentials as the
sync client's (``sdk/_channel.py``). HTTP/2 servers allow about 100 concurrent
streams per connection, so the pool opens another channel once every open one carries
:data:`~xai_pipelines.sdk._channel.CALLS_PER_CHANNEL` calls, up to
:data:`MAX_CHANNELS`; past that, the least-loaded channel takes more calls and the
server queues the streams beyond its limit.
"""

from __future__ import annotations

import grpc

from xai_pipelines.sdk._channel import CHANNEL_OPTIONS, LeasePool, channel_credentials

__all__ = ["MAX_CHANNELS", "ChannelPool", "open_aio_channel"]

#: Most channels an async client opens: 64 channels of 64 calls hold 4,096 calls in
#: flight before a channel takes more than its share (issue 11: thousands in flight).
MAX_CHANNELS = 64


def open_aio_channel(target: str, *, secure: bool) -> grpc.aio.Channel:
    """Open one ``grpc.aio`` channel to ``target`` (call metadata is added per call)."""
    if secure:
        return grpc.aio.secure_channel(target, channel_credentials(), options=CHANNEL_OPTIONS)
    return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)


class ChannelPool(LeasePool[grpc.aio.Channel]):
    """``grpc.aio`` channels to one target, opened on demand and leased by load.

    Belongs to one event loop (a ``grpc.aio`` channel does). Leasing never blocks.
    """

    async def close(self) -> None:
        """Close every channel (cancelling its calls); later leases fail."""
        for channel in self._detach():
            await channel.close()
