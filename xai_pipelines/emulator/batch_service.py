"""The BatchMgmt gRPC service and the background worker that runs batch requests.

Requests run one at a time, in the order they were added, through the same
chat and image engines as online calls; a request the engines refuse gets a
``google.rpc.Status`` error result instead of a response.

A batch created with ``input_file_id`` reads its requests from that file of the
caller's, stored with the Files service (a JSONL batch input file, read by
:mod:`~xai_pipelines.emulator.batch_lines`): the lines that read run as added
requests, each unreadable line becomes a failed request whose error names the line,
and a ``custom_id`` repeated in the file refuses the whole file (INVALID_ARGUMENT),
as AddBatchRequests refuses a repeated ``batch_request_id``. Such a batch is sealed:
AddBatchRequests to it is FAILED_PRECONDITION (the SDK's ``create`` docstring says
the hosted API seals it; no public source reached states it).
"""

from __future__ import annotations

import asyncio
import queue
import threading

import grpc
from google.protobuf import empty_pb2

from xai_pipelines.emulator.auth import KeyPolicy
from xai_pipelines.emulator.batch_lines import read_lines
from xai_pipelines.emulator.batch_state import CHAT_ENDPOINT, IMAGE_ENDPOINT, BatchState
from xai_pipelines.emulator.chat_engine import ChatEngine
from xai_pipelines.emulator.errors import EmulatorError, answer, invalid
from xai_pipelines.emulator.files_store import FileStore
from xai_pipelines.emulator.image_engine import ImageEngine
from xai_pipelines.proto import batch_pb2, batch_pb2_grpc


class BatchWorker:
    """Runs queued batch requests on one background thread.

    Args:
        state: Where batches live.
        chat: Chat engine.
        images: Image engine.
        delay_s: Processing time per request.
    """

    def __init__(
        self, state: BatchState, chat: ChatEngine, images: ImageEngine, delay_s: float
    ) -> None:
        self.state = state
        self.chat = chat
        self.images = images
        self.delay_s = delay_s
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="emulator-batch", daemon=True)

    def start(self) -> None:
        """Start the worker thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the request in progress; queued requests stay pending."""
        self._stop.set()
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join()

    def submit(self, batch_id: str, request_ids: list[str]) -> None:
        """Queue requests of ``batch_id`` for processing."""
        for request_id in request_ids:
            self._queue.put((batch_id, request_id))

    def _run(self) -> None:
        while not self._stop.is_set():
            job = self._queue.get()
            if job is None or self._stop.is_set():
                return
            if self.delay_s and self._stop.wait(self.delay_s):
                return
            self._process(*job)

    def _process(self, batch_id: str, request_id: str) -> None:
        request = self.state.pending_request(batch_id, request_id)
        if request is None:
            return  # cancelled meanwhile
        try:
            if request.HasField("completion_request"):
                chat = self.chat.complete(request.completion_request)
                data = batch_pb2.BatchResultData(completion_response=chat)
                cost = chat.usage.cost_in_usd_ticks
            else:
                image = self.images.generate(request.image_request)
                data = batch_pb2.BatchResultData(image_response=image)
                cost = image.usage.cost_in_usd_ticks
        except EmulatorError as exc:
            self.state.finish(batch_id, request_id, None, exc, 0)
            return
        self.state.finish(batch_id, request_id, data, None, cost)


def _classify(
    request: batch_pb2.BatchRequest, index: int
) -> tuple[batch_pb2.BatchRequest, str, str]:
    kind = request.WhichOneof("request")
    if kind == "completion_request":
        return request, CHAT_ENDPOINT, request.completion_request.model
    if kind == "image_request":
        return request, IMAGE_ENDPOINT, request.image_request.model
    if kind is None:
        raise invalid(f"batch_requests[{index}] must set completion_request or image_request")
    raise invalid(f"batch_requests[{index}]: {kind} is not supported by the emulator")


