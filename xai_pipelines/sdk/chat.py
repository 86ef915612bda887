"""Chat completions: ``client.chat.create(...)`` returns a :class:`Chat` conversation.

Example::

    chat = client.chat.create("grok-4.3", messages=[system("Be terse."), user("Hi")], seed=7)
    r = chat.sample()                       # unary
    for so_far, chunk in chat.stream():     # streamed; so_far is the Response being built
        print(chunk.content, end="")
    chat.append(r)                          # its turns (tool calls, reasoning, encrypted)
    answers = chat.sample_batch(4)          # one Response per index
    r = chat.defer(timeout=600)             # deferred: start, then poll with backoff
    chat.compact()                          # fold the history into encrypted context

``create`` accepts the JSON request form of docs/ARCHITECTURE.md, so the executor
calls ``client.chat.create(**job.request)``. Single calls (``sample``, ``stream``,
``defer``, ``parse``) send ``n=1`` and read every output of the reply as one answer,
so agentic (server-side tool) replies fold into one Response; the ``*_batch(n)``
calls send ``n`` and read one Response per index. A reply without outputs raises
:class:`~xai_pipelines.sdk.errors.EmptyResponseError`. Spans: ``chat.sample <model>``,
``chat.stream <model>``, ``chat.defer <model>``, ``chat.compact <model>``,
``chat.get_stored_completion``, ``chat.delete_stored_completion``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Self

from opentelemetry import context as otel_context
from opentelemetry import trace

from xai_pipelines.proto import chat_pb2, chat_pb2_grpc, deferred_pb2
from xai_pipelines.sdk import telemetry
from xai_pipelines.sdk._call import Caller, CallTracing
from xai_pipelines.sdk._chat_request import (
    CONVERSATION_ID_METADATA,
    apply_params,
    build_chat_request,
    check_conversation_id,
    request_params,
)
from xai_pipelines.sdk.errors import DeferredError, DeferredTimeoutError, RequestValidationError
from xai_pipelines.sdk.files import FileUploads
from xai_pipelines.sdk.messages import message_to_json, to_messages
from xai_pipelines.sdk.response import (
    Chunk,
    Response,
    StreamAccumulator,
    Usage,
    check_reply,
    usage_from_proto,
)

__all__ = ["Chat", "ChatClient", "CompactResult"]

_STUB = chat_pb2_grpc.ChatStub


@dataclass(frozen=True)
class CompactResult:
    """The answer of ``CompactContext``: the history folded into opaque encrypted context.

    Attributes:
        id: Id of the compaction.
        encrypted_content: The compacted history; a chat carries it on as a user
            message with this ``encrypted_content``.
        dropped_message_count: How many input messages the compaction dropped.
        usage: Tokens the compaction used.
    """

    id: str
    encrypted_content: str
    dropped_message_count: int
    usage: Usage

    @classmethod
    def from_proto(cls, proto: chat_pb2.CompactContextResponse) -> CompactResult:
        """Read a ``CompactContextResponse``."""
        return cls(
            proto.id,
            proto.encrypted_content,
            proto.dropped_message_count,
            usage_from_proto(proto.usage),
        )

    def message(self) -> chat_pb2.Message:
        """The message that stands for the compacted history (as the official SDK sends it)."""
        return chat_pb2.Message(role=chat_pb2.ROLE_USER, encrypted_content=self.encrypted_content)


def chat_metadata(conversation_id: str | None) -> tuple[tuple[str, str], ...]:
    """The per-call metadata of a chat: its ``x-grok-conv-id``, if any."""
    return ((CONVERSATION_ID_METADATA, conversation_id),) if conversation_id else ()


class ChatClient:
    """Entry point for chat completions (``client.chat``).

    Args:
        caller: The client's call wrapper.
        uploads: Uploads the local data of ``file()`` parts when a chat is sent;
            None leaves such data inline in the request.
    """

    def __init__(self, caller: Caller, uploads: FileUploads | None = None) -> None:
        self._caller = caller
        self._uploads = uploads

    def create(
        self,
        model: str,
        messages: Iterable[Any] | None = None,
        *,
        conversation_id: str | None = None,
        **params: Any,
    ) -> Chat:
        """Start a conversation.

        Args:
            model: Model name, e.g. ``grok-4.3``.
            messages: Initial messages: helper results, ``Message`` protos, JSON dicts
                or Responses.
            conversation_id: Groups this chat's calls for the prompt cache: sent as the
                ``x-grok-conv-id`` gRPC metadata on every call of the chat (docs.x.ai
                prompt caching, read 2026-11-29). Also the span attribute
                ``gen_ai.conversation.id``.
            **params: ``GetCompletionsRequest`` parameters in the JSON request form
                (``temperature``, ``max_tokens``, ``tools``, ``response_format`` ...).

        Raises:
            RequestValidationError: For a malformed message or parameter.
        """
        request = build_chat_request(model, messages or (), **params)
        return Chat(self._caller, request, conversation_id=conversation_id, uploads=self._uploads)

    def get_stored_completion(self, response_id: str) -> list[Response]:
        """Fetch a completion stored with ``store_messages=True``; one Response per index.

        Raises:
            EmptyResponseError: When the stored completion holds no output.
        """
        request = chat_pb2.GetStoredCompletionRequest(response_id=response_id)
        attrs = self._caller.attributes("chat", "", {})
        with self._caller.traced("chat.get_stored_completion", attrs) as span:
            proto, attempts = self._caller.unary(_STUB, "GetStoredCompletion", request)
            return fold_stored(span, proto, attempts)

    def delete_stored_completion(self, response_id: str) -> str:
        """Delete a stored completion; returns the deleted response id."""
        request = chat_pb2.DeleteStoredCompletionRequest(response_id=response_id)
        with self._caller.traced(
            "chat.delete_stored_completion", self._caller.attributes("chat", "", {})
        ):
            proto, _ = self._caller.unary(_STUB, "DeleteStoredCompletion", request)
            return str(proto.response_id)

    def compact_context(
        self, model: str, messages: Iterable[Any], *, conversation_id: str | None = None
    ) -> CompactResult:
        """Fold ``messages`` into compact encrypted context (the ``CompactContext`` RPC).

        Args:
            model: The model that will carry on the conversation.
            messages: The conversation so far, in any accepted message form.
            conversation_id: As for :meth:`create`.
        """
        request = build_chat_request(model, messages, conversation_id=conversation_id)
        return _compact(self._caller, model, list(request.messages), conversation_id)


def compact_request(model: str, messages: list[chat_pb2.Message]) -> chat_pb2.CompactContextRequest:
    """The ``CompactContext`` request for a conversation."""
    return chat_pb2.CompactContextRequest(model=model, input=messages)


def compact_attributes(
    tracing: CallTracing, model: str, conversation_id: str | None
) -> dict[str, Any]:
    """Span attributes of a ``chat.compact <model>`` call."""
    attrs = tracing.attributes("chat", model, {})
    if conversation_id:
        attrs["gen_ai.conversation.id"] = conversation_id
    return attrs


def fold_compact(
    span: trace.Span, proto: chat_pb2.CompactContextResponse, attempts: int
) -> CompactResult:
    """Read a ``CompactContext`` answer and record it on the call's span."""
    result = CompactResult.from_proto(proto)
    telemetry.set_attributes(
        span,
        {
            "xai.attempts": attempts,
            "xai.dropped_message_count": result.dropped_message_count,
            **telemetry.usage_attributes(result.usage),
        },
    )
    return result


