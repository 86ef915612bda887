"""Image requests meet the Files service: input images by ``file_id``, outputs stored as files.

Documented behaviour (docs.x.ai "Imagine / Files API Integration",
https://docs.x.ai/developers/model-capabilities/imagine/files and
".../imagine/files/outputs", read 2026-11-29):

* Inputs: "anywhere an Imagine endpoint accepts a public URL or base64-encoded
  image ... you can substitute a file_id from your Files storage". The emulator
  resolves ``image.file_id`` and every ``images[i].file_id`` (several reference
  images) for the caller: NOT_FOUND for an unknown id, INVALID_ARGUMENT when the
  file is not a PNG, JPEG or WebP image or exceeds the 10 MiB image-input limit.
* Outputs: ``storage_options`` persists each generated image as a file
  (``file_output``: file id, filename, expiry), and ``storage_options.public_url``
  also creates a public URL (inheriting the file's expiry unless it sets its
  own). The ephemeral generation URL or base64 is returned either way. When an
  image cannot be stored the image still comes back, with ``storage_error``
  set (in the emulator: the Files quota is full); when only the public URL
  fails, ``file_output.public_url_error`` is set. ``storage_options.filename``
  is required (xai-sdk 1.21.0 ``StorageOptions``); TTLs must be 1 hour..30 days.

Requests from the batch worker carry no caller: their input ids resolve for any
key and their stored outputs belong to no key (see the README).
"""

from __future__ import annotations

import base64

import grpc

from xai_pipelines.emulator.callctx import CallContext, call_context
from xai_pipelines.emulator.catalog import Catalog
from xai_pipelines.emulator.errors import EmulatorError, answer, invalid
from xai_pipelines.emulator.files_service import PublicUrls
from xai_pipelines.emulator.files_store import FileStore, check_expires_after
from xai_pipelines.emulator.http_host import ImageHost
from xai_pipelines.emulator.image_engine import ImageEngine
from xai_pipelines.emulator.image_service import ImageService
from xai_pipelines.emulator.validation import MAX_IMAGE_BYTES
from xai_pipelines.proto import image_pb2

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


def image_mime(data: bytes) -> str | None:
    """The MIME type of PNG, JPEG or WebP ``data`` (None for anything else)."""
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


class FileImageEngine(ImageEngine):
    """An :class:`ImageEngine` that reads input files and stores outputs in the Files service.

    Args:
        catalog: Models and prices.
        host: HTTP host serving URL-form images.
        files: The Files service's store.
        urls: Public URLs of stored files.
    """

    def __init__(
        self, catalog: Catalog, host: ImageHost, files: FileStore, urls: PublicUrls
    ) -> None:
        super().__init__(catalog, host)
        self.files = files
        self.urls = urls

    def generate(
        self, request: image_pb2.GenerateImageRequest, call: CallContext | None = None
    ) -> image_pb2.ImageResponse:
        """Answer ``request`` for ``call`` (None: an internal caller such as the batch worker).

        Raises:
            EmulatorError: On an invalid request, unknown model or unknown input file.
        """
        key_id = call.key_id if call is not None else None
        resolved = self._resolve_inputs(request, key_id)
        storing = resolved.HasField("storage_options")
        if storing:
            _check_storage(resolved.storage_options)
        response = super().generate(resolved)
        if storing:
            for image in response.images:
                self._store(image, resolved.storage_options, key_id or "")
        return response

    def _resolve_inputs(
        self, request: image_pb2.GenerateImageRequest, key_id: str | None
    ) -> image_pb2.GenerateImageRequest:
        out = image_pb2.GenerateImageRequest()
        out.CopyFrom(request)
        inputs = [("image", out.image)] if out.HasField("image") else []
        inputs += [(f"images[{i}]", image) for i, image in enumerate(out.images)]
        for field, image in inputs:
            if image.WhichOneof("source") != "file_id":
                continue
            record = self.files.get(key_id, image.file_id)
            mime = image_mime(record.data)
            if mime is None:
                raise invalid(
                    f"{field}.file_id: file {image.file_id!r} is not a PNG, JPEG or WebP image"
                )
            if record.size > MAX_IMAGE_BYTES:
                raise invalid(
                    f"{field}.file_id: file {image.file_id!r} is larger than "
                    f"{MAX_IMAGE_BYTES // (1024 * 1024)} MiB"
                )
            image.image_url = f"data:{mime};base64," + base64.b64encode(record.data).decode()
        return out

    def _store(
        self, image: image_pb2.GeneratedImage, options: image_pb2.StorageOptions, key_id: str
    ) -> None:
        data = (
            base64.b64decode(image.base64.partition(",")[2])
            if image.WhichOneof("image") == "base64"
            else self.host.get_url(image.url)
        )
        if data is None:
            image.storage_error = "the generated image is no longer held and cannot be stored"
            return
        expires = options.expires_after if options.HasField("expires_after") else None
        try:
            record = self.files.put(key_id, options.filename, data, expires)
        except EmulatorError as exc:
            image.storage_error = exc.message
            return
        output = image.file_output
        output.file_id, output.filename = record.file_id, record.filename
        if record.expires_at is not None:
            output.expires_at.FromNanoseconds(int(record.expires_at * 1e9))
        if not options.HasField("public_url"):
            return
        url_ttl = (
            options.public_url.expires_after
            if options.public_url.HasField("expires_after")
            else None
        )
        try:
            record = self.files.publish(key_id, record.file_id, url_ttl)
        except EmulatorError as exc:
            output.public_url_error = exc.message
            return
        output.public_url = self.urls.url(record)
        if record.public_expires_at is not None:
            output.public_url_expires_at.FromNanoseconds(int(record.public_expires_at * 1e9))


def _check_storage(options: image_pb2.StorageOptions) -> None:
    if not options.filename:
        raise invalid("storage_options.filename must be set")
    if options.HasField("expires_after"):
        check_expires_after(options.expires_after, "storage_options.expires_after")
    if options.HasField("public_url") and options.public_url.HasField("expires_after"):
        check_expires_after(
            options.public_url.expires_after, "storage_options.public_url.expires_after"
        )


class FileImageService(ImageService):
    """Image: GenerateImage, with the caller's files."""

    def __init__(self, engine: FileImageEngine) -> None:
        super().__init__(engine)
        self.file_engine = engine

    async def GenerateImage(
        self, request: image_pb2.GenerateImageRequest, context: grpc.aio.ServicerContext
    ) -> image_pb2.ImageResponse:
        return await answer(
            context, lambda: self.file_engine.generate(request, call_context(context))
        )
