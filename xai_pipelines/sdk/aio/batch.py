"""Server-side batches, async (``client.batch`` of an ``AsyncClient``).

Requests are :class:`AsyncChat` objects, request protos, or ``(batch_request_id, item)``
pairs; requests and answers are built and read by :mod:`xai_pipelines.sdk.batch`. The
``images`` of a :class:`BatchResult` here are :class:`AsyncImageResponse` objects.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterable
from typing import Any

from xai_pipelines.proto import batch_pb2, batch_pb2_grpc, chat_pb2, image_pb2
from xai_pipelines.sdk.aio._call import AsyncCaller
from xai_pipelines.sdk.aio.chat import AsyncChat
from xai_pipelines.sdk.aio.image import AsyncImageClient
from xai_pipelines.sdk.batch import (
    BatchInfo,
    BatchRequestInfo,
    BatchRequestState,
    BatchResult,
    BatchResultsPage,
    batch_request_proto,
    create_request,
    fold_batch_result,
    metadata_request,
    page_token,
)

__all__ = ["AsyncBatchClient"]

_STUB = batch_pb2_grpc.BatchMgmtStub
AsyncBatchItem = AsyncChat | chat_pb2.GetCompletionsRequest | image_pb2.GenerateImageRequest


class AsyncBatchClient:
    """Creates, fills, inspects and cancels server-side batches; spans ``batch.<method>``."""

    def __init__(self, caller: AsyncCaller, images: AsyncImageClient) -> None:
        self._caller = caller
        self._images = images

    async def _call(self, method: str, request: Any) -> Any:
        with self._caller.traced(f"batch.{method}", self._caller.attributes("batch", "", {})):
            return (await self._caller.unary(_STUB, method, request))[0]

    async def create(self, name: str, *, input_file_id: str | None = None) -> BatchInfo:
        """Create an empty batch, or one from an uploaded JSONL file (as the sync client)."""
        reply = await self._call("CreateBatch", create_request(name, input_file_id))
        return BatchInfo.from_proto(reply)

    async def add_requests(
        self, batch_id: str, requests: Iterable[AsyncBatchItem | tuple[str, AsyncBatchItem]]
    ) -> None:
        """Add chat or image requests, optionally with your own ``batch_request_id``."""
        items = []
        for item in requests:
            request_id, payload = item if isinstance(item, tuple) else (None, item)
            if isinstance(payload, AsyncChat):
                payload = await payload.batch_request()  # local files uploaded first
            items.append(
                batch_request_proto(payload if request_id is None else (request_id, payload))
            )
        if items:
            await self._call(
                "AddBatchRequests",
                batch_pb2.AddBatchRequestsRequest(batch_id=batch_id, batch_requests=items),
            )

    async def get(self, batch_id: str) -> BatchInfo:
        """The batch and its counters."""
        reply = await self._call("GetBatch", batch_pb2.GetBatchRequest(batch_id=batch_id))
        return BatchInfo.from_proto(reply)

    async def cancel(self, batch_id: str) -> BatchInfo:
        """Cancel the batch's pending requests."""
        reply = await self._call("CancelBatch", batch_pb2.CancelBatchRequest(batch_id=batch_id))
        return BatchInfo.from_proto(reply)

    async def list(
        self, limit: int = 100, pagination_token: str | None = None
    ) -> tuple[builtins.list[BatchInfo], str | None]:
        """One page of batches and the next page's token (None on the last page)."""
        request = batch_pb2.ListBatchesRequest(limit=limit, pagination_token=pagination_token)
        reply = await self._call("ListBatches", request)
        return [BatchInfo.from_proto(b) for b in reply.batches], page_token(reply)

    async def iter_batches(self, page_size: int = 100) -> AsyncIterator[BatchInfo]:
        """Every batch, page after page."""
        token: str | None = None
        while True:
            batches, token = await self.list(page_size, token)
            for batch in batches:
                yield batch
            if not token:
                return

    async def list_results(
        self, batch_id: str, limit: int = 100, pagination_token: str | None = None
    ) -> BatchResultsPage:
        """One page of finished results."""
        request = batch_pb2.ListBatchResultsRequest(
            batch_id=batch_id, limit=limit, pagination_token=pagination_token
        )
        reply = await self._call("ListBatchResults", request)
        results = [fold_batch_result(r, self._images.wrap) for r in reply.results]
        return BatchResultsPage(results, page_token(reply))

    async def iter_results(self, batch_id: str, page_size: int = 100) -> AsyncIterator[BatchResult]:
        """Every finished result, page after page."""
        token: str | None = None
        while True:
            page = await self.list_results(batch_id, page_size, token)
            for result in page.results:
                yield result
            token = page.pagination_token
            if not token:
                return

    async def list_request_metadata(
        self,
        batch_id: str,
        limit: int = 100,
        pagination_token: str | None = None,
        states: Iterable[BatchRequestState] = (),
    ) -> tuple[builtins.list[BatchRequestInfo], str | None]:
        """One page of the batch's request metadata (only ``states``, when given)."""
        request = metadata_request(batch_id, limit, pagination_token, states)
        reply = await self._call("ListBatchRequestMetadata", request)
        items = [BatchRequestInfo.from_proto(m) for m in reply.batch_request_metadata]
        return items, page_token(reply)

    async def iter_request_metadata(
        self, batch_id: str, page_size: int = 100, states: Iterable[BatchRequestState] = ()
    ) -> AsyncIterator[BatchRequestInfo]:
        """Metadata of every request of the batch (only ``states``, when given), page by page."""
        wanted = builtins.list(states)
        token: str | None = None
        while True:
            items, token = await self.list_request_metadata(batch_id, page_size, token, wanted)
            for info in items:
                yield info
            if not token:
                return

    async def get_request_result(
        self, batch_id: str, batch_request_id: str
    ) -> tuple[batch_pb2.BatchRequest, BatchResult | None]:
        """One request of a batch as it was added, and its result (None while unfinished)."""
        reply = await self._call(
            "GetBatchRequestResult",
            batch_pb2.GetBatchRequestResultRequest(
                batch_id=batch_id, batch_request_id=batch_request_id
            ),
        )
        result = (
            fold_batch_result(reply.result, self._images.wrap) if reply.HasField("result") else None
        )
        return reply.request, result