def _compact(
    caller: Caller, model: str, messages: list[chat_pb2.Message], conversation_id: str | None
) -> CompactResult:
    request = compact_request(model, messages)
    attrs = compact_attributes(caller, model, conversation_id)
    with caller.traced(f"chat.compact {model}", attrs) as span:
        proto, attempts = caller.unary(
            _STUB, "CompactContext", request, metadata=chat_metadata(conversation_id)
        )
        return fold_compact(span, proto, attempts)


def fold_stored(
    span: trace.Span, proto: chat_pb2.GetChatCompletionResponse, attempts: int
) -> list[Response]:
    """A stored completion as one Response per index, recorded on the call's span."""
    check_reply(proto, what="stored completion")
    indices = sorted({o.index for o in proto.outputs})
    responses = [Response(proto, i, attempts=attempts) for i in indices]
    record_responses(span, responses, attempts)
    return responses


def record_responses(span: trace.Span, responses: list[Response], attempts: int) -> None:
    """Record the answers of a chat call on its span (model, ids, usage, contents)."""
    if not span.is_recording() or not responses:
        return
    first = responses[0]
    telemetry.set_attributes(
        span,
        {
            "gen_ai.response.model": first.model or None,
            "gen_ai.response.id": first.id or None,
            "gen_ai.response.finish_reasons": [r.finish_reason or "" for r in responses],
            "xai.attempts": attempts,
            "xai.ttft_s": first.ttft_s,
            **telemetry.usage_attributes(first.usage),
        },
    )
    telemetry.set_content(
        span,
        "gen_ai.output.messages",
        [{"role": "assistant", **_output_json(r)} for r in responses],
    )


