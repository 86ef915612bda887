"""Server-side batches (``client.batch``, the BatchMgmt service).

Example::

    b = client.batch.create("nightly")
    client.batch.add_requests(b.batch_id, [("q1", client.chat.create("grok-4.3", [user("Hi")]))])
    while client.batch.get(b.batch_id).num_pending: time.sleep(5)
    for result in client.batch.iter_results(b.batch_id):
        print(result.batch_request_id, result.response.content if result.ok else result.error)

Requests are ``Chat`` objects, ``GetCompletionsRequest`` / ``GenerateImageRequest``
protos, or ``(batch_request_id, one of those)`` pairs. Spans: ``batch.<method>``.
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import grpc

from xai_pipelines.proto import batch_pb2, batch_pb2_grpc, chat_pb2, image_pb2
from xai_pipelines.sdk._call import Caller
from xai_pipelines.sdk.chat import Chat
from xai_pipelines.sdk.errors import (
    EmptyResponseError,
    RequestValidationError,
    XaiError,
    error_for_status,
)
from xai_pipelines.sdk.image import ImageClient, ImageData, ImageResponse
from xai_pipelines.sdk.outputs import SERVER_SIDE_TOOL_TYPES, ToolCall
from xai_pipelines.sdk.response import Response, check_reply

__all__ = [
    "ADD_REQUESTS_CALLS_PER_WINDOW",
    "ADD_REQUESTS_MAX_BYTES",
    "ADD_REQUESTS_WINDOW_S",
    "BatchClient",
    "BatchInfo",
    "BatchRequestInfo",
    "BatchRequestState",
    "BatchResult",
    "BatchResultsPage",
    "add_request_chunks",
]

_STUB = batch_pb2_grpc.BatchMgmtStub
BatchItem = (
    Chat | chat_pb2.GetCompletionsRequest | image_pb2.GenerateImageRequest | batch_pb2.BatchRequest
)

# Limits of AddBatchRequests on the hosted API: one call carries up to 25 MB, and at most
# 100 such calls are made per 30 seconds (the project's notes of the Batch API docs,
# docs.x.ai/developers/advanced-api-usage/batch-api: /work/shared/FIELD-NOTES.md "Batch
# API", read 2026-11-29). MB is taken as 10^6 bytes, the smaller reading.
#: Largest ``AddBatchRequestsRequest`` one call may carry, in bytes (serialized).
ADD_REQUESTS_MAX_BYTES = 25_000_000
#: ``AddBatchRequests`` calls allowed per :data:`ADD_REQUESTS_WINDOW_S`.
ADD_REQUESTS_CALLS_PER_WINDOW = 100
#: The window of :data:`ADD_REQUESTS_CALLS_PER_WINDOW`, in seconds.
ADD_REQUESTS_WINDOW_S = 30.0
BatchRequestState = Literal["pending", "succeeded", "cancelled", "failed", "unknown"]
_META = batch_pb2.BatchRequestMetadata
_STATES: dict[str, int] = {
    "pending": _META.STATE_PENDING,
    "succeeded": _META.STATE_SUCCEEDED,
    "cancelled": _META.STATE_CANCELLED,
    "failed": _META.STATE_FAILED,
    "unknown": _META.STATE_UNKNOWN,
}
_STATE_NAMES = {number: name for name, number in _STATES.items()}


def _when(message: Any, name: str) -> dt.datetime | None:
    return getattr(message, name).ToDatetime(dt.UTC) if message.HasField(name) else None


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
    #: The JSONL input file the batch was created from, if it was.
    input_file_id: str | None = None

    @property
    def done(self) -> bool:
        """True when no request is pending."""
        return self.num_pending == 0

    @classmethod
    def from_proto(cls, b: batch_pb2.Batch) -> BatchInfo:
        """Read a ``Batch``."""
        s = b.state
        return cls(
            b.batch_id, b.name, s.num_requests, s.num_pending, s.num_success, s.num_error,
            s.num_cancelled, b.cost_breakdown.total_cost_usd_ticks,
            _when(b, "create_time"), _when(b, "cancel_time"),
            b.input_file_id if b.HasField("input_file_id") else None,
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

    @property
    def responses(self) -> list[Response]:
        """One chat Response per answer: per output index when the request set ``n``, or
        one for an agentic reply, whose outputs at several indices make one answer."""
        if self.response is None:
            return []
        proto = self.response.proto
        if _agentic(proto):
            return [Response(proto, None)]
        return [Response(proto, i) for i in sorted({o.index for o in proto.outputs})]


def _agentic(proto: chat_pb2.GetChatCompletionResponse) -> bool:
    """Whether a reply is one agentic answer (tool outputs or server-side tool calls).

    A batch result does not say which ``n`` its request had, so the outputs decide.
    """
    for output in proto.outputs:
        if output.message.role == chat_pb2.ROLE_TOOL:
            return True
        calls = (ToolCall.from_proto(c) for c in output.message.tool_calls)
        if any(c.type in SERVER_SIDE_TOOL_TYPES for c in calls):
            return True
    return False


@dataclass(frozen=True)
class BatchRequestInfo:
    """Metadata of one request of a batch (``ListBatchRequestMetadata``)."""

    batch_request_id: str
    endpoint: str
    model: str
    state: BatchRequestState
    create_time: dt.datetime | None
    finish_time: dt.datetime | None

    @classmethod
    def from_proto(cls, m: batch_pb2.BatchRequestMetadata) -> BatchRequestInfo:
        """Read a ``BatchRequestMetadata``."""
        state = _STATE_NAMES.get(int(m.state), "unknown")
        return cls(
            m.batch_request_id, m.endpoint, m.model, state,  # type: ignore[arg-type]
            _when(m, "create_time"), _when(m, "finish_time"),
        )  # fmt: skip


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

    def create(self, name: str, *, input_file_id: str | None = None) -> BatchInfo:
        """Create an empty batch, or one holding the requests of an uploaded JSONL file
        (``input_file_id``: the hosted API then seals the batch)."""
        return BatchInfo.from_proto(self._call("CreateBatch", create_request(name, input_file_id)))

    def add_requests(
        self, batch_id: str, requests: Iterable[BatchItem | tuple[str, BatchItem]]
    ) -> None:
        """Add chat or image requests, optionally with your own ``batch_request_id``."""
        items = [batch_request_proto(r) for r in requests]
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
        return [BatchInfo.from_proto(b) for b in reply.batches], page_token(reply)

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
        return BatchResultsPage([self._result(r) for r in reply.results], page_token(reply))

    def iter_results(self, batch_id: str, page_size: int = 100) -> Iterator[BatchResult]:
        """Every finished result, page after page."""
        token: str | None = None
        while True:
            page = self.list_results(batch_id, page_size, token)
            yield from page.results
            token = page.pagination_token
            if not token:
                return

    def list_request_metadata(
        self,
        batch_id: str,
        limit: int = 100,
        pagination_token: str | None = None,
        states: Iterable[BatchRequestState] = (),
    ) -> tuple[builtins.list[BatchRequestInfo], str | None]:
        """One page of the batch's request metadata (only ``states``, when given).

        Returns:
            The page and the next page's token (None on the last page).
        """
        request = metadata_request(batch_id, limit, pagination_token, states)
        reply = self._call("ListBatchRequestMetadata", request)
        return [BatchRequestInfo.from_proto(m) for m in reply.batch_request_metadata], page_token(
            reply
        )

    def iter_request_metadata(
        self, batch_id: str, page_size: int = 100, states: Iterable[BatchRequestState] = ()
    ) -> Iterator[BatchRequestInfo]:
        """Metadata of every request of the batch (only ``states``, when given), page by page."""
        wanted = list(states)
        token: str | None = None
        while True:
            items, token = self.list_request_metadata(batch_id, page_size, token, wanted)
            yield from items
            if not token:
                return

    def get_request_result(
        self, batch_id: str, batch_request_id: str
    ) -> tuple[batch_pb2.BatchRequest, BatchResult | None]:
        """One request of a batch as it was added, and its result (None while unfinished)."""
        reply = self._call(
            "GetBatchRequestResult",
            batch_pb2.GetBatchRequestResultRequest(
                batch_id=batch_id, batch_request_id=batch_request_id
            ),
        )
        result = self._result(reply.result) if reply.HasField("result") else None
        return reply.request, result

    def _result(self, result: batch_pb2.BatchResult) -> BatchResult:
        return fold_batch_result(result, self._images.wrap)


def create_request(name: str, input_file_id: str | None) -> batch_pb2.CreateBatchRequest:
    """The ``CreateBatch`` request (``input_file_id``: field 2, as in the official SDK's
    ``CreateBatchRequest``, xai-sdk 1.21.0)."""
    request = batch_pb2.CreateBatchRequest(name=name)
    if input_file_id is not None:
        request.input_file_id = input_file_id
    return request


def page_token(reply: Any) -> str | None:
    """The next page's token of a paged reply (None on the last page)."""
    token = reply.pagination_token if reply.HasField("pagination_token") else None
    return token or None


