"""Files stored with xAI (``client.files``, the Files service) and once-per-content uploads.

Example::

    info = client.files.upload(Path("report.pdf"), expires_after=3600)
    chat = client.chat.create("grok-4.3", messages=[user("Summarise", file(info.id))])
    data = client.files.content(info.id)
    client.files.delete(info.id)

    uploads = FileUploads(client.files)          # one per run: each content uploaded once
    uploads.file_id(Path("a.pdf")) == uploads.file_id(Path("copy-of-a.pdf"))

Uploads stream the file in chunks, the ``init`` chunk (name, expiry) first; a retry
resends from the start. Calls go through the client's retry policy and error
conversion. Spans: ``files.<method>``.
"""

from __future__ import annotations

import builtins
import datetime as dt
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from opentelemetry import trace

from xai_pipelines.proto import chat_pb2, files_pb2, files_pb2_grpc
from xai_pipelines.sdk._call import Caller
from xai_pipelines.sdk.errors import RequestValidationError
from xai_pipelines.sdk.image_bytes import extension_for

__all__ = [
    "UPLOAD_CHUNK_BYTES",
    "FileDeletion",
    "FileInfo",
    "FileSource",
    "FileUploads",
    "FilesClient",
    "FilesPage",
    "PublicUrl",
    "PublicUrlRevocation",
]

_STUB = files_pb2_grpc.FilesStub
#: Bytes per upload chunk: 3 MiB, as the official SDK sends them (xai-sdk 1.21.0,
#: files.py, read 2026-11-29); well under the 20 MiB message limit of our channels.
UPLOAD_CHUNK_BYTES = 3 << 20
FileSource = bytes | str | os.PathLike[str]
Order = Literal["asc", "desc"]
SortBy = Literal["created_at", "filename", "size"]
_ORDERS = {"asc": files_pb2.ASCENDING, "desc": files_pb2.DESCENDING}
_SORT_BY = {
    "created_at": files_pb2.FILES_SORT_BY_CREATED_AT,
    "filename": files_pb2.FILES_SORT_BY_FILENAME,
    "size": files_pb2.FILES_SORT_BY_SIZE,
}


def _when(message: Any, name: str) -> dt.datetime | None:
    return getattr(message, name).ToDatetime(dt.UTC) if message.HasField(name) else None


def _seconds(value: int | dt.timedelta | None, name: str) -> int | None:
    if value is None:
        return None
    seconds = int(value.total_seconds()) if isinstance(value, dt.timedelta) else value
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds <= 0:
        raise RequestValidationError(f"{name} must be a positive number of seconds, got {value!r}")
    return seconds


@dataclass(frozen=True)
class FileInfo:
    """A stored file.

    Attributes:
        id: File id (``file("...")`` in a message, ``{"file_id": ...}`` as an image input).
        filename: Name given at upload.
        size: Size in bytes.
        created_at: Upload time (UTC).
        expires_at: When the file is deleted, if it expires.
        public_url: Its public URL, if one was created.
        public_url_expires_at: When the public URL stops working, if it does.
    """

    id: str
    filename: str
    size: int
    created_at: dt.datetime | None
    expires_at: dt.datetime | None = None
    public_url: str | None = None
    public_url_expires_at: dt.datetime | None = None

    @classmethod
    def from_proto(cls, f: files_pb2.File) -> FileInfo:
        """Read a ``File``."""
        return cls(
            f.id,
            f.filename,
            f.size,
            _when(f, "created_at"),
            _when(f, "expires_at"),
            f.public_url if f.HasField("public_url") else None,
            _when(f, "public_url_expires_at"),
        )


@dataclass(frozen=True)
class FilesPage:
    """One page of files and the token of the next page (None on the last)."""

    files: list[FileInfo]
    pagination_token: str | None


@dataclass(frozen=True)
class FileDeletion:
    """The answer to a delete: the file id and whether it was deleted."""

    id: str
    deleted: bool


@dataclass(frozen=True)
class PublicUrl:
    """A file's public, unauthenticated URL and when it expires (None: when the file does)."""

    public_url: str
    expires_at: dt.datetime | None


