"""Files stored with xAI, async (``client.files`` of :class:`~xai_pipelines.sdk.aio.AsyncClient`).

The requests and answers are those of :mod:`xai_pipelines.sdk.files` (shared builders
and readers); only the calls are awaited. An upload streams its chunks from a plain
iterator (a path is read in 3 MiB blocks between sends).
"""

from __future__ import annotations

import asyncio
import builtins
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from xai_pipelines.proto import chat_pb2, files_pb2, files_pb2_grpc
from xai_pipelines.sdk.aio._call import AsyncCaller
from xai_pipelines.sdk.files import (
    UPLOAD_CHUNK_BYTES,
    FileDeletion,
    FileInfo,
    FileSource,
    FilesPage,
    Order,
    PublicUrl,
    PublicUrlRevocation,
    SortBy,
    _seconds,
    content_digest,
    files_page,
    fold_upload,
    list_request,
    local_file_parts,
    public_url,
    revocation,
    upload_chunks,
    upload_source,
)

__all__ = ["AsyncFileUploads", "AsyncFilesClient"]

_STUB = files_pb2_grpc.FilesStub


class AsyncFilesClient:
    """Uploads, lists, reads and deletes stored files; spans ``files.<method>``."""

    def __init__(self, caller: AsyncCaller) -> None:
        self._caller = caller

    async def _call(self, method: str, request: Any) -> Any:
        with self._caller.traced(f"files.{method}", self._caller.attributes("files", "", {})):
            return (await self._caller.unary(_STUB, method, request))[0]

    async def upload(
        self,
        file: FileSource,
        *,
        filename: str | None = None,
        expires_after: int | dt.timedelta | None = None,
        chunk_bytes: int = UPLOAD_CHUNK_BYTES,
    ) -> FileInfo:
        """Upload a file, streamed in chunks (see :meth:`FilesClient.upload`)."""
        chunks, size = upload_chunks(file, filename, expires_after, chunk_bytes)
        attrs = {**self._caller.attributes("files", "", {}), "xai.file.size": size}
        with self._caller.traced("files.UploadFile", attrs) as span:
            proto, attempts = await self._caller.client_stream(_STUB, "UploadFile", chunks)
            return fold_upload(span, proto, attempts)

    async def list(
        self,
        limit: int | None = None,
        *,
        order: Order | None = None,
        sort_by: SortBy | None = None,
        pagination_token: str | None = None,
        filter: str | None = None,
    ) -> FilesPage:
        """One page of files (see :meth:`FilesClient.list`)."""
        request = list_request(limit, order, sort_by, pagination_token, filter)
        return files_page(await self._call("ListFiles", request))

    async def iter_files(
        self,
        page_size: int = 100,
        *,
        order: Order | None = None,
        sort_by: SortBy | None = None,
        filter: str | None = None,
    ) -> AsyncIterator[FileInfo]:
        """Every file, page after page."""
        token: str | None = None
        while True:
            page = await self.list(
                page_size, order=order, sort_by=sort_by, pagination_token=token, filter=filter
            )
            for info in page.files:
                yield info
            token = page.pagination_token
            if not token:
                return

    async def get(self, file_id: str) -> FileInfo:
        """A file's metadata (:class:`NotFoundError` if unknown)."""
        return FileInfo.from_proto(
            await self._call("RetrieveFile", files_pb2.RetrieveFileRequest(file_id=file_id))
        )

    async def content(self, file_id: str) -> bytes:
        """A file's bytes (the streamed chunks joined; a restarted stream starts over)."""
        request = files_pb2.RetrieveFileContentRequest(file_id=file_id)
        parts: builtins.list[bytes] = []
        current = 0
        with self._caller.traced(
            "files.RetrieveFileContent", self._caller.attributes("files", "", {})
        ) as span:
            stream = self._caller.stream(_STUB, "RetrieveFileContent", request)
            try:
                async for attempt, chunk in stream:
                    if attempt != current:
                        parts, current = [], attempt
                    parts.append(chunk.data)
            finally:
                await stream.aclose()
            data = b"".join(parts)
            span.set_attribute("xai.file.size", len(data))
            return data

    async def delete(self, file_id: str) -> FileDeletion:
        """Delete a file."""
        reply = await self._call("DeleteFile", files_pb2.DeleteFileRequest(file_id=file_id))
        return FileDeletion(reply.id, reply.deleted)

    async def create_public_url(
        self, file_id: str, *, expires_after: int | dt.timedelta | None = None
    ) -> PublicUrl:
        """Make a public URL for a file (see :meth:`FilesClient.create_public_url`)."""
        request = files_pb2.CreatePublicUrlRequest(
            file_id=file_id, expires_after=_seconds(expires_after, "expires_after")
        )
        return public_url(await self._call("CreatePublicUrl", request))

    async def revoke_public_url(self, file_id: str) -> PublicUrlRevocation:
        """Withdraw a file's public URL (``revoked`` is False when it had none)."""
        request = files_pb2.RevokePublicUrlRequest(file_id=file_id)
        return revocation(await self._call("RevokePublicUrl", request))


class _Slot:
    __slots__ = ("file_id", "lock")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.file_id: str | None = None


class AsyncFileUploads:
    """Uploads each distinct content once and remembers its file id (one event loop).

    As :class:`~xai_pipelines.sdk.files.FileUploads`: keyed by sha256; concurrent tasks
    asking for the same content wait for the one upload; a failed upload is not
    remembered.

    Args:
        files: The Files client that uploads.
        expires_after: Expiry given to every upload (seconds or a timedelta).
    """

    def __init__(
        self, files: AsyncFilesClient, *, expires_after: int | dt.timedelta | None = None
    ) -> None:
        self._files = files
        self._expires_after = expires_after
        self._slots: dict[str, _Slot] = {}

    async def file_id(self, source: FileSource, filename: str | None = None) -> str:
        """The file id of ``source`` (bytes or a local path), uploading it on first sight."""
        data, filename = upload_source(source, filename)
        slot = self._slots.setdefault(content_digest(data), _Slot())
        async with slot.lock:
            if slot.file_id is None:
                info = await self._files.upload(
                    data, filename=filename, expires_after=self._expires_after
                )
                slot.file_id = info.id
            return slot.file_id

    @property
    def ids(self) -> dict[str, str]:
        """sha256 hex digest -> file id, for every content uploaded so far."""
        return {digest: slot.file_id for digest, slot in self._slots.items() if slot.file_id}

    def __len__(self) -> int:
        return len(self.ids)

    async def resolve(self, request: chat_pb2.GetCompletionsRequest) -> None:
        """Replace the local data of every ``file()`` part of ``request`` by its file id."""
        for part in list(local_file_parts(request)):
            file_id = await self.file_id(part.data, part.filename or None)
            part.CopyFrom(chat_pb2.FileContent(file_id=file_id))