def _output_json(response: Response) -> dict[str, Any]:
    out: dict[str, Any] = {"content": response.content}
    if response.tool_calls:
        out["tool_calls"] = [c.to_dict() for c in response.tool_calls]
    return out


class ChatBase:
    """What a conversation is without its calls: the request being built and its helpers.

    Shared by :class:`Chat` and ``sdk.aio``'s ``AsyncChat``, which add the calls.
    """

    def __init__(
        self,
        tracing: CallTracing,
        request: chat_pb2.GetCompletionsRequest,
        conversation_id: str | None,
    ) -> None:
        self._tracing = tracing
        self._request = request
        self._conversation_id = check_conversation_id(conversation_id)

    @property
    def request(self) -> chat_pb2.GetCompletionsRequest:
        """A copy of the request as built (calls set ``n``; batches send it as it is).

        Local ``file()`` data is still inline here; it is uploaded when a call sends it.
        """
        copy = chat_pb2.GetCompletionsRequest()
        copy.CopyFrom(self._request)
        return copy

    @property
    def model(self) -> str:
        """The model the conversation talks to."""
        return self._request.model

    @property
    def conversation_id(self) -> str | None:
        """The ``x-grok-conv-id`` this chat's calls carry, if any."""
        return self._conversation_id

    @property
    def messages(self) -> list[chat_pb2.Message]:
        """The conversation so far."""
        return list(self._request.messages)

    def append(self, message: Any) -> Self:
        """Add a message, a Response's turns, or a :class:`CompactResult`.

        A Response is replayed as the official SDK replays it: text, reasoning and
        encrypted content, tool calls, and for an agentic answer its server-side tool
        calls and tool outputs (see :func:`~xai_pipelines.sdk.messages.response_messages`).
        A CompactResult replaces the whole history with the compacted context.

        Returns:
            The chat itself, for chaining.
        """
        if isinstance(message, CompactResult):
            del self._request.messages[:]
            self._request.messages.append(message.message())
        else:
            self._request.messages.extend(to_messages(message))
        return self

    def _with_n(self, n: int) -> chat_pb2.GetCompletionsRequest:
        """A copy of the request with ``n`` set (local files as they are now)."""
        check_n(n)
        request = self.request
        request.n = n
        return request

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        return chat_metadata(self._conversation_id)

    def _attributes(self, request: chat_pb2.GetCompletionsRequest) -> dict[str, Any]:
        if not self._tracing.recording:  # no span will hold them
            return {}
        attrs = self._tracing.attributes("chat", request.model, request_params(request))
        if self._conversation_id:
            attrs["gen_ai.conversation.id"] = self._conversation_id
        return attrs

    def _input_content(self, span: trace.Span, request: chat_pb2.GetCompletionsRequest) -> None:
        if span.is_recording() and telemetry.content_enabled():
            messages = [message_to_json(m) for m in request.messages]
            telemetry.set_content(span, "gen_ai.input.messages", messages)

    def _start_stream_span(self, request: chat_pb2.GetCompletionsRequest) -> trace.Span:
        # The span's parent is the context of the stream() call, not of the first next().
        return self._tracing.start_span(
            f"chat.stream {request.model}", self._attributes(request), otel_context.get_current()
        )


