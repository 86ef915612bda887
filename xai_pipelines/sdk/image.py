"""Image generation: ``client.image.sample(...)`` / ``sample_batch(...)``.

Example::

    img = client.image.sample("a red fox", model="grok-imagine-image", image_format="base64")
    path = img.save("out/fox")          # extension chosen from the bytes: out/fox.jpg
    imgs = client.image.sample_batch("a red fox", n=4, image_format="url")
    data = imgs[0].image                # downloaded (timeout, retries, user agent)

The keyword arguments are the image request form of docs/ARCHITECTURE.md, so the
executor calls ``client.image.sample(**job.request)``. Editing: pass the source
picture as ``image_url``, or several reference pictures as ``image_urls``; each is a
URL, a data URL, a local ``Path``, bytes, or an uploaded file as ``{"file_id": ...}``.
``storage_options`` also stores the result with the Files service. ``sample`` sends
``n=1``; a reply without images raises
:class:`~xai_pipelines.sdk.errors.EmptyResponseError`. Spans: ``image.sample <model>``.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import tempfile
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import requests
from opentelemetry import trace
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from xai_pipelines.proto import image_pb2, image_pb2_grpc
from xai_pipelines.sdk import telemetry
from xai_pipelines.sdk._call import Caller, CallTracing
from xai_pipelines.sdk._channel import USER_AGENT
from xai_pipelines.sdk.errors import (
    EmptyResponseError,
    ImageDownloadError,
    InvalidResponseError,
    RequestValidationError,
)
from xai_pipelines.sdk.image_bytes import extension_for, sniff_mime
from xai_pipelines.sdk.messages import image_detail, image_url_content
from xai_pipelines.sdk.response import Usage, usage_from_proto

__all__ = [
    "AspectRatio",
    "ImageClient",
    "ImageFormat",
    "ImageInput",
    "ImageResponse",
    "StoredImageFile",
    "build_image_request",
]

ImageFormat = Literal["base64", "url"]
AspectRatio = Literal[
    "1:1", "3:4", "4:3", "9:16", "16:9", "2:3", "3:2", "auto",
    "9:19.5", "19.5:9", "9:20", "20:9", "1:2", "2:1",
]  # fmt: skip
Resolution = Literal["1k", "2k"]
Quality = Literal["low", "medium", "high"]

#: The current image model (docs.x.ai models page, read 2026-11-29: the grok-imagine-image
#: family; grok-2-image was retired 2026-05-15 per the migration page).
DEFAULT_IMAGE_MODEL = "grok-imagine-image"
#: An image input: URL or data URL, local path, bytes, or ``{"file_id": ...}``.
ImageInput = str | Path | bytes | Mapping[str, Any]
_FORMATS = {"base64": image_pb2.IMG_FORMAT_BASE64, "url": image_pb2.IMG_FORMAT_URL}
_RESOLUTIONS = {"1k": image_pb2.IMG_RESOLUTION_1K, "2k": image_pb2.IMG_RESOLUTION_2K}
_QUALITIES = {
    "low": image_pb2.IMG_QUALITY_LOW,
    "medium": image_pb2.IMG_QUALITY_MEDIUM,
    "high": image_pb2.IMG_QUALITY_HIGH,
}
_ASPECT_RATIOS = {
    r: image_pb2.ImageAspectRatio.Value(
        "IMG_ASPECT_RATIO_AUTO"
        if r == "auto"
        else "IMG_ASPECT_RATIO_" + r.replace(".", "_").replace(":", "_")
    )
    for r in typing.get_args(AspectRatio)
}


def _pick(table: Mapping[str, Any], name: str, value: str) -> Any:
    if value not in table:
        raise RequestValidationError(f"{name} must be one of {', '.join(table)}; got {value!r}")
    return table[value]


def image_input(source: ImageInput | image_pb2.ImageUrlContent) -> image_pb2.ImageUrlContent:
    """One image input as an ``ImageUrlContent``.

    Args:
        source: An ``https://`` or ``data:`` URL, a local ``Path``, bytes, an uploaded
            file as ``{"file_id": "file-..."}``, or ``{"url": ..., "detail": ...}``.
    """
    if isinstance(source, image_pb2.ImageUrlContent):
        return source
    if isinstance(source, Mapping):
        detail = source.get("detail", "auto")
        if source.get("file_id"):
            return image_pb2.ImageUrlContent(
                file_id=str(source["file_id"]), detail=image_detail(detail)
            )
        url = source.get("url", source.get("image_url"))
        if isinstance(url, str) and url:
            return image_url_content(url, detail)
        raise RequestValidationError(
            f'an image input object needs "file_id" or "url", got {dict(source)!r}'
        )
    return image_url_content(source)


def _seconds(value: Any, name: str) -> int:
    seconds = int(value.total_seconds()) if isinstance(value, dt.timedelta) else value
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds <= 0:
        raise RequestValidationError(f"{name} must be a positive number of seconds, got {value!r}")
    return seconds


def build_storage_options(
    value: Mapping[str, Any] | image_pb2.StorageOptions,
) -> image_pb2.StorageOptions:
    """``{"filename": ..., "expires_after": s, "public_url": True | {"expires_after": s}}``."""
    if isinstance(value, image_pb2.StorageOptions):
        return value
    if not isinstance(value, Mapping) or not isinstance(value.get("filename"), str):
        raise RequestValidationError('storage_options needs at least {"filename": "..."}')
    unknown = set(value) - {"filename", "expires_after", "public_url"}
    if unknown:
        raise RequestValidationError(
            f"unknown storage_options key(s): {', '.join(sorted(unknown))}"
        )
    options = image_pb2.StorageOptions(filename=value["filename"])
    if value.get("expires_after") is not None:
        options.expires_after = _seconds(value["expires_after"], "storage_options.expires_after")
    public = value.get("public_url")
    if public is True or isinstance(public, Mapping):
        options.public_url.SetInParent()
        expiry = public.get("expires_after") if isinstance(public, Mapping) else None
        if expiry is not None:
            where = "storage_options.public_url.expires_after"
            options.public_url.expires_after = _seconds(expiry, where)
    elif public not in (None, False):
        raise RequestValidationError("storage_options.public_url must be true, false or an object")
    return options


def build_image_request(
    prompt: str,
    model: str = DEFAULT_IMAGE_MODEL,
    *,
    n: int | None = None,
    image_format: ImageFormat = "base64",
    aspect_ratio: AspectRatio | None = None,
    resolution: Resolution | None = None,
    quality: Quality | None = None,
    image_url: ImageInput | None = None,
    image_urls: Sequence[ImageInput] | None = None,
    storage_options: Mapping[str, Any] | image_pb2.StorageOptions | None = None,
    user: str | None = None,
) -> image_pb2.GenerateImageRequest:
    """A ``GenerateImageRequest`` from the image request form (pure, no I/O but local files).

    Args:
        prompt: What to draw (or how to edit the input images).
        model: Image model.
        n: Images to make (1-10); unset leaves it to the server.
        image_format: ``base64`` or ``url``.
        aspect_ratio: E.g. ``16:9`` or ``auto``.
        resolution: ``1k`` or ``2k``.
        quality: ``low``, ``medium`` or ``high``.
        image_url: One input image to edit (see :func:`image_input`).
        image_urls: Several reference images (the request's ``images``).
        storage_options: Store the result with the Files service (see
            :func:`build_storage_options`).
        user: End-user id.

    Raises:
        RequestValidationError: For an empty prompt or an unknown choice.
    """
    if not isinstance(prompt, str) or not prompt.strip():
        raise RequestValidationError("an image request needs a non-empty prompt")
    request = image_pb2.GenerateImageRequest(
        prompt=prompt, model=model, format=_pick(_FORMATS, "image_format", image_format)
    )
    if n is not None:
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 10:
            raise RequestValidationError(f"image n must be an integer in [1, 10], got {n!r}")
        request.n = n
    if aspect_ratio is not None:
        request.aspect_ratio = _pick(_ASPECT_RATIOS, "aspect_ratio", aspect_ratio)
    if resolution is not None:
        request.resolution = _pick(_RESOLUTIONS, "resolution", resolution)
    if quality is not None:
        request.quality = _pick(_QUALITIES, "quality", quality)
    if image_url is not None:
        request.image.CopyFrom(image_input(image_url))
    if image_urls is not None:
        if isinstance(image_urls, str | bytes | Path | Mapping):
            raise RequestValidationError("image_urls must be a list of image inputs")
        request.images.extend(image_input(source) for source in image_urls)
    if storage_options is not None:
        request.storage_options.CopyFrom(build_storage_options(storage_options))
    if user:
        request.user = user
    return request


def single_image_request(
    prompt: str, model: str, options: Mapping[str, Any]
) -> image_pb2.GenerateImageRequest:
    """The request of ``image.sample``: ``n=1`` (another ``n`` is refused)."""
    if options.get("n") not in (None, 1):
        raise RequestValidationError("image.sample makes one image; use sample_batch for n > 1")
    return build_image_request(prompt, model, **{**options, "n": 1})


@dataclass(frozen=True)
class StoredImageFile:
    """Where ``storage_options`` stored a generated image (the Files service).

    Attributes:
        file_id: The stored file's id.
        filename: Its name.
        public_url: Its public URL, when one was asked for and made.
        public_url_expires_at: When that URL stops working.
        expires_at: When the file is deleted, if it expires.
        public_url_error: Why no public URL was made, if it failed.
    """

    file_id: str
    filename: str
    public_url: str | None = None
    public_url_expires_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    public_url_error: str | None = None

    @classmethod
    def from_proto(cls, f: image_pb2.FileOutput) -> StoredImageFile:
        """Read a ``FileOutput``."""

        def when(name: str) -> dt.datetime | None:
            return getattr(f, name).ToDatetime(dt.UTC) if f.HasField(name) else None

        return cls(
            f.file_id,
            f.filename,
            f.public_url if f.HasField("public_url") else None,
            when("public_url_expires_at"),
            when("expires_at"),
            f.public_url_error if f.HasField("public_url_error") else None,
        )


class ImageData:
    """What one generated image is without any download: shared by :class:`ImageResponse`
    and ``sdk.aio``'s ``AsyncImageResponse``.

    Attributes:
        proto: The ``GeneratedImage``.
        index: Position in the batch.
        model: Model that generated it.
        usage: Usage of the whole call (shared by a batch).
        attempts: Tries the call took.
    """

    def __init__(
        self,
        proto: image_pb2.GeneratedImage,
        *,
        index: int,
        model: str,
        usage: Usage,
        attempts: int,
    ) -> None:
        self.proto = proto
        self.index = index
        self.model = model
        self.usage = usage
        self.attempts = attempts
        self._bytes: bytes | None = None

    @property
    def url(self) -> str | None:
        """The image URL (``image_format="url"``), else None."""
        return self.proto.url if self.proto.WhichOneof("image") == "url" else None

    def _inline(self) -> bytes | None:
        """The bytes when they came in the answer (None for a URL).

        Raises:
            InvalidResponseError: When the server sent neither data nor a URL (the
                hosted API does this for an image withheld by moderation).
        """
        kind = self.proto.WhichOneof("image")
        if kind is None:
            raise InvalidResponseError(
                f"image {self.index} came back without data or URL "
                f"(respect_moderation={self.respect_moderation})"
            )
        if kind == "url":
            return None
        return base64.b64decode(self.proto.base64.partition("base64,")[2] or self.proto.base64)

    @property
    def file_output(self) -> StoredImageFile | None:
        """Where ``storage_options`` stored the image, if it did."""
        if not self.proto.HasField("file_output"):
            return None
        return StoredImageFile.from_proto(self.proto.file_output)

    @property
    def storage_error(self) -> str | None:
        """Why storing the image failed, if it did."""
        return self.proto.storage_error if self.proto.HasField("storage_error") else None

    @property
    def respect_moderation(self) -> bool:
        """False when moderation replaced or blurred the image."""
        return self.proto.respect_moderation

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record (without the image data)."""
        stored = self.file_output
        return {
            "index": self.index,
            "model": self.model,
            "url": self.url,
            "respect_moderation": self.respect_moderation,
            "usage": self.usage.to_dict(),
            "file_output": None if stored is None else {
                "file_id": stored.file_id, "filename": stored.filename,
                "public_url": stored.public_url},
            "storage_error": self.storage_error,
        }  # fmt: skip

    def __repr__(self) -> str:
        kind = "url" if self.url else "base64"
        return f"{type(self).__name__}(index={self.index}, model={self.model!r}, {kind})"


def write_image(data: bytes, path: str | os.PathLike[str], index: int) -> Path:
    """Write image bytes, choosing the extension from them (see :meth:`ImageResponse.save`)."""
    target = Path(path)
    if target.is_dir():
        target = target / str(index)
    target = target.with_suffix(extension_for(data))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


class ImageResponse(ImageData):
    """One generated image; a URL image is downloaded on first use of :attr:`image`.

    Attributes:
        proto: The ``GeneratedImage``.
        index: Position in the batch.
        model: Model that generated it.
        usage: Usage of the whole call (shared by a batch).
        attempts: Tries the call took.
    """

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
    def base64(self) -> str:
        """The image as base64 (decoded from the answer, or downloaded and encoded)."""
        if self.proto.WhichOneof("image") == "base64":
            return self.proto.base64.partition("base64,")[2] or self.proto.base64
        return base64.b64encode(self.image).decode()

    @property
    def image(self) -> bytes:
        """The image bytes (decoded, or downloaded once from the URL).

        Raises:
            InvalidResponseError: When the server sent neither data nor a URL (the
                hosted API does this for an image withheld by moderation).
            ImageDownloadError: When the URL cannot be fetched.
        """
        if self._bytes is None:
            inline = self._inline()
            self._bytes = self._downloader.get(self.proto.url) if inline is None else inline
        return self._bytes

    @property
    def mime_type(self) -> str | None:
        """MIME type recognised from the bytes."""
        return sniff_mime(self.image)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the image, choosing the extension from its bytes.

        Args:
            path: A file path (its extension is replaced by the right one) or an
                existing directory (the file is named ``<index>.<ext>`` inside it).

        Returns:
            The path written (atomically: temp file, then rename).
        """
        return write_image(self.image, path, self.index)


class _Downloader:
    """Fetches image URLs with a timeout, retries and the client's user agent."""

    def __init__(self, timeout: float = 30.0, retries: int = 3) -> None:
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        retry = Retry(total=retries, backoff_factor=0.2, status_forcelist=(429, 500, 502, 503, 504))
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))

    def get(self, url: str) -> bytes:
        try:
            reply = self.session.get(url, timeout=self.timeout)
            reply.raise_for_status()
        except requests.RequestException as exc:
            raise ImageDownloadError(f"could not download image {url}: {exc}") from exc
        return reply.content

    def close(self) -> None:
        self.session.close()