@dataclass(frozen=True)
class PublicUrlRevocation:
    """The answer to a revoke: whether a public URL existed, and which one."""

    file_id: str
    revoked: bool
    public_url: str | None


def _path_chunks(
    path: Path, name: str, expires: int | None, size: int
) -> Callable[[], Iterator[files_pb2.UploadFileChunk]]:
    def chunks() -> Iterator[files_pb2.UploadFileChunk]:
        yield files_pb2.UploadFileChunk(
            init=files_pb2.UploadFileInit(name=name, expires_after=expires)
        )
        with path.open("rb") as fh:
            while data := fh.read(size):
                yield files_pb2.UploadFileChunk(data=data)

    return chunks


def _bytes_chunks(
    data: bytes, name: str, expires: int | None, size: int
) -> Callable[[], Iterator[files_pb2.UploadFileChunk]]:
    def chunks() -> Iterator[files_pb2.UploadFileChunk]:
        yield files_pb2.UploadFileChunk(
            init=files_pb2.UploadFileInit(name=name, expires_after=expires)
        )
        for start in range(0, len(data), size):
            yield files_pb2.UploadFileChunk(data=data[start : start + size])

    return chunks


def default_filename(data: bytes) -> str:
    """A name for nameless bytes: ``upload-<sha256 prefix><extension from the bytes>``."""
    return f"upload-{hashlib.sha256(data).hexdigest()[:12]}{extension_for(data)}"


def upload_chunks(
    file: FileSource,
    filename: str | None,
    expires_after: int | dt.timedelta | None,
    chunk_bytes: int,
) -> tuple[Callable[[], Iterator[files_pb2.UploadFileChunk]], int]:
    """The chunks of an upload (a fresh iterator per attempt) and the file's size.

    Raises:
        RequestValidationError: For a missing path, a non-positive expiry or chunk size.
    """
    expires = _seconds(expires_after, "expires_after")
    if chunk_bytes < 1:
        raise RequestValidationError("chunk_bytes must be positive")
    if isinstance(file, bytes | bytearray):
        data = bytes(file)
        name = filename or default_filename(data)
        return _bytes_chunks(data, name, expires, chunk_bytes), len(data)
    if isinstance(file, str | os.PathLike):
        path = Path(file)
        if not path.is_file():
            raise RequestValidationError(f"no such file to upload: {path}")
        name, size = filename or path.name, path.stat().st_size
        return _path_chunks(path, name, expires, chunk_bytes), size
    raise RequestValidationError(f"upload() takes bytes or a path, not {type(file).__name__}")


def fold_upload(span: trace.Span, proto: files_pb2.File, attempts: int) -> FileInfo:
    """Read an upload's answer and record it on the call's span."""
    span.set_attribute("xai.attempts", attempts)
    span.set_attribute("xai.file.id", proto.id)
    return FileInfo.from_proto(proto)


def list_request(
    limit: int | None,
    order: Order | None,
    sort_by: SortBy | None,
    pagination_token: str | None,
    filter: str | None,
) -> files_pb2.ListFilesRequest:
    """The ``ListFiles`` request (see :meth:`FilesClient.list`)."""
    request = files_pb2.ListFilesRequest()
    if limit is not None:
        request.limit = limit
    if order is not None:
        request.order = _pick(_ORDERS, "order", order)
    if sort_by is not None:
        request.sort_by = _pick(_SORT_BY, "sort_by", sort_by)
    if pagination_token:
        request.pagination_token = pagination_token
    if filter:
        request.filter = filter
    return request


def files_page(reply: files_pb2.ListFilesResponse) -> FilesPage:
    """Read a ``ListFiles`` answer."""
    token = reply.pagination_token if reply.HasField("pagination_token") else None
    return FilesPage([FileInfo.from_proto(f) for f in reply.data], token or None)


def public_url(reply: files_pb2.CreatePublicUrlResponse) -> PublicUrl:
    """Read a ``CreatePublicUrl`` answer."""
    return PublicUrl(reply.public_url, _when(reply, "expires_at"))


