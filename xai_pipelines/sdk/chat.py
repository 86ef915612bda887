"""Chat completions: ``client.chat.create(...)`` returns a :class:`Chat` conversation.

Example::

    chat = client.chat.create("grok-4", messages=[system("Be terse."), user("Hi")], seed=7)
    r = chat.sample()                       # unary
    for so_far, chunk in chat.stream():     # streamed; so_far is the Response being built
        print(chunk.content, end="")
    chat.append(r)                          # the assistant turn (tool calls included)
    answers = chat.sample_batch(4)          # one Response per index
    r = chat.defer(timeout=600)             # deferred: start, then poll with backoff

``create`` accepts the JSON request form of docs/ARCHITECTURE.md, so the executor
calls ``client.chat.create(**job.request)``. Spans: ``chat.sample <model>``,
``chat.stream <model>``, ``chat.defer <model>``, ``chat.get_stored <model>``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from xai_pipelines.proto import chat_pb2, chat_pb2_grpc, deferred_pb2
from xai_pipelines.sdk import telemetry
from xai_pipelines.sdk._call import Caller
from xai_pipelines.sdk._chat_request import apply_params, build_chat_request, request_params
from xai_pipelines.sdk.errors import DeferredError, DeferredTimeoutError, RequestValidationError
from xai_pipelines.sdk.messages import message_to_json, to_message
from xai_pipelines.sdk.response import Chunk, Response, StreamAccumulator

__all__ = ["Chat", "ChatClient"]

_STUB = chat_pb2_grpc.ChatStub


class ChatClient:
    """Entry point for chat completions (``client.chat``)."""

    def __init__(self, caller: Caller) -> None:
        self._caller = caller

    def create(self, model: str, messages: Iterable[Any] | None = None, **params: Any) -> Chat:
        """Start a conversation.

        Args:
            model: Model name, e.g. ``grok-4``.
            messages: Initial messages: helper results, ``Message`` protos or JSON dicts.
            **params: ``GetCompletionsRequest`` parameters in the JSON request form
                (``temperature``, ``max_tokens``, ``tools``, ``response_format`` ...).

        Raises:
            RequestValidationError: For a malformed message or parameter.
        """
        return Chat(self._caller, build_chat_request(model, messages or (), **params))

    def get_stored_completion(self, response_id: str) -> list[Response]:
        """Fetch a completion stored with ``store_messages=True``; one Response per index."""
        request = chat_pb2.GetStoredCompletionRequest(response_id=response_id)
        attrs = self._caller.attributes("chat", "", {})
        with self._caller.traced("chat.get_stored_completion", attrs) as span:
            proto, attempts = self._caller.unary(_STUB, "GetStoredCompletion", request)
            responses = [Response(proto, i, attempts=attempts) for i in _indices(proto)]
            _record_responses(span, responses, attempts)
            return responses

    def delete_stored_completion(self, response_id: str) -> str:
        """Delete a stored completion; returns the deleted response id."""
        request = chat_pb2.DeleteStoredCompletionRequest(response_id=response_id)
        with self._caller.traced(
            "chat.delete_stored_completion", self._caller.attributes("chat", "", {})
        ):
            proto, _ = self._caller.unary(_STUB, "DeleteStoredCompletion", request)
            return str(proto.response_id)


def _indices(proto: chat_pb2.GetChatCompletionResponse) -> list[int]:
    return sorted({o.index for o in proto.outputs}) or [0]


def _record_responses(span: trace.Span, responses: list[Response], attempts: int) -> None:
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


class Chat:
    """A conversation: the request being built plus the calls that send it.

    Not thread-safe: one conversation belongs to one thread at a time.
    """

    def __init__(self, caller: Caller, request: chat_pb2.GetCompletionsRequest) -> None:
        self._caller = caller
        self._request = request

    @property
    def request(self) -> chat_pb2.GetCompletionsRequest:
        """A copy of the request the next call would send."""
        copy = chat_pb2.GetCompletionsRequest()
        copy.CopyFrom(self._request)
        return copy

    @property
    def model(self) -> str:
        """The model the conversation talks to."""
        return self._request.model

    @property
    def messages(self) -> list[chat_pb2.Message]:
        """The conversation so far."""
        return list(self._request.messages)

    def append(self, message: Any) -> Chat:
        """Add a message, or a Response's assistant turn (tool calls, encrypted content).

        Returns:
            The chat itself, for chaining.
        """
        self._request.messages.append(to_message(message))
        return self

    def sample(self, *, timeout: float | None = None) -> Response:
        """Get one answer (a unary ``GetCompletion``)."""
        return self._sample(self._request, [0], timeout)[0]

    def sample_batch(self, n: int, *, timeout: float | None = None) -> list[Response]:
        """Get ``n`` answers in one call; one Response per index."""
        return self._sample(self._with_n(n), list(range(n)), timeout)

    def stream(self, *, timeout: float | None = None) -> Iterator[tuple[Response, Chunk]]:
        """Stream one answer.

        Yields:
            ``(response_so_far, chunk)``. ``response_so_far`` is a live view of the answer
            being built; after the last chunk it equals what ``sample()`` returns. When
            ``chunk.attempt`` grows, the stream broke and restarted: discard what you
            printed so far.
        """
        stream = self._stream(self._request, [0], timeout)
        return ((responses[0], chunk) for responses, chunk in stream)

    def stream_batch(
        self, n: int, *, timeout: float | None = None
    ) -> Iterator[tuple[list[Response], Chunk]]:
        """Stream ``n`` answers at once; ``chunk.choices`` splits a chunk by index."""
        return self._stream(self._with_n(n), list(range(n)), timeout)

    def defer(
        self, *, timeout: float = 600.0, interval: float = 0.1, max_interval: float = 10.0
    ) -> Response:
        """Start a deferred completion and poll until it is done.

        Args:
            timeout: Give up after this many seconds (:class:`DeferredTimeoutError`).
            interval: First polling interval; it doubles up to ``max_interval``.
            max_interval: Longest polling interval.
        """
        return self._defer(self._request, [0], timeout, interval, max_interval)[0]

    def defer_batch(
        self, n: int, *, timeout: float = 600.0, interval: float = 0.1, max_interval: float = 10.0
    ) -> list[Response]:
        """``defer()`` for ``n`` answers; one Response per index."""
        return self._defer(self._with_n(n), list(range(n)), timeout, interval, max_interval)

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
        request = self.request
        apply_params(request, {"response_format": _schema_format(schema)})
        return self._sample(request, [0], timeout)[0].parse(schema)

    def _with_n(self, n: int) -> chat_pb2.GetCompletionsRequest:
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise RequestValidationError(f"n must be a positive integer, got {n!r}")
        request = self.request
        request.n = n
        return request

    def _attributes(self, request: chat_pb2.GetCompletionsRequest) -> dict[str, Any]:
        return self._caller.attributes("chat", request.model, request_params(request))

    def _input_content(self, span: trace.Span, request: chat_pb2.GetCompletionsRequest) -> None:
        if span.is_recording() and telemetry.content_enabled():
            messages = [message_to_json(m) for m in request.messages]
            telemetry.set_content(span, "gen_ai.input.messages", messages)

    def _sample(
        self, request: chat_pb2.GetCompletionsRequest, indices: list[int], timeout: float | None
    ) -> list[Response]:
        with self._caller.traced(f"chat.sample {request.model}", self._attributes(request)) as span:
            self._input_content(span, request)
            proto, attempts = self._caller.unary(_STUB, "GetCompletion", request, timeout=timeout)
            responses = [Response(proto, i, attempts=attempts) for i in indices]
            _record_responses(span, responses, attempts)
            return responses

    def _stream(
        self, request: chat_pb2.GetCompletionsRequest, indices: list[int], timeout: float | None
    ) -> Iterator[tuple[list[Response], Chunk]]:
        # The span's parent is the context of this call, not of the first next().
        span = self._caller.start_span(
            f"chat.stream {request.model}", self._attributes(request), otel_context.get_current()
        )
        self._input_content(span, request)
        return self._stream_items(span, request, indices, timeout)

    def _stream_items(
        self,
        span: trace.Span,
        request: chat_pb2.GetCompletionsRequest,
        indices: list[int],
        timeout: float | None,
    ) -> Iterator[tuple[list[Response], Chunk]]:
        started = time.perf_counter()
        acc, current, responses = StreamAccumulator(), 0, []
        chunk_index = 0 if indices == [0] else None
        stream = self._caller.stream(_STUB, "GetCompletionChunk", request, timeout=timeout)
        try:
            for attempt, proto in stream:
                if attempt != current:  # first chunk of an attempt: start over
                    ttft = time.perf_counter() - started
                    acc, current = StreamAccumulator(), attempt
                    responses = [
                        Response(acc.proto, i, attempts=attempt, ttft_s=ttft) for i in indices
                    ]
                acc.add(proto)
                yield responses, Chunk(proto, chunk_index, attempt)
            if not responses:  # a stream without chunks still answers
                responses = [Response(acc.proto, i, attempts=max(current, 1)) for i in indices]
            _record_responses(span, responses, responses[0].attempts)
        except Exception as exc:
            telemetry.record_error(span, exc)
            raise
        finally:
            stream.close()  # cancels the call and frees the channel lease if abandoned early
            span.end()

    def _defer(
        self,
        request: chat_pb2.GetCompletionsRequest,
        indices: list[int],
        timeout: float,
        interval: float,
        max_interval: float,
    ) -> list[Response]:
        with self._caller.traced(f"chat.defer {request.model}", self._attributes(request)) as span:
            self._input_content(span, request)
            deadline = time.monotonic() + timeout
            started, attempts = self._caller.unary(_STUB, "StartDeferredCompletion", request)
            poll = deferred_pb2.GetDeferredRequest(request_id=started.request_id)
            span.set_attribute("xai.deferred_id", started.request_id)
            delay = interval
            while True:
                answer, _ = self._caller.unary(_STUB, "GetDeferredCompletion", poll)
                if answer.status == deferred_pb2.DONE:
                    responses = [Response(answer.response, i, attempts=attempts) for i in indices]
                    _record_responses(span, responses, attempts)
                    return responses
                if answer.status != deferred_pb2.PENDING:
                    status = deferred_pb2.DeferredStatus.Name(answer.status)
                    raise DeferredError(
                        f"deferred completion {started.request_id} ended {status}",
                        request_id=started.request_id,
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DeferredTimeoutError(
                        f"deferred completion {started.request_id} still pending after "
                        f"{timeout:g}s",
                        deferred_id=started.request_id,
                    )
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, max_interval)


def _schema_format(schema: Any) -> dict[str, Any]:
    from xai_pipelines.sdk._structured import json_schema_for

    return {"type": "json_schema", "schema": json_schema_for(schema)}
