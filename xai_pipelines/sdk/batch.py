"""Server-side batches (``client.batch``, the BatchMgmt service).

Example::

    b = client.batch.create("nightly")
    client.batch.add_requests(b.batch_id, [("q1", client.chat.create("grok-4", [user("Hi")]))])
    while client.batch.get(b.batch_id).num_pending: time.sleep(5)
    for result in client.batch.iter_results(b.batch_id):
        print(result.batch_request_id, result.response.content if result.ok else result.error)

Requests are ``Chat`` objects, ``GetCompletionsRequest`` / ``GenerateImageRequest``
protos, or ``(batch_request_id, one of those)`` pairs. Spans: ``batch.<method>``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc

from xai_pipelines.proto import batch_pb2, batch_pb2_grpc, chat_pb2, image_pb2
from xai_pipelines.sdk._call import Caller
from xai_pipelines.sdk.chat import Chat
from xai_pipelines.sdk.errors import RequestValidationError, XaiError, error_for_status
from xai_pipelines.sdk.image import ImageClient, ImageResponse
from xai_pipelines.sdk.response import Response

__all__ = ["BatchClient", "BatchInfo", "BatchResult", "BatchResultsPage"]

_STUB = batch_pb2_grpc.BatchMgmtStub
BatchItem = Chat | chat_pb2.GetCompletionsRequest | image_pb2.GenerateImageRequest


@dataclass(frozen=True)
class BatchInfo:
    """A batch and its progress."""

    batch_id: str
    name: str
    num_requests: int
    num_pending: int
    num_success: int
    num_error: int
    num_cancelled: int
    total_cost_usd_ticks: int
    create_time: dt.datetime | None
    cancel_time: dt.datetime | None

    @property
    def done(self) -> bool:
        """True when no request is pending."""
        return self.num_pending == 0

    @classmethod
    def from_proto(cls, b: batch_pb2.Batch) -> BatchInfo:
        """Read a ``Batch``."""

        def when(field: str) -> dt.datetime | None:
            return getattr(b, field).ToDatetime(dt.UTC) if b.HasField(field) else None

        s = b.state
        return cls(
            b.batch_id, b.name, s.num_requests, s.num_pending, s.num_success, s.num_error,
            s.num_cancelled, b.cost_breakdown.total_cost_usd_ticks,
            when("create_time"), when("cancel_time"),
        )  # fmt: skip


@dataclass(frozen=True)
class BatchResult:
    """The outcome of one batch request: a chat Response, images, or an error."""

    batch_request_id: str
    response: Response | None = None
    images: tuple[ImageResponse, ...] = ()
    error: XaiError | None = None

    @property
    def ok(self) -> bool:
        """True when the request succeeded."""
        return self.error is None


@dataclass(frozen=True)
class BatchResultsPage:
    """One page of results and the token of the next page (None on the last)."""

    results: list[BatchResult]
    pagination_token: str | None


class BatchClient:
    """Creates, fills, inspects and cancels server-side batches."""

    def __init__(self, caller: Caller, images: ImageClient) -> None:
        self._caller = caller
        self._images = images

    def _call(self, method: str, request: Any) -> Any:
        with self._caller.traced(f"batch.{method}", self._caller.attributes("batch", "", {})):
            return self._caller.unary(_STUB, method, request)[0]

    def create(self, name: str) -> BatchInfo:
        """Create an empty batch."""
        return BatchInfo.from_proto(
            self._call("CreateBatch", batch_pb2.CreateBatchRequest(name=name))
        )

    def add_requests(
        self, batch_id: str, requests: Iterable[BatchItem | tuple[str, BatchItem]]
    ) -> None:
        """Add chat or image requests, optionally with your own ``batch_request_id``."""
        items = [_batch_request(r) for r in requests]
        if items:
            self._call(
                "AddBatchRequests",
                batch_pb2.AddBatchRequestsRequest(batch_id=batch_id, batch_requests=items),
            )

    def get(self, batch_id: str) -> BatchInfo:
        """The batch and its counters."""
        return BatchInfo.from_proto(
            self._call("GetBatch", batch_pb2.GetBatchRequest(batch_id=batch_id))
        )

    def cancel(self, batch_id: str) -> BatchInfo:
        """Cancel the batch's pending requests."""
        reply = self._call("CancelBatch", batch_pb2.CancelBatchRequest(batch_id=batch_id))
        return BatchInfo.from_proto(reply)

    def list(
        self, limit: int = 100, pagination_token: str | None = None
    ) -> tuple[list[BatchInfo], str | None]:
        """One page of batches and the next page's token (None on the last page)."""
        request = batch_pb2.ListBatchesRequest(limit=limit, pagination_token=pagination_token)
        reply = self._call("ListBatches", request)
        token = reply.pagination_token if reply.HasField("pagination_token") else None
        return [BatchInfo.from_proto(b) for b in reply.batches], token or None

    def iter_batches(self, page_size: int = 100) -> Iterator[BatchInfo]:
        """Every batch, page after page."""
        token: str | None = None
        while True:
            batches, token = self.list(page_size, token)
            yield from batches
            if not token:
                return

    def list_results(
        self, batch_id: str, limit: int = 100, pagination_token: str | None = None
    ) -> BatchResultsPage:
        """One page of finished results."""
        request = batch_pb2.ListBatchResultsRequest(
            batch_id=batch_id, limit=limit, pagination_token=pagination_token
        )
        reply = self._call("ListBatchResults", request)
        token = reply.pagination_token if reply.HasField("pagination_token") else None
        return BatchResultsPage([self._result(r) for r in reply.results], token or None)

    def iter_results(self, batch_id: str, page_size: int = 100) -> Iterator[BatchResult]:
        """Every finished result, page after page."""
        token: str | None = None
        while True:
            page = self.list_results(batch_id, page_size, token)
            yield from page.results
            token = page.pagination_token
            if not token:
                return

    def _result(self, result: batch_pb2.BatchResult) -> BatchResult:
        if result.WhichOneof("result") == "error":
            code = _status_code(result.error.code)
            error = error_for_status(code, result.error.message, request_id=result.batch_request_id)
            return BatchResult(result.batch_request_id, error=error)
        data = result.response
        if data.WhichOneof("response") == "image_response":
            images = tuple(self._images.wrap(data.image_response))
            return BatchResult(result.batch_request_id, images=images)
        return BatchResult(result.batch_request_id, response=Response(data.completion_response))


def _status_code(number: int) -> grpc.StatusCode:
    for code in grpc.StatusCode:
        if code.value[0] == number:
            return code
    return grpc.StatusCode.UNKNOWN


def _batch_request(item: BatchItem | tuple[str, BatchItem]) -> batch_pb2.BatchRequest:
    request_id, payload = item if isinstance(item, tuple) else (None, item)
    out = batch_pb2.BatchRequest()
    if request_id is not None:
        out.batch_request_id = request_id
    if isinstance(payload, Chat):
        payload = payload.request
    if isinstance(payload, chat_pb2.GetCompletionsRequest):
        out.completion_request.CopyFrom(payload)
    elif isinstance(payload, image_pb2.GenerateImageRequest):
        out.image_request.CopyFrom(payload)
    else:
        raise RequestValidationError(
            f"a batch request must be a Chat or a request proto, not {type(payload).__name__}"
        )
    return out