def check_n(n: Any) -> None:
    """Refuse an ``n`` that is not a positive integer."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise RequestValidationError(f"n must be a positive integer, got {n!r}")


def parse_format(request: chat_pb2.GetCompletionsRequest, schema: Any) -> None:
    """Ask ``request`` for JSON matching ``schema`` (what ``parse`` sends)."""
    apply_params(request, {"response_format": _schema_format(schema)})


class StreamFold:
    """Folds the chunks of a streamed chat call into live Responses.

    Args:
        indices: None for a single answer (every output), else the requested indices.
    """

    def __init__(self, indices: list[int] | None) -> None:
        self._indices = indices
        self._views: list[int | None] = [None] if indices is None else list(indices)
        self._started = time.perf_counter()
        self._acc = StreamAccumulator()
        self._current = 0
        self.responses: list[Response] = []

    def add(
        self, attempt: int, proto: chat_pb2.GetChatCompletionChunk
    ) -> tuple[list[Response], Chunk]:
        """Fold one chunk of attempt ``attempt``; a new attempt starts over."""
        if attempt != self._current:  # first chunk of an attempt: start over
            ttft = time.perf_counter() - self._started
            self._acc, self._current = StreamAccumulator(), attempt
            self.responses = [
                Response(self._acc.proto, i, attempts=attempt, ttft_s=ttft) for i in self._views
            ]
        self._acc.add(proto)
        return self.responses, Chunk(proto, None, attempt)

    def finish(self, span: trace.Span) -> None:
        """Check the folded reply and record it on the stream's span.

        Raises:
            EmptyResponseError: When the stream carried no output.
        """
        check_reply(self._acc.proto, self._indices or (), what="stream")
        record_responses(span, self.responses, self.responses[0].attempts)


def deferred_answer(
    answer: chat_pb2.GetDeferredCompletionResponse,
    deferred_id: str,
    indices: list[int] | None,
    attempts: int,
) -> list[Response] | None:
    """The Responses of a finished deferred completion; None while it is pending.

    Raises:
        DeferredError: When it ended otherwise (expired, failed).
    """
    if answer.status == deferred_pb2.DONE:
        return _answers(answer.response, indices, attempts)
    if answer.status != deferred_pb2.PENDING:
        status = deferred_pb2.DeferredStatus.Name(answer.status)
        raise DeferredError(
            f"deferred completion {deferred_id} ended {status}", request_id=deferred_id
        )
    return None


def deferred_timeout(deferred_id: str, timeout: float) -> DeferredTimeoutError:
    """The error of a deferred completion still pending after ``timeout`` seconds."""
    return DeferredTimeoutError(
        f"deferred completion {deferred_id} still pending after {timeout:g}s",
        deferred_id=deferred_id,
    )


class Chat(ChatBase):
    """A conversation: the request being built plus the calls that send it.

    Not thread-safe: one conversation belongs to one thread at a time.
    """

    def __init__(
        self,
        caller: Caller,
        request: chat_pb2.GetCompletionsRequest,
        *,
        conversation_id: str | None = None,
        uploads: FileUploads | None = None,
    ) -> None:
        super().__init__(caller, request, conversation_id)
        self._caller = caller
        self._uploads = uploads

    def batch_request(self) -> chat_pb2.GetCompletionsRequest:
        """The request as a server-side batch carries it: local files uploaded, ``n`` as built."""
        if self._uploads is not None:
            self._uploads.resolve(self._request)
        return self.request

    def compact(self) -> CompactResult:
        """Fold the conversation into compact encrypted context and carry on from it.

        Sends every message to ``CompactContext``; the history is then replaced by one
        message holding the compacted context (as the official SDK does).
        """
        result = _compact(
            self._caller, self.model, list(self._request.messages), self._conversation_id
        )
        self.append(result)
        return result

    def sample(self, *, timeout: float | None = None) -> Response:
        """Get one answer (a unary ``GetCompletion`` with ``n=1``)."""
        return self._sample(self._outgoing(1), None, timeout)[0]

    def sample_batch(self, n: int, *, timeout: float | None = None) -> list[Response]:
        """Get ``n`` answers in one call; one Response per index."""
        return self._sample(self._outgoing(n), list(range(n)), timeout)

    def stream(self, *, timeout: float | None = None) -> Iterator[tuple[Response, Chunk]]:
        """Stream one answer.

        Yields:
            ``(response_so_far, chunk)``. ``response_so_far`` is a live view of the answer
            being built; after the last chunk it equals what ``sample()`` returns. When
            ``chunk.attempt`` grows, the stream broke and restarted: discard what you
            printed so far.

        Raises:
            EmptyResponseError: After the stream, when it carried no output.
        """
        stream = self._stream(self._outgoing(1), None, timeout)
        return ((responses[0], chunk) for responses, chunk in stream)

    def stream_batch(
        self, n: int, *, timeout: float | None = None
    ) -> Iterator[tuple[list[Response], Chunk]]:
        """Stream ``n`` answers at once; ``chunk.choices`` splits a chunk by index."""
        return self._stream(self._outgoing(n), list(range(n)), timeout)

    def defer(
        self, *, timeout: float = 600.0, interval: float = 0.1, max_interval: float = 10.0
    ) -> Response:
        """Start a deferred completion and poll until it is done.

        Args:
            timeout: Give up after this many seconds (:class:`DeferredTimeoutError`).
            interval: First polling interval; it doubles up to ``max_interval``.
            max_interval: Longest polling interval.
        """
        return self._defer(self._outgoing(1), None, timeout, interval, max_interval)[0]

    def defer_batch(
        self, n: int, *, timeout: float = 600.0, interval: float = 0.1, max_interval: float = 10.0
    ) -> list[Response]:
        """``defer()`` for ``n`` answers; one Response per index."""
        return self._defer(self._outgoing(n), list(range(n)), timeout, interval, max_interval)

    def parse(self, schema: Any, *, timeout: float | None = None) -> Any:
        """Ask for JSON matching ``schema`` and return it decoded and validated.

        Args:
            schema: A JSON schema dict, a dataclass type or a pydantic model class.

        Returns:
            The decoded JSON (schema dict) or an instance of the dataclass/model.
            For the Response too (usage, id), use ``chat.sample()`` on a chat created
            with ``response_format=schema`` and then ``response.parse(schema)``.

        Raises:
            StructuredOutputError: If the answer does not match the schema.
        """
        request = self._outgoing(1)
        parse_format(request, schema)
        return self._sample(request, None, timeout)[0].parse(schema)

    def _outgoing(self, n: int) -> chat_pb2.GetCompletionsRequest:
        """The request a call sends: local files uploaded, ``n`` set."""
        check_n(n)  # a bad n fails before any upload
        if self._uploads is not None:
            self._uploads.resolve(self._request)
        return self._with_n(n)

    def _sample(
        self,
        request: chat_pb2.GetCompletionsRequest,
        indices: list[int] | None,
        timeout: float | None,
    ) -> list[Response]:
        with self._caller.traced(f"chat.sample {request.model}", self._attributes(request)) as span:
            self._input_content(span, request)
            proto, attempts = self._caller.unary(
                _STUB, "GetCompletion", request, timeout=timeout, metadata=self._metadata()
            )
            responses = _answers(proto, indices, attempts)
            record_responses(span, responses, attempts)
            return responses

    def _stream(
        self,
        request: chat_pb2.GetCompletionsRequest,
        indices: list[int] | None,
        timeout: float | None,
    ) -> Iterator[tuple[list[Response], Chunk]]:
        span = self._start_stream_span(request)
        self._input_content(span, request)
        return self._stream_items(span, request, indices, timeout)

    def _stream_items(
        self,
        span: trace.Span,
        request: chat_pb2.GetCompletionsRequest,
        indices: list[int] | None,
        timeout: float | None,
    ) -> Iterator[tuple[list[Response], Chunk]]:
        fold = StreamFold(indices)
        stream = self._caller.stream(
            _STUB, "GetCompletionChunk", request, timeout=timeout, metadata=self._metadata()
        )
        try:
            for attempt, proto in stream:
                yield fold.add(attempt, proto)
            fold.finish(span)
        except Exception as exc:
            telemetry.record_error(span, exc)
            raise
        finally:
            stream.close()  # cancels the call and frees the channel lease if abandoned early
            span.end()

    def _defer(
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
            started, attempts = self._caller.unary(
                _STUB, "StartDeferredCompletion", request, metadata=metadata
            )
            poll = deferred_pb2.GetDeferredRequest(request_id=started.request_id)
            span.set_attribute("xai.deferred_id", started.request_id)
            delay = interval
            while True:
                answer, _ = self._caller.unary(
                    _STUB, "GetDeferredCompletion", poll, metadata=metadata
                )
                responses = deferred_answer(answer, started.request_id, indices, attempts)
                if responses is not None:
                    record_responses(span, responses, attempts)
                    return responses
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise deferred_timeout(started.request_id, timeout)
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, max_interval)


def _answers(
    proto: chat_pb2.GetChatCompletionResponse, indices: list[int] | None, attempts: int
) -> list[Response]:
    """One Response for a single call (every output), or one per requested index."""
    check_reply(proto, indices or ())
    views: list[int | None] = [None] if indices is None else list(indices)
    return [Response(proto, i, attempts=attempts) for i in views]


def _schema_format(schema: Any) -> dict[str, Any]:
    from xai_pipelines.sdk._structured import json_schema_for

    return {"type": "json_schema", "schema": json_schema_for(schema)}