def metadata_request(
    batch_id: str, limit: int, pagination_token: str | None, states: Iterable[BatchRequestState]
) -> batch_pb2.ListBatchRequestMetadataRequest:
    """The ``ListBatchRequestMetadata`` request (only ``states``, when given)."""
    return batch_pb2.ListBatchRequestMetadataRequest(
        batch_id=batch_id,
        limit=limit,
        pagination_token=pagination_token,
        status=[_state(s) for s in states],  # type: ignore[misc]
    )


def fold_batch_result(
    result: batch_pb2.BatchResult,
    wrap_images: Callable[[image_pb2.ImageResponse], Sequence[ImageData]],
) -> BatchResult:
    """Read one batch result: a chat Response, images (made by ``wrap_images``) or an error."""
    if result.WhichOneof("result") == "error":
        code = _status_code(result.error.code)
        error = error_for_status(code, result.error.message, request_id=result.batch_request_id)
        return BatchResult(result.batch_request_id, error=error)
    data = result.response
    if data.WhichOneof("response") == "image_response":
        if not data.image_response.images:
            error = EmptyResponseError(
                "the server's batch result holds no image",
                request_id=result.batch_request_id,
            )
            return BatchResult(result.batch_request_id, error=error)
        images = tuple(wrap_images(data.image_response))
        return BatchResult(result.batch_request_id, images=images)  # type: ignore[arg-type]
    proto = data.completion_response
    try:
        check_reply(proto, what="batch result")
    except EmptyResponseError as exc:
        exc.request_id = result.batch_request_id
        return BatchResult(result.batch_request_id, error=exc)
    response = Response(proto, None if _agentic(proto) else 0)
    return BatchResult(result.batch_request_id, response=response)