class BatchService(batch_pb2_grpc.BatchMgmtServicer):
    """BatchMgmt: create, add, inspect, list, cancel and read results of batches."""

    def __init__(
        self, state: BatchState, worker: BatchWorker, files: FileStore | None = None
    ) -> None:
        self.state = state
        self.worker = worker
        self.files = files
        self._keys = KeyPolicy(None)

    def _key(self, context: grpc.aio.ServicerContext) -> str:
        key, _ = self._keys.check(context.invocation_metadata())
        return key or ""

    async def CreateBatch(
        self, request: batch_pb2.CreateBatchRequest, context: grpc.aio.ServicerContext
    ) -> batch_pb2.Batch:
        key = self._key(context)
        if not request.input_file_id:
            return await answer(context, lambda: self.state.create(request.name, key))
        # Reading a file of up to 50 MB takes seconds: off the event loop, which keeps
        # serving other calls meanwhile.
        try:
            return await asyncio.to_thread(
                self._from_file, request.name, request.input_file_id, key
            )
        except EmulatorError as exc:
            await context.abort(exc.code, exc.message)
            raise  # unreachable: abort raises

    def _from_file(self, name: str, file_id: str, key: str) -> batch_pb2.Batch:
        if self.files is None:
            raise EmulatorError(
                grpc.StatusCode.UNIMPLEMENTED, "this emulator has no Files service to read from"
            )
        data = self.files.get(key, file_id).data
        items: list[tuple[batch_pb2.BatchRequest, str, str]] = []
        failures: list[tuple[str, str]] = []
        seen: set[str] = set()
        for line in read_lines(data):
            if line.request_id in seen:
                raise invalid(f"file {file_id!r}: custom_id {line.request_id!r} is repeated")
            seen.add(line.request_id)
            if line.request is None:
                failures.append((line.request_id, f"file {file_id!r}, {line.error}"))
            else:
                items.append((line.request, line.endpoint, line.model))
        if not seen:
            raise invalid(f"file {file_id!r} holds no request lines")
        batch = self.state.create(name, key, input_file_id=file_id)
        if items:
            self.worker.submit(
                batch.batch_id, self.state.add(batch.batch_id, items, from_file=True)
            )
        if failures:
            self.state.add_invalid(batch.batch_id, failures)
        return self.state.get(batch.batch_id)

    async def AddBatchRequests(
        self, request: batch_pb2.AddBatchRequestsRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        def work() -> empty_pb2.Empty:
            if not request.batch_requests:
                raise invalid("batch_requests must not be empty")
            items = [_classify(r, i) for i, r in enumerate(request.batch_requests)]
            self.worker.submit(request.batch_id, self.state.add(request.batch_id, items))
            return empty_pb2.Empty()

        return await answer(context, work)

    async def GetBatch(
        self, request: batch_pb2.GetBatchRequest, context: grpc.aio.ServicerContext
    ) -> batch_pb2.Batch:
        return await answer(context, lambda: self.state.get(request.batch_id))

    async def ListBatches(
        self, request: batch_pb2.ListBatchesRequest, context: grpc.aio.ServicerContext
    ) -> batch_pb2.ListBatchesResponse:
        return await answer(
            context,
            lambda: self.state.list_batches(
                self._key(context), request.limit, request.pagination_token
            ),
        )

    async def CancelBatch(
        self, request: batch_pb2.CancelBatchRequest, context: grpc.aio.ServicerContext
    ) -> batch_pb2.Batch:
        return await answer(context, lambda: self.state.cancel(request.batch_id))

    async def ListBatchRequestMetadata(
        self, request: batch_pb2.ListBatchRequestMetadataRequest, context: grpc.aio.ServicerContext
    ) -> batch_pb2.ListBatchRequestMetadataResponse:
        return await answer(
            context,
            lambda: self.state.list_metadata(
                request.batch_id, request.limit, request.pagination_token, list(request.status)
            ),
        )

    async def ListBatchResults(
        self, request: batch_pb2.ListBatchResultsRequest, context: grpc.aio.ServicerContext
    ) -> batch_pb2.ListBatchResultsResponse:
        return await answer(
            context,
            lambda: self.state.list_results(
                request.batch_id, request.limit, request.pagination_token
            ),
        )

    async def GetBatchRequestResult(
        self, request: batch_pb2.GetBatchRequestResultRequest, context: grpc.aio.ServicerContext
    ) -> batch_pb2.GetBatchRequestResultResponse:
        return await answer(
            context, lambda: self.state.request_result(request.batch_id, request.batch_request_id)
        )