class ImageClient:
    """Entry point for image generation (``client.image``).

    Args:
        caller: The client's call wrapper.
        download_timeout: Seconds allowed for each image download.
        download_retries: Retries of a failed download.
    """

    def __init__(
        self, caller: Caller, *, download_timeout: float = 30.0, download_retries: int = 3
    ) -> None:
        self._caller = caller
        self._downloader = _Downloader(download_timeout, download_retries)

    def sample(
        self, prompt: str, model: str = DEFAULT_IMAGE_MODEL, **options: Any
    ) -> ImageResponse:
        """Generate one image, sending ``n=1`` (options as in :func:`build_image_request`)."""
        return self._generate(single_image_request(prompt, model, options))[0]

    def sample_batch(
        self, prompt: str, n: int, model: str = DEFAULT_IMAGE_MODEL, **options: Any
    ) -> list[ImageResponse]:
        """Generate ``n`` images of one prompt in one call."""
        return self._generate(build_image_request(prompt, model, n=n, **options))

    def wrap(self, proto: image_pb2.ImageResponse, attempts: int = 1) -> list[ImageResponse]:
        """One :class:`ImageResponse` per image of an ``ImageResponse`` proto."""
        return wrap_images(proto, attempts, self._response)

    def _response(self, image: image_pb2.GeneratedImage, **fields: Any) -> ImageResponse:
        return ImageResponse(image, downloader=self._downloader, **fields)

    def close(self) -> None:
        """Close the download session."""
        self._downloader.close()

    def _generate(self, request: image_pb2.GenerateImageRequest) -> list[ImageResponse]:
        name, attrs = image_call(self._caller, request)
        with self._caller.traced(name, attrs) as span:
            image_input_content(span, request)
            proto, attempts = self._caller.unary(_STUB, "GenerateImage", request)
            return fold_images(span, proto, attempts, self._response)