def add_request_chunks(
    requests: Iterable[batch_pb2.BatchRequest],
    max_count: int,
    max_bytes: int = ADD_REQUESTS_MAX_BYTES,
) -> Iterator[list[batch_pb2.BatchRequest]]:
    """Group ``requests`` lazily into the ``batch_requests`` of successive AddBatchRequests
    calls: at most ``max_count`` each, and at most ``max_bytes`` once serialized.

    Raises:
        RequestValidationError: One request alone is larger than ``max_bytes``.
    """
    chunk: list[batch_pb2.BatchRequest] = []
    size = _ADD_ENVELOPE_BYTES
    for request in requests:
        # A repeated message field costs its tag, its length varint and the message.
        item = request.ByteSize()
        cost = 1 + _varint_len(item) + item
        if _ADD_ENVELOPE_BYTES + cost > max_bytes:
            raise RequestValidationError(
                f"batch request {request.batch_request_id!r} is {item} bytes, more than one "
                f"AddBatchRequests call may carry ({max_bytes})"
            )
        if chunk and (len(chunk) >= max_count or size + cost > max_bytes):
            yield chunk
            chunk, size = [], _ADD_ENVELOPE_BYTES
        chunk.append(request)
        size += cost
    if chunk:
        yield chunk


#: Room for the ``batch_id`` field of an ``AddBatchRequestsRequest`` (ids are short).
_ADD_ENVELOPE_BYTES = 256


def _varint_len(value: int) -> int:
    return max(1, (value.bit_length() + 6) // 7)


def _state(name: BatchRequestState) -> int:
    if name not in _STATES:
        raise RequestValidationError(
            f"batch request state must be one of {', '.join(_STATES)}; got {name!r}"
        )
    return _STATES[name]


def _status_code(number: int) -> grpc.StatusCode:
    for code in grpc.StatusCode:
        if code.value[0] == number:
            return code
    return grpc.StatusCode.UNKNOWN


def batch_request_proto(item: BatchItem | tuple[str, BatchItem]) -> batch_pb2.BatchRequest:
    """One ``BatchRequest`` from a Chat or request proto (or a ``BatchRequest``), with its
    optional id."""
    request_id, payload = item if isinstance(item, tuple) else (None, item)
    out = batch_pb2.BatchRequest()
    if request_id is not None:
        out.batch_request_id = request_id
    if isinstance(payload, batch_pb2.BatchRequest):
        out.CopyFrom(payload)
        if request_id is not None:
            out.batch_request_id = request_id
        return out
    if isinstance(payload, Chat):
        payload = payload.batch_request()
    if isinstance(payload, chat_pb2.GetCompletionsRequest):
        out.completion_request.CopyFrom(payload)
    elif isinstance(payload, image_pb2.GenerateImageRequest):
        out.image_request.CopyFrom(payload)
    else:
        raise RequestValidationError(
            f"a batch request must be a Chat or a request proto, not {type(payload).__name__}"
        )
    return out
