"""Batches held by the emulator: requests, per-request state, results, pagination (thread-safe).

Built for batches of a million requests: a batch keeps its counts and costs up to
date as requests finish (``GetBatch`` does not walk the requests), its finished
results in an append-only list (a page of results is a slice of it, and a token
stays valid while requests finish), and request metadata pages scan forward from
their token.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import grpc

from xai_pipelines.emulator.errors import EmulatorError, invalid, not_found
from xai_pipelines.proto import batch_pb2
from xai_pipelines.proto._pool import Status, Timestamp

CHAT_ENDPOINT = "/v1/chat/completions"
IMAGE_ENDPOINT = "/v1/images/generations"
BATCH_LIFETIME_S = 24 * 3600
DEFAULT_PAGE = 100
MAX_PAGE = 1000

State = batch_pb2.BatchRequestMetadata
PENDING, SUCCEEDED, CANCELLED, FAILED = (
    State.STATE_PENDING,
    State.STATE_SUCCEEDED,
    State.STATE_CANCELLED,
    State.STATE_FAILED,
)


def _ts(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


@dataclass
class Item:
    """One request of a batch and what became of it."""

    request: batch_pb2.BatchRequest
    endpoint: str
    model: str
    created: float
    state: int = PENDING
    finished: float | None = None
    result: batch_pb2.BatchResult | None = None
    cost_ticks: int = 0


@dataclass
class Batch:
    """A batch and its items, in insertion order.

    Attributes:
        order: Request ids in insertion order (metadata pages index it).
        done: Request ids with a result, in the order they finished (result pages).
        counts: Requests per state.
        costs: Per endpoint: cost of its succeeded requests and their number.
    """

    batch_id: str
    name: str
    key_id: str
    created: float
    cancelled: float | None = None
    input_file_id: str | None = None
    items: dict[str, Item] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    counts: Counter[int] = field(default_factory=Counter)
    costs: dict[str, tuple[int, int]] = field(default_factory=dict)

    def move(self, item: Item, state: int) -> None:
        """Move ``item`` to ``state``, keeping the counts."""
        self.counts[item.state] -= 1
        self.counts[state] += 1
        item.state = state


def page(total: int, limit: int, token: str) -> tuple[int, int, str | None]:
    """Slice bounds for a page and the token of the next page.

    Raises:
        EmulatorError: INVALID_ARGUMENT for a bad token or negative limit.
    """
    if limit < 0:
        raise invalid(f"limit must be in [0, {MAX_PAGE}], got {limit}")
    size = min(limit or DEFAULT_PAGE, MAX_PAGE)
    try:
        start = int(token) if token else 0
    except ValueError:
        raise invalid("pagination_token is not a token this server issued") from None
    if start < 0:
        raise invalid("pagination_token is not a token this server issued")
    end = min(start + size, total)
    return start, end, str(end) if end < total else None


class BatchState:
    """All batches behind one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._batches: dict[str, Batch] = {}

    def create(self, name: str, key_id: str, input_file_id: str | None = None) -> batch_pb2.Batch:
        """A new, empty batch (``input_file_id``: the file its requests will be read from)."""
        batch = Batch(f"batch_{uuid.uuid4()}", name, key_id, time.time(), None, input_file_id)
        with self._lock:
            self._batches[batch.batch_id] = batch
            return self._proto(batch)

    def add_invalid(self, batch_id: str, failures: list[tuple[str, str]]) -> None:
        """Add requests that failed on arrival: ``(request_id, message)`` pairs, each a
        FAILED request with an INVALID_ARGUMENT result (a batch input file's unreadable
        lines). Ids must not be in the batch yet."""
        now = time.time()
        code = grpc.StatusCode.INVALID_ARGUMENT.value[0]
        with self._lock:
            batch = self._get(batch_id)
            for request_id, message in failures:
                stored = batch_pb2.BatchRequest(batch_request_id=request_id)
                item = Item(stored, "", "", now, state=FAILED, finished=now)
                item.result = batch_pb2.BatchResult(batch_request_id=request_id)
                item.result.error.CopyFrom(Status(code=code, message=message))
                batch.items[request_id] = item
                batch.order.append(request_id)
                batch.done.append(request_id)
                batch.counts[FAILED] += 1

    def _get(self, batch_id: str) -> Batch:
        batch = self._batches.get(batch_id)
        if batch is None:
            raise not_found(f"No batch with batch_id {batch_id!r}")
        return batch

    def get(self, batch_id: str) -> batch_pb2.Batch:
        """The batch ``batch_id`` with its current counts and cost."""
        with self._lock:
            return self._proto(self._get(batch_id))

    def add(
        self,
        batch_id: str,
        requests: list[tuple[batch_pb2.BatchRequest, str, str]],
        *,
        from_file: bool = False,
    ) -> list[str]:
        """Add ``(request, endpoint, model)`` triples; returns their request ids (for the worker).

        Raises:
            EmulatorError: NOT_FOUND for an unknown batch, FAILED_PRECONDITION when it was
                cancelled or was created from a file (unless ``from_file``: its own lines),
                INVALID_ARGUMENT for a repeated batch_request_id.
        """
        now = time.time()
        with self._lock:
            batch = self._get(batch_id)
            if batch.cancelled is not None:
                raise EmulatorError(
                    grpc.StatusCode.FAILED_PRECONDITION, f"batch {batch_id!r} was cancelled"
                )
            if batch.input_file_id is not None and not from_file:
                raise EmulatorError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"batch {batch_id!r} was created from file {batch.input_file_id!r}; "
                    "it takes no added requests",
                )
            ids = []
            for request, _, _ in requests:
                request_id = request.batch_request_id or f"req_{uuid.uuid4().hex[:16]}"
                if request_id in batch.items or request_id in ids:
                    raise invalid(
                        f"batch_request_id {request_id!r} is already in batch {batch_id!r}"
                    )
                ids.append(request_id)
            for request_id, (request, endpoint, model) in zip(ids, requests, strict=True):
                stored = batch_pb2.BatchRequest()
                stored.CopyFrom(request)
                stored.batch_request_id = request_id
                batch.items[request_id] = Item(stored, endpoint, model, now)
                batch.order.append(request_id)
            batch.counts[PENDING] += len(ids)
            return ids

    def cancel(self, batch_id: str) -> batch_pb2.Batch:
        """Cancel a batch: its pending requests become CANCELLED."""
        now = time.time()
        with self._lock:
            batch = self._get(batch_id)
            if batch.cancelled is None:
                batch.cancelled = now
                for item in batch.items.values():
                    if item.state == PENDING:
                        batch.move(item, CANCELLED)
                        item.finished = now
            return self._proto(batch)

    def pending_request(self, batch_id: str, request_id: str) -> batch_pb2.BatchRequest | None:
        """The request if it is still pending (the worker's check before running it)."""
        with self._lock:
            item = self._batches[batch_id].items[request_id]
            return item.request if item.state == PENDING else None

    def finish(
        self,
        batch_id: str,
        request_id: str,
        data: batch_pb2.BatchResultData | None,
        error: EmulatorError | None,
        cost_ticks: int,
    ) -> None:
        """Record the outcome of a request (ignored if it was cancelled meanwhile)."""
        with self._lock:
            batch = self._batches[batch_id]
            item = batch.items[request_id]
            if item.state != PENDING:
                return
            result = batch_pb2.BatchResult(batch_request_id=request_id)
            if error is not None:
                result.error.CopyFrom(Status(code=error.code.value[0], message=error.message))
                batch.move(item, FAILED)
            else:
                assert data is not None
                result.response.CopyFrom(data)
                batch.move(item, SUCCEEDED)
                item.cost_ticks = cost_ticks
                cost, count = batch.costs.get(item.endpoint, (0, 0))
                batch.costs[item.endpoint] = (cost + cost_ticks, count + 1)
            item.result, item.finished = result, time.time()
            batch.done.append(request_id)

    def list_batches(self, key_id: str, limit: int, token: str) -> batch_pb2.ListBatchesResponse:
        """The caller's batches, oldest first, one page."""
        with self._lock:
            mine = [b for b in self._batches.values() if b.key_id == key_id]
            start, end, next_token = page(len(mine), limit, token)
            out = batch_pb2.ListBatchesResponse(batches=[self._proto(b) for b in mine[start:end]])
        if next_token is not None:
            out.pagination_token = next_token
        return out

    def list_metadata(
        self, batch_id: str, limit: int, token: str, states: list[int]
    ) -> batch_pb2.ListBatchRequestMetadataResponse:
        """Metadata of a batch's requests (optionally only in ``states``), one page."""
        with self._lock:
            batch = self._get(batch_id)
            start, _, _ = page(len(batch.order), limit, token)
            size = min(limit or DEFAULT_PAGE, MAX_PAGE)
            found: list[Item] = []
            at = start
            while at < len(batch.order) and len(found) < size:
                item = batch.items[batch.order[at]]
                if not states or item.state in states:
                    found.append(item)
                at += 1
            out = batch_pb2.ListBatchRequestMetadataResponse(
                batch_request_metadata=[self._metadata(i) for i in found]
            )
            next_token = str(at) if at < len(batch.order) else None
        if next_token is not None:
            out.pagination_token = next_token
        return out

    def list_results(
        self, batch_id: str, limit: int, token: str
    ) -> batch_pb2.ListBatchResultsResponse:
        """Results of a batch's finished requests (succeeded or failed), one page."""
        with self._lock:
            batch = self._get(batch_id)
            start, end, next_token = page(len(batch.done), limit, token)
            out = batch_pb2.ListBatchResultsResponse(
                results=[
                    r for i in batch.done[start:end] if (r := batch.items[i].result) is not None
                ]
            )
        if next_token is not None:
            out.pagination_token = next_token
        return out

    def request_result(
        self, batch_id: str, request_id: str
    ) -> batch_pb2.GetBatchRequestResultResponse:
        """A request and (when finished) its result."""
        with self._lock:
            item = self._get(batch_id).items.get(request_id)
            if item is None:
                raise not_found(f"No request {request_id!r} in batch {batch_id!r}")
            out = batch_pb2.GetBatchRequestResultResponse(request=item.request)
            if item.result is not None:
                out.result.CopyFrom(item.result)
            return out

    @staticmethod
    def _metadata(item: Item) -> batch_pb2.BatchRequestMetadata:
        meta = batch_pb2.BatchRequestMetadata(
            batch_request_id=item.request.batch_request_id,
            endpoint=item.endpoint,
            model=item.model,
            state=item.state,  # type: ignore[arg-type]
            create_time=_ts(item.created),
        )
        if item.finished is not None:
            meta.finish_time.CopyFrom(_ts(item.finished))
        return meta

    @staticmethod
    def _proto(batch: Batch) -> batch_pb2.Batch:
        counts = batch.counts
        out = batch_pb2.Batch(
            batch_id=batch.batch_id,
            name=batch.name,
            create_time=_ts(batch.created),
            expire_time=_ts(batch.created + BATCH_LIFETIME_S),
            create_api_key_id=batch.key_id,
            state=batch_pb2.BatchState(
                num_requests=len(batch.items),
                num_pending=counts[PENDING],
                num_success=counts[SUCCEEDED],
                num_error=counts[FAILED],
                num_cancelled=counts[CANCELLED],
            ),
        )
        if batch.cancelled is not None:
            out.cancel_time.CopyFrom(_ts(batch.cancelled))
        if batch.input_file_id is not None:
            out.input_file_id = batch.input_file_id
        costs = batch.costs
        breakdown = out.cost_breakdown
        breakdown.total_cost_usd_ticks = sum(c for c, _ in costs.values())
        for endpoint, (cost, count) in costs.items():
            breakdown.endpoint_costs.add(
                endpoint=endpoint, cost_usd_ticks=cost, request_count=count
            )
        breakdown.calculation_time.CopyFrom(_ts(time.time()))
        return out