_STUB = image_pb2_grpc.ImageStub
R = TypeVar("R", bound=ImageData)


def wrap_images(proto: image_pb2.ImageResponse, attempts: int, make: Callable[..., R]) -> list[R]:
    """One response (made by ``make``) per image of an ``ImageResponse`` proto."""
    usage = usage_from_proto(proto.usage)
    return [
        make(img, index=i, model=proto.model, usage=usage, attempts=attempts)
        for i, img in enumerate(proto.images)
    ]


def image_call(
    tracing: CallTracing, request: image_pb2.GenerateImageRequest
) -> tuple[str, dict[str, Any]]:
    """The span name and attributes of an image call."""
    params = {"n": request.n} if request.HasField("n") else {}
    attrs = tracing.attributes("generate_content", request.model, params)
    return f"image.sample {request.model}", attrs


def image_input_content(span: trace.Span, request: image_pb2.GenerateImageRequest) -> None:
    """Record the prompt on the call's span (unless contents are off)."""
    telemetry.set_content(
        span, "gen_ai.input.messages", [{"role": "user", "content": request.prompt}]
    )


def fold_images(
    span: trace.Span, proto: image_pb2.ImageResponse, attempts: int, make: Callable[..., R]
) -> list[R]:
    """The responses of an image reply, recorded on the call's span.

    Raises:
        EmptyResponseError: When the reply holds no image.
    """
    if not proto.images:
        raise EmptyResponseError(f"the server's image reply (model {proto.model!r}) holds no image")
    images = wrap_images(proto, attempts, make)
    usage = usage_from_proto(proto.usage)
    telemetry.set_attributes(
        span,
        {
            "gen_ai.response.model": proto.model or None,
            "xai.attempts": attempts,
            "xai.image_count": len(images),
            **telemetry.usage_attributes(usage),
        },
    )
    return images
