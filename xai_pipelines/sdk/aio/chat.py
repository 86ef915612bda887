"""Chat completions, async: ``client.chat.create(...)`` returns an :class:`AsyncChat`.

Example::

    chat = client.chat.create("grok-4.3", messages=[user("Hi")], seed=7)
    r = await chat.sample()
    async for so_far, chunk in chat.stream():
        print(chunk.content, end="")
    chat.append(r)

Requests, Responses, chunks, spans and errors are those of :mod:`xai_pipelines.sdk.chat`
(one builder, one folding); only the calls are awaited. An ``AsyncChat`` belongs to one
task at a time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Iterable
from typing import Any

from opentelemetry import trace

from xai_pipelines.proto import chat_pb2, chat_pb2_grpc, deferred_pb2
from xai_pipelines.sdk import telemetry
from xai_pipelines.sdk._chat_request import build_chat_request
from xai_pipelines.sdk.aio._call import AsyncCaller
from xai_pipelines.sdk.aio.files import AsyncFileUploads
from xai_pipelines.sdk.chat import (
    ChatBase,
    CompactResult,
    StreamFold,
    _answers,
    chat_metadata,
    check_n,
    compact_attributes,
    compact_request,
    deferred_answer,
    deferred_timeout,
    fold_compact,
    fold_stored,
    parse_format,
    record_responses,
)
from xai_pipelines.sdk.response import Chunk, Response

__all__ = ["AsyncChat", "AsyncChatClient"]

_STUB = chat_pb2_grpc.ChatStub


class AsyncChatClient:
    """Entry point for chat completions (``client.chat`` of an ``AsyncClient``).

    Args:
        caller: The client's async call wrapper.
        uploads: Uploads the local data of ``file()`` parts when a chat is sent.
    """

    def __init__(self, caller: AsyncCaller, uploads: AsyncFileUploads | None = None) -> None:
        self._caller = caller
        self._uploads = uploads

    def create(
        self,
        model: str,
        messages: Iterable[Any] | None = None,
        *,
        conversation_id: str | None = None,
        **params: Any,
    ) -> AsyncChat:
        """Start a conversation (no call is made; see :meth:`ChatClient.create`)."""
        request = build_chat_request(model, messages or (), **params)
        return AsyncChat(
            self._caller, request, conversation_id=conversation_id, uploads=self._uploads
        )

    async def get_stored_completion(self, response_id: str) -> list[Response]:
        """Fetch a completion stored with ``store_messages=True``; one Response per index."""
        request = chat_pb2.GetStoredCompletionRequest(response_id=response_id)
        attrs = self._caller.attributes("chat", "", {})
        with self._caller.traced("chat.get_stored_completion", attrs) as span:
            proto, attempts = await self._caller.unary(_STUB, "GetStoredCompletion", request)
            return fold_stored(span, proto, attempts)

    async def delete_stored_completion(self, response_id: str) -> str:
        """Delete a stored completion; returns the deleted response id."""
        request = chat_pb2.DeleteStoredCompletionRequest(response_id=response_id)
        with self._caller.traced(
            "chat.delete_stored_completion", self._caller.attributes("chat", "", {})
        ):
            proto, _ = await self._caller.unary(_STUB, "DeleteStoredCompletion", request)
            return str(proto.response_id)

    async def compact_context(
        self, model: str, messages: Iterable[Any], *, conversation_id: str | None = None
    ) -> CompactResult:
        """Fold ``messages`` into compact encrypted context (the ``CompactContext`` RPC)."""
        request = build_chat_request(model, messages, conversation_id=conversation_id)
        return await _compact(self._caller, model, list(request.messages), conversation_id)


async def _compact(
    caller: AsyncCaller,
    model: str,
    messages: list[chat_pb2.Message],
    conversation_id: str | None,
) -> CompactResult:
    request = compact_request(model, messages)
    attrs = compact_attributes(caller, model, conversation_id)
    with caller.traced(f"chat.compact {model}", attrs) as span:
        proto, attempts = await caller.unary(
            _STUB, "CompactContext", request, metadata=chat_metadata(conversation_id)
        )
        return fold_compact(span, proto, attempts)


class AsyncChat(ChatBase):
    """A conversation whose calls are awaited (see :class:`~xai_pipelines.sdk.chat.Chat`)."""

    def __init__(
        self,
        caller: AsyncCaller,
        request: chat_pb2.GetCompletionsRequest,
        *,
        conversation_id: str | None = None,
        uploads: AsyncFileUploads | None = None,
    ) -> None:
        super().__init__(caller, request, conversation_id)
        self._caller = caller
        self._uploads = uploads

    async def batch_request(self) -> chat_pb2.GetCompletionsRequest:
        """The request as a server-side batch carries it: local files uploaded, ``n`` as built."""
        if self._uploads is not None:
            await self._uploads.resolve(self._request)
        return self.request

    async def compact(self) -> CompactResult:
        """Fold the conversation into compact encrypted context and carry on from it."""
        result = await _compact(
            self._caller, self.model, list(self._request.messages), self._conversation_id
        )
        self.append(result)
        return result

    async def sample(self, *, timeout: float | None = None) -> Response:
        """Get one answer (a unary ``GetCompletion`` with ``n=1``)."""
        return (await self._sample(await self._outgoing(1), None, timeout))[0]

    async def sample_batch(self, n: int, *, timeout: float | None = None) -> list[Response]:
        """Get ``n`` answers in one call; one Response per index."""
        return await self._sample(await self._outgoing(n), list(range(n)), timeout)

    def stream(self, *, timeout: float | None = None) -> AsyncIterator[tuple[Response, Chunk]]:
        """Stream one answer: ``async for response_so_far, chunk in chat.stream()``.

        As :meth:`Chat.stream`: when ``chunk.attempt`` grows, the stream restarted;
        the span is parented where ``stream()`` is called. Close the iterator
        (``aclose``) to stop early: that cancels the call.
        """
        return _single(self._stream(1, None, timeout))

    def stream_batch(
        self, n: int, *, timeout: float | None = None
    ) -> AsyncIterator[tuple[list[Response], Chunk]]:
        """Stream ``n`` answers at once; ``chunk.choices`` splits a chunk by index."""
        return self._stream(n, list(range(n)), timeout)

    async def defer(
        self, *, timeout: float = 600.0, interval: float = 0.1, max_interval: float = 10.0
    ) -> Response:
        """Start a deferred completion and poll until it is done (see :meth:`Chat.defer`)."""
        request = await self._outgoing(1)
        return (await self._defer(request, None, timeout, interval, max_interval))[0]

    async def defer_batch(
        self, n: int, *, timeout: float = 600.0, interval: float = 0.1, max_interval: float = 10.0
    ) -> list[Response]:
        """``defer()`` for ``n`` answers; one Response per index."""
        request = await self._outgoing(n)
        return await self._defer(request, list(range(n)), timeout, interval, max_interval)

    async def parse(self, schema: Any, *, timeout: float | None = None) -> Any:
        """Ask for JSON matching ``schema`` and return it decoded and validated."""
        request = await self._outgoing(1)
        parse_format(request, schema)
        return (await self._sample(request, None, timeout))[0].parse(schema)

    async def _outgoing(self, n: int) -> chat_pb2.GetCompletionsRequest:
        check_n(n)  # a bad n fails before any upload
        if self._uploads is not None:
            await self._uploads.resolve(self._request)
        return self._with_n(n)

    async def _sample(
        self,
        request: chat_pb2.GetCompletionsRequest,
        indices: list[int] | None,
        timeout: float | None,
    ) -> list[Response]:
        if not self._caller.recording:  # no span: nothing to name, gather or record
            proto, attempts = await self._call(request, timeout)
            return _answers(proto, indices, attempts)
        with self._caller.traced(f"chat.sample {request.model}", self._attributes(request)) as span:
            self._input_content(span, request)
            proto, attempts = await self._call(request, timeout)
            responses = _answers(proto, indices, attempts)
            record_responses(span, responses, attempts)
            return responses

    def _call(
        self, request: chat_pb2.GetCompletionsRequest, timeout: float | None
    ) -> Awaitable[tuple[chat_pb2.GetChatCompletionResponse, int]]:
        return self._caller.unary(
            _STUB, "GetCompletion", request, timeout=timeout, metadata=self._metadata()
        )

    def _stream(
        self, n: int, indices: list[int] | None, timeout: float | None
    ) -> AsyncGenerator[tuple[list[Response], Chunk], None]:
        check_n(n)
        span = self._start_stream_span(self._with_n(n))  # parented here, not at first next
        return self._stream_items(span, n, indices, timeout)

    async def _stream_items(
        self, span: trace.Span, n: int, indices: list[int] | None, timeout: float | None
    ) -> AsyncGenerator[tuple[list[Response], Chunk], None]:
        try:
            request = await self._outgoing(n)
            self._input_content(span, request)
            fold = StreamFold(indices)
            stream = self._caller.stream(
                _STUB, "GetCompletionChunk", request, timeout=timeout, metadata=self._metadata()
            )
            try:
                async for attempt, proto in stream:
                    yield fold.add(attempt, proto)
                fold.finish(span)
            finally:
                await stream.aclose()  # cancels the call if abandoned early
        except Exception as exc:
            telemetry.record_error(span, exc)
            raise
        finally:
            span.end()

    async def _defer(
        self,
        request: chat_pb2.GetCompletionsRequest,
        indices: list[int] | None,
        timeout: float,
        interval: float,
        max_interval: float,
    ) -> list[Response]:
        metadata = self._metadata()
        with self._caller.traced(f"chat.defer {request.model}", self._attributes(request)) as span:
            self._input_content(span, request)
            deadline = time.monotonic() + timeout
            started, attempts = await self._caller.unary(
                _STUB, "StartDeferredCompletion", request, metadata=metadata
            )
            poll = deferred_pb2.GetDeferredRequest(request_id=started.request_id)
            span.set_attribute("xai.deferred_id", started.request_id)
            delay = interval
            while True:
                answer, _ = await self._caller.unary(
                    _STUB, "GetDeferredCompletion", poll, metadata=metadata
                )
                responses = deferred_answer(answer, started.request_id, indices, attempts)
                if responses is not None:
                    record_responses(span, responses, attempts)
                    return responses
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise deferred_timeout(started.request_id, timeout)
                await asyncio.sleep(min(delay, remaining))
                delay = min(delay * 2, max_interval)


async def _single(
    items: AsyncGenerator[tuple[list[Response], Chunk], None],
) -> AsyncGenerator[tuple[Response, Chunk], None]:
    try:
        async for responses, chunk in items:
            yield responses[0], chunk
    finally:
        await items.aclose()