def revocation(reply: files_pb2.RevokePublicUrlResponse) -> PublicUrlRevocation:
    """Read a ``RevokePublicUrl`` answer."""
    url = reply.public_url if reply.HasField("public_url") else None
    return PublicUrlRevocation(reply.file_id, reply.revoked, url)


class FilesClient:
    """Uploads, lists, reads and deletes stored files (``client.files``)."""

    def __init__(self, caller: Caller) -> None:
        self._caller = caller

    def _call(self, method: str, request: Any) -> Any:
        with self._caller.traced(f"files.{method}", self._caller.attributes("files", "", {})):
            return self._caller.unary(_STUB, method, request)[0]

    def upload(
        self,
        file: FileSource,
        *,
        filename: str | None = None,
        expires_after: int | dt.timedelta | None = None,
        chunk_bytes: int = UPLOAD_CHUNK_BYTES,
    ) -> FileInfo:
        """Upload a file, streamed in chunks.

        Args:
            file: The bytes, or a local path (``str`` or ``Path``).
            filename: Name to store (default: the path's name; for bytes
                ``upload-<sha256 prefix>.<ext>``).
            expires_after: Seconds (or a timedelta) until the file is deleted; default never.
            chunk_bytes: Bytes per chunk.

        Raises:
            RequestValidationError: For a missing path, a non-positive expiry or chunk size.
        """
        chunks, size = upload_chunks(file, filename, expires_after, chunk_bytes)
        attrs = {**self._caller.attributes("files", "", {}), "xai.file.size": size}
        with self._caller.traced("files.UploadFile", attrs) as span:
            proto, attempts = self._caller.client_stream(_STUB, "UploadFile", chunks)
            return fold_upload(span, proto, attempts)

    def list(
        self,
        limit: int | None = None,
        *,
        order: Order | None = None,
        sort_by: SortBy | None = None,
        pagination_token: str | None = None,
        filter: str | None = None,
    ) -> FilesPage:
        """One page of files.

        Args:
            limit: Most files on the page (the server's default when None).
            order: ``asc`` or ``desc``.
            sort_by: ``created_at``, ``filename`` or ``size``.
            pagination_token: The previous page's token.
            filter: A filter expression, e.g. ``size_bytes > 1048576``.
        """
        request = list_request(limit, order, sort_by, pagination_token, filter)
        return files_page(self._call("ListFiles", request))

    def iter_files(
        self,
        page_size: int = 100,
        *,
        order: Order | None = None,
        sort_by: SortBy | None = None,
        filter: str | None = None,
    ) -> Iterator[FileInfo]:
        """Every file, page after page."""
        token: str | None = None
        while True:
            page = self.list(
                page_size, order=order, sort_by=sort_by, pagination_token=token, filter=filter
            )
            yield from page.files
            token = page.pagination_token
            if not token:
                return

    def get(self, file_id: str) -> FileInfo:
        """A file's metadata (:class:`NotFoundError` if unknown)."""
        return FileInfo.from_proto(
            self._call("RetrieveFile", files_pb2.RetrieveFileRequest(file_id=file_id))
        )

    def content(self, file_id: str) -> bytes:
        """A file's bytes (the streamed chunks joined; a restarted stream starts over)."""
        request = files_pb2.RetrieveFileContentRequest(file_id=file_id)
        parts: builtins.list[bytes] = []
        current = 0
        with self._caller.traced(
            "files.RetrieveFileContent", self._caller.attributes("files", "", {})
        ) as span:
            stream = self._caller.stream(_STUB, "RetrieveFileContent", request)
            try:
                for attempt, chunk in stream:
                    if attempt != current:
                        parts, current = [], attempt
                    parts.append(chunk.data)
            finally:
                stream.close()
            data = b"".join(parts)
            span.set_attribute("xai.file.size", len(data))
            return data

    def delete(self, file_id: str) -> FileDeletion:
        """Delete a file."""
        reply = self._call("DeleteFile", files_pb2.DeleteFileRequest(file_id=file_id))
        return FileDeletion(reply.id, reply.deleted)

    def create_public_url(
        self, file_id: str, *, expires_after: int | dt.timedelta | None = None
    ) -> PublicUrl:
        """Make a public URL for a file (images, videos and PDFs).

        Args:
            file_id: The file.
            expires_after: Seconds (or a timedelta) the URL works; default: as long as
                the file exists.
        """
        request = files_pb2.CreatePublicUrlRequest(
            file_id=file_id, expires_after=_seconds(expires_after, "expires_after")
        )
        return public_url(self._call("CreatePublicUrl", request))

    def revoke_public_url(self, file_id: str) -> PublicUrlRevocation:
        """Withdraw a file's public URL (``revoked`` is False when it had none)."""
        return revocation(
            self._call("RevokePublicUrl", files_pb2.RevokePublicUrlRequest(file_id=file_id))
        )


