"""The Files gRPC service: upload, list, retrieve, delete, download, public URLs.

Behaviour (sources and dates in ``files_store``; read 2026-11-29):

* UploadFile is client-streaming: the first chunk carries ``init`` (name and
  optional ``expires_after``), the rest carry ``data`` (xai-sdk 1.21.0 sends
  3 MiB chunks). A missing or repeated ``init``, an empty name, a file over
  50 MB or a TTL outside 1 hour..30 days is INVALID_ARGUMENT.
* ListFiles: ``limit`` defaults to 100 (xai-sdk 1.21.0 ``files.list``),
  ``order`` ascending or descending, ``sort_by`` created_at / filename / size,
  ``pagination_token`` from the previous page, ``filter`` (see ``files_filter``).
* RetrieveFileContent streams the bytes in chunks of ``DOWNLOAD_CHUNK_BYTES``;
  ``format`` TEXT streams the text the emulator extracts (UTF-8 files only).
* Public URLs are served by the emulator's HTTP host at
  ``<http_url>/files-cdn/<token>/<file_id><ext>`` (the hosted form is
  ``https://files-cdn.x.ai/<token>/file_abc123.png``,
  https://docs.x.ai/developers/files/public-urls).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from functools import partial

import grpc

from xai_pipelines.emulator.callctx import call_context
from xai_pipelines.emulator.errors import answer, invalid
from xai_pipelines.emulator.files_filter import parse_filter
from xai_pipelines.emulator.files_store import MAX_FILE_BYTES, FileStore, StoredFile
from xai_pipelines.emulator.http_host import ImageHost
from xai_pipelines.proto import files_pb2, files_pb2_grpc

DEFAULT_PAGE = 100
MAX_PAGE = 1000
DOWNLOAD_CHUNK_BYTES = 1 << 20
CDN_PREFIX = "files-cdn"


class PublicUrls:
    """Public URLs of stored files on the emulator's HTTP host.

    Args:
        store: The files.
        host: The HTTP host the URLs point at (the resolver is mounted on it).
    """

    def __init__(self, store: FileStore, host: ImageHost) -> None:
        self.store = store
        self.base = host.mount(CDN_PREFIX, self._resolve)

    def url(self, record: StoredFile) -> str:
        """The public URL of ``record`` (which must have a token)."""
        _, ext = os.path.splitext(record.filename)
        return f"{self.base}/{record.public_token}/{record.file_id}{ext}"

    def lookup(self, url: str) -> StoredFile | None:
        """The live file a public URL of this emulator serves (None for any other URL)."""
        prefix = f"{self.base}/"
        if not url.startswith(prefix):
            return None
        token, _, name = url[len(prefix) :].partition("/")
        record = self.store.public(token)
        return record if record is not None and name.startswith(record.file_id) else None

    def _resolve(self, rest: str) -> tuple[bytes, str] | None:
        token, _, name = rest.partition("/")
        record = self.store.public(token)
        if record is None or not name.startswith(record.file_id):
            return None
        return record.data, record.content_type


def file_proto(record: StoredFile, urls: PublicUrls) -> files_pb2.File:
    """The ``File`` message describing ``record``."""
    out = files_pb2.File(id=record.file_id, filename=record.filename, size=record.size)
    out.created_at.FromNanoseconds(int(record.created_at * 1e9))
    if record.expires_at is not None:
        out.expires_at.FromNanoseconds(int(record.expires_at * 1e9))
    if record.public_token is not None:
        out.public_url = urls.url(record)
        if record.public_expires_at is not None:
            out.public_url_expires_at.FromNanoseconds(int(record.public_expires_at * 1e9))
    return out


_SORT_KEYS = {
    files_pb2.FILES_SORT_BY_CREATED_AT: lambda f: (f.created_at, f.file_id),
    files_pb2.FILES_SORT_BY_FILENAME: lambda f: (f.filename, f.created_at, f.file_id),
    files_pb2.FILES_SORT_BY_SIZE: lambda f: (f.size, f.created_at, f.file_id),
}


class FilesService(files_pb2_grpc.FilesServicer):
    """Files: the seven RPCs of the hosted Files service.

    Args:
        store: The files.
        urls: Public URL maker (on the HTTP host).
    """

    def __init__(self, store: FileStore, urls: PublicUrls) -> None:
        self.store = store
        self.urls = urls

    async def UploadFile(
        self,
        request_iterator: AsyncIterator[files_pb2.UploadFileChunk],
        context: grpc.aio.ServicerContext,
    ) -> files_pb2.File:
        upload = _Upload()
        async for chunk in request_iterator:
            await answer(context, partial(upload.add, chunk))

        def work() -> files_pb2.File:
            init, data = upload.finish()
            expires = init.expires_after if init.HasField("expires_after") else None
            record = self.store.put(call_context(context).key_id, init.name, data, expires)
            return file_proto(record, self.urls)

        return await answer(context, work)

    async def ListFiles(
        self, request: files_pb2.ListFilesRequest, context: grpc.aio.ServicerContext
    ) -> files_pb2.ListFilesResponse:
        def work() -> files_pb2.ListFilesResponse:
            if request.limit < 0:
                raise invalid(f"limit must not be negative, got {request.limit}")
            size = min(request.limit or DEFAULT_PAGE, MAX_PAGE)
            keep = parse_filter(request.filter) if request.HasField("filter") else None
            records = [
                f for f in self.store.files(call_context(context).key_id) if keep is None or keep(f)
            ]
            sort_by = (
                request.sort_by
                if request.HasField("sort_by")
                else files_pb2.FILES_SORT_BY_CREATED_AT
            )
            order_key = _SORT_KEYS.get(sort_by)
            if order_key is None:
                raise invalid(f"sort_by {sort_by} is not a known sort field")
            records.sort(key=order_key, reverse=request.order == files_pb2.DESCENDING)
            start = _offset(request.pagination_token) if request.HasField("pagination_token") else 0
            end = min(start + size, len(records))
            out = files_pb2.ListFilesResponse(
                data=[file_proto(f, self.urls) for f in records[start:end]]
            )
            if end < len(records):
                out.pagination_token = str(end)
            return out

        return await answer(context, work)

    async def RetrieveFile(
        self, request: files_pb2.RetrieveFileRequest, context: grpc.aio.ServicerContext
    ) -> files_pb2.File:
        return await answer(
            context,
            lambda: file_proto(
                self.store.get(call_context(context).key_id, request.file_id), self.urls
            ),
        )

    async def DeleteFile(
        self, request: files_pb2.DeleteFileRequest, context: grpc.aio.ServicerContext
    ) -> files_pb2.DeleteFileResponse:
        def work() -> files_pb2.DeleteFileResponse:
            record = self.store.delete(call_context(context).key_id, request.file_id)
            return files_pb2.DeleteFileResponse(id=record.file_id, deleted=True)

        return await answer(context, work)

    async def RetrieveFileContent(
        self, request: files_pb2.RetrieveFileContentRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[files_pb2.FileContentChunk]:
        record = await answer(
            context, lambda: self.store.get(call_context(context).key_id, request.file_id)
        )
        data = record.data
        if request.HasField("format") and request.format == files_pb2.DOWNLOAD_FORMAT_TEXT:
            data = record.text().encode("utf-8")
        for start in range(0, len(data), DOWNLOAD_CHUNK_BYTES):
            yield files_pb2.FileContentChunk(data=data[start : start + DOWNLOAD_CHUNK_BYTES])

    async def CreatePublicUrl(
        self, request: files_pb2.CreatePublicUrlRequest, context: grpc.aio.ServicerContext
    ) -> files_pb2.CreatePublicUrlResponse:
        def work() -> files_pb2.CreatePublicUrlResponse:
            expires = request.expires_after if request.HasField("expires_after") else None
            record = self.store.publish(call_context(context).key_id, request.file_id, expires)
            out = files_pb2.CreatePublicUrlResponse(public_url=self.urls.url(record))
            if record.public_expires_at is not None:
                out.expires_at.FromNanoseconds(int(record.public_expires_at * 1e9))
            return out

        return await answer(context, work)

    async def RevokePublicUrl(
        self, request: files_pb2.RevokePublicUrlRequest, context: grpc.aio.ServicerContext
    ) -> files_pb2.RevokePublicUrlResponse:
        def work() -> files_pb2.RevokePublicUrlResponse:
            key = call_context(context).key_id
            record = self.store.get(key, request.file_id)
            url = self.urls.url(record) if record.public_token is not None else None
            token = self.store.unpublish(key, request.file_id)
            out = files_pb2.RevokePublicUrlResponse(
                file_id=request.file_id, revoked=token is not None
            )
            if url is not None and token is not None:
                out.public_url = url
            return out

        return await answer(context, work)


class _Upload:
    """The chunks of one UploadFile call, checked as they arrive."""

    def __init__(self) -> None:
        self.init: files_pb2.UploadFileInit | None = None
        self.parts: list[bytes] = []
        self.size = 0
        self.count = 0

    def add(self, chunk: files_pb2.UploadFileChunk) -> None:
        """Take the next chunk.

        Raises:
            EmulatorError: On a misplaced ``init`` or a file over the size limit.
        """
        i, self.count = self.count, self.count + 1
        kind = chunk.WhichOneof("chunk")
        if kind == "init":
            if i != 0:
                raise invalid(f"chunk {i} carries init; only the first chunk may")
            self.init = chunk.init
        elif i == 0:
            raise invalid("the first chunk must carry init (the file name and options)")
        elif kind == "data":
            self.size += len(chunk.data)
            if self.size > MAX_FILE_BYTES:
                raise invalid(
                    f"the file exceeds the maximum file size of {MAX_FILE_BYTES // 1_000_000} MB"
                )
            self.parts.append(chunk.data)

    def finish(self) -> tuple[files_pb2.UploadFileInit, bytes]:
        """The upload's ``init`` and content.

        Raises:
            EmulatorError: When no chunk came or ``init.name`` is empty.
        """
        if self.init is None:
            raise invalid("the upload carried no chunks: send init first, then data")
        if not self.init.name:
            raise invalid("init.name must be set")
        return self.init, b"".join(self.parts)


def _offset(token: str) -> int:
    try:
        start = int(token)
    except ValueError:
        raise invalid("pagination_token is not a token this server issued") from None
    if start < 0:
        raise invalid("pagination_token is not a token this server issued")
    return start
