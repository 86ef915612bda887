"""The asyncio client: ``from xai_pipelines.sdk.aio import AsyncClient``.

It mirrors :class:`xai_pipelines.sdk.Client` (chat, image, models, tokenize, batch,
files) with awaited calls, and shares everything else with it: request builders,
Responses, errors, the retry policy, spans and key handling. Message helpers
(``user``, ``system`` ...) come from :mod:`xai_pipelines.sdk`.

Example::

    import asyncio
    from xai_pipelines.sdk import user
    from xai_pipelines.sdk.aio import AsyncClient

    async def main() -> None:
        async with AsyncClient() as client:
            chat = client.chat.create("grok-4.3", messages=[user("Hi")])
            print((await chat.sample()).content)

    asyncio.run(main())
"""

from xai_pipelines.sdk.aio._channel import MAX_CHANNELS, ChannelPool
from xai_pipelines.sdk.aio.batch import AsyncBatchClient
from xai_pipelines.sdk.aio.chat import AsyncChat, AsyncChatClient
from xai_pipelines.sdk.aio.client import AsyncClient
from xai_pipelines.sdk.aio.files import AsyncFilesClient, AsyncFileUploads
from xai_pipelines.sdk.aio.image import AsyncImageClient, AsyncImageResponse
from xai_pipelines.sdk.aio.models import AsyncModelsClient, AsyncTokenizeClient

__all__ = [
    "MAX_CHANNELS",
    "AsyncBatchClient",
    "AsyncChat",
    "AsyncChatClient",
    "AsyncClient",
    "AsyncFileUploads",
    "AsyncFilesClient",
    "AsyncImageClient",
    "AsyncImageResponse",
    "AsyncModelsClient",
    "AsyncTokenizeClient",
    "ChannelPool",
]