def _pick(table: dict[str, Any], name: str, value: str) -> Any:
    if value not in table:
        raise RequestValidationError(f"{name} must be one of {', '.join(table)}; got {value!r}")
    return table[value]


def upload_source(source: FileSource, filename: str | None) -> tuple[bytes | Path, str | None]:
    """The content to upload once (bytes or a checked path) and its name.

    Raises:
        RequestValidationError: For a path that is not a readable file.
    """
    if isinstance(source, bytes | bytearray):
        return bytes(source), filename
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise RequestValidationError(f"no such file to upload: {path}")
        return path, filename or path.name
    raise RequestValidationError(f"file_id() takes bytes or a path, not {type(source).__name__}")


def local_file_parts(request: chat_pb2.GetCompletionsRequest) -> Iterator[chat_pb2.FileContent]:
    """The ``file()`` parts of ``request`` that still carry local data."""
    for message in request.messages:
        for part in message.content:
            if part.HasField("file") and part.file.data and not part.file.file_id:
                yield part.file


class _Slot:
    __slots__ = ("file_id", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.file_id: str | None = None


def content_digest(source: bytes | Path) -> str:
    """The sha256 hex digest that keys an upload (:class:`FileUploads`)."""
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    digest = hashlib.sha256()
    with source.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class FileUploads:
    """Uploads each distinct content once and remembers its file id (thread-safe).

    Content is keyed by its sha256, so the same bytes under two paths are uploaded
    once. Concurrent callers asking for the same content wait for the one upload;
    a failed upload is not remembered, so the next caller tries again.

    Args:
        files: The Files client that uploads.
        expires_after: Expiry given to every upload (seconds or a timedelta).
    """

    def __init__(self, files: FilesClient, *, expires_after: int | dt.timedelta | None = None):
        self._files = files
        self._expires_after = expires_after
        self._lock = threading.Lock()
        self._slots: dict[str, _Slot] = {}

    def file_id(self, source: FileSource, filename: str | None = None) -> str:
        """The file id of ``source`` (bytes, or a local path as ``str``/``Path``), uploading
        it on first sight.

        Raises:
            RequestValidationError: For a path that is not a readable file.
            XaiError: When the upload fails.
        """
        data, filename = upload_source(source, filename)
        digest = content_digest(data)
        with self._lock:
            slot = self._slots.setdefault(digest, _Slot())
        with slot.lock:
            if slot.file_id is None:
                info = self._files.upload(
                    data, filename=filename, expires_after=self._expires_after
                )
                slot.file_id = info.id
            return slot.file_id

    @property
    def ids(self) -> dict[str, str]:
        """sha256 hex digest -> file id, for every content uploaded so far."""
        with self._lock:
            slots = dict(self._slots)
        return {digest: slot.file_id for digest, slot in slots.items() if slot.file_id}

    def __len__(self) -> int:
        return len(self.ids)

    def resolve(self, request: chat_pb2.GetCompletionsRequest) -> None:
        """Replace the local data of every ``file()`` part of ``request`` by its file id."""
        for part in local_file_parts(request):
            part.CopyFrom(
                chat_pb2.FileContent(file_id=self.file_id(part.data, part.filename or None))
            )
