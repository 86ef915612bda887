"""Image generation, async (``client.image`` of an ``AsyncClient``).

Example::

    img = await client.image.sample("a red fox", image_format="url")
    data = await img.image            # downloaded once, off the event loop
    await img.save("out/fox")

Requests and replies are those of :mod:`xai_pipelines.sdk.image` (one builder, one
folding). A URL image is downloaded by the sync client's downloader (timeout,
retries, user agent) in a worker thread, so the event loop never blocks on it.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from xai_pipelines.proto import image_pb2
from xai_pipelines.sdk.aio._call import AsyncCaller
from xai_pipelines.sdk.image import (
    _STUB,
    DEFAULT_IMAGE_MODEL,
    ImageData,
    _Downloader,
    build_image_request,
    fold_images,
    image_call,
    image_input_content,
    single_image_request,
    wrap_images,
    write_image,
)
from xai_pipelines.sdk.image_bytes import sniff_mime
from xai_pipelines.sdk.response import Usage

__all__ = ["AsyncImageClient", "AsyncImageResponse"]


class AsyncImageResponse(ImageData):
    """One generated image; its bytes are awaited (``await response.image``)."""

    def __init__(
        self,
        proto: image_pb2.GeneratedImage,
        *,
        index: int,
        model: str,
        usage: Usage,
        attempts: int,
        downloader: _Downloader,
    ) -> None:
        super().__init__(proto, index=index, model=model, usage=usage, attempts=attempts)
        self._downloader = downloader

    @property
    def image(self) -> Awaitable[bytes]:
        """The image bytes: ``await response.image`` (decoded, or downloaded once)."""
        return self._load()

    @property
    def base64(self) -> Awaitable[str]:
        """The image as base64: ``await response.base64``."""
        return self._base64()

    @property
    def mime_type(self) -> Awaitable[str | None]:
        """MIME type recognised from the bytes: ``await response.mime_type``."""
        return self._mime()

    async def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the image, choosing the extension from its bytes (see ``ImageResponse.save``)."""
        return write_image(await self._load(), path, self.index)

    async def _load(self) -> bytes:
        if self._bytes is None:
            inline = self._inline()
            if inline is None:
                inline = await asyncio.to_thread(self._downloader.get, self.proto.url)
            self._bytes = inline
        return self._bytes

    async def _base64(self) -> str:
        if self.proto.WhichOneof("image") == "base64":
            return self.proto.base64.partition("base64,")[2] or self.proto.base64
        return base64.b64encode(await self._load()).decode()

    async def _mime(self) -> str | None:
        return sniff_mime(await self._load())


class AsyncImageClient:
    """Entry point for image generation, async; span ``image.sample <model>``.

    Args:
        caller: The client's async call wrapper.
        download_timeout: Seconds allowed for each image download.
        download_retries: Retries of a failed download.
    """

    def __init__(
        self, caller: AsyncCaller, *, download_timeout: float = 30.0, download_retries: int = 3
    ) -> None:
        self._caller = caller
        self._downloader = _Downloader(download_timeout, download_retries)

    async def sample(
        self, prompt: str, model: str = DEFAULT_IMAGE_MODEL, **options: Any
    ) -> AsyncImageResponse:
        """Generate one image, sending ``n=1`` (options as in ``build_image_request``)."""
        return (await self._generate(single_image_request(prompt, model, options)))[0]

    async def sample_batch(
        self, prompt: str, n: int, model: str = DEFAULT_IMAGE_MODEL, **options: Any
    ) -> list[AsyncImageResponse]:
        """Generate ``n`` images of one prompt in one call."""
        return await self._generate(build_image_request(prompt, model, n=n, **options))

    def wrap(self, proto: image_pb2.ImageResponse, attempts: int = 1) -> list[AsyncImageResponse]:
        """One :class:`AsyncImageResponse` per image of an ``ImageResponse`` proto."""
        return wrap_images(proto, attempts, self._response)

    def close(self) -> None:
        """Close the download session."""
        self._downloader.close()

    def _response(self, image: image_pb2.GeneratedImage, **fields: Any) -> AsyncImageResponse:
        return AsyncImageResponse(image, downloader=self._downloader, **fields)

    async def _generate(self, request: image_pb2.GenerateImageRequest) -> list[AsyncImageResponse]:
        name, attrs = image_call(self._caller, request)
        with self._caller.traced(name, attrs) as span:
            image_input_content(span, request)
            proto, attempts = await self._caller.unary(_STUB, "GenerateImage", request)
            return fold_images(span, proto, attempts, self._response)
