"""Chat responses, stream chunks and usage, as read-only wrappers over the protos.

A reply (``GetChatCompletionResponse``) holds outputs, each with an index. Which
outputs make one answer depends on the call:

* ``sample()``, ``stream()``, ``defer()``, ``parse()`` send ``n=1``, so every output
  belongs to the one answer. With server-side tools there are several: assistant
  turns with the tool calls, ``ROLE_TOOL`` outputs with the tools' results, and the
  final answer. ``Response(proto, None)`` views them all (:attr:`Response.aggregated`).
* ``sample_batch(n)`` and its stream/defer twins: ``Response(proto, i)`` views the
  outputs of index ``i``.

Within its view, as the official SDK (xai-sdk 1.21.0) does: the final answer is the
last assistant output (content, reasoning, encrypted content, finish reason,
logprobs); ``tool_calls`` are those of every assistant output; ``tool_outputs`` and
``image_outputs`` come from the ``ROLE_TOOL`` outputs. Streams are folded into a
reply proto by :class:`StreamAccumulator`, so a streamed :class:`Response` is built
exactly like a unary one.

``usage`` is the usage of the whole call: the responses of one ``sample_batch(n)``
share it, so add it up once per call, not once per response.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, NamedTuple

from google.protobuf import json_format

from xai_pipelines.catalog import TICKS_PER_USD
from xai_pipelines.proto import chat_pb2, sample_pb2, usage_pb2
from xai_pipelines.records import Usage
from xai_pipelines.sdk.errors import EmptyResponseError
from xai_pipelines.sdk.outputs import (
    ImageOutput,
    InlineCitation,
    ToolCall,
    ToolOutput,
    server_side_tool_usage,
)

__all__ = [
    "TICKS_PER_USD",
    "Answer",
    "Chunk",
    "Response",
    "StreamAccumulator",
    "ToolCall",
    "Usage",
    "check_reply",
]

FINISH_REASONS: dict[int, str | None] = {
    sample_pb2.REASON_INVALID: None,
    sample_pb2.REASON_MAX_LEN: "length",
    sample_pb2.REASON_MAX_CONTEXT: "max_context",
    sample_pb2.REASON_STOP: "stop",
    sample_pb2.REASON_TOOL_CALLS: "tool_calls",
    sample_pb2.REASON_TIME_LIMIT: "time_limit",
}
# The official SDK reads an unspecified tier as the default one.
_SERVICE_TIERS = {usage_pb2.SERVICE_TIER_PRIORITY: "priority"}


def usage_from_proto(usage: usage_pb2.SamplingUsage) -> Usage:
    """The :class:`~xai_pipelines.records.Usage` of one call, read from its ``SamplingUsage``.

    The client returns the same record the output directory stores, so a call's
    usage is summed and written without a conversion.
    """
    return Usage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        cached_prompt_tokens=usage.cached_prompt_text_tokens,
        total_tokens=usage.total_tokens,
        cost_usd_ticks=usage.cost_in_usd_ticks if usage.HasField("cost_in_usd_ticks") else None,
    )


def _timestamp(message: Any, name: str) -> dt.datetime | None:
    return getattr(message, name).ToDatetime(dt.UTC) if message.HasField(name) else None


def check_reply(
    proto: chat_pb2.GetChatCompletionResponse, indices: Sequence[int] = (), *, what: str = "reply"
) -> None:
    """Refuse a reply that holds no output (or none for one of ``indices``).

    Raises:
        EmptyResponseError: Naming the reply and what is missing.
    """
    outputs = proto.outputs
    if outputs and not indices:
        return  # the common case, checked without building the message
    name = f"the server's {what} (id {proto.id!r}, model {proto.model!r})"
    if not outputs:
        raise EmptyResponseError(
            f"{name} holds no output: no content, no tool call and no finish reason"
        )
    missing = sorted(set(indices) - {o.index for o in outputs})
    if missing:
        shown = ", ".join(str(i) for i in missing)
        raise EmptyResponseError(f"{name} holds no output for index {shown} of n={len(indices)}")


def _output_index(output: chat_pb2.CompletionOutput) -> int:
    return output.index


class Answer(NamedTuple):
    """The final answer's fields of a :class:`Response`, read in one pass (see
    :meth:`Response.answer`); each is what the property of the same name gives."""

    content: str
    reasoning_content: str
    tool_calls: list[ToolCall]
    finish_reason: str | None


class Response:
    """One answer of a chat completion.

    Attributes:
        proto: The whole ``GetChatCompletionResponse``.
        attempts: Tries the call took (1 without retries).
        ttft_s: Seconds to the first chunk (streams only).
    """

    __slots__ = ("_index", "attempts", "proto", "ttft_s")

    def __init__(
        self,
        proto: chat_pb2.GetChatCompletionResponse,
        index: int | None = 0,
        *,
        attempts: int = 1,
        ttft_s: float | None = None,
    ) -> None:
        self.proto = proto
        self._index = index
        self.attempts = attempts
        self.ttft_s = ttft_s

    @property
    def index(self) -> int:
        """Which answer of the call this is (0 for single calls)."""
        return 0 if self._index is None else self._index

    @property
    def aggregated(self) -> bool:
        """True when this answer spans every output of the reply (single calls)."""
        return self._index is None

    @property
    def outputs(self) -> list[chat_pb2.CompletionOutput]:
        """The outputs this answer is made of, in index order.

        Computed on access: a streamed response is a live view of a growing proto.
        """
        outputs = self.proto.outputs
        if self._index is None:
            view = list(outputs)
        else:
            view = [o for o in outputs if o.index == self._index]
        if len(view) > 1:
            view.sort(key=_output_index)
        return view

    def _answers(self) -> list[chat_pb2.CompletionOutput]:
        return [o for o in self.outputs if o.message.role != chat_pb2.ROLE_TOOL]

    def _final(self) -> chat_pb2.CompletionOutput | None:
        answers = self._answers()
        return answers[-1] if answers else None

    def answer(self) -> Answer:
        """``content``, ``reasoning_content``, ``tool_calls`` and ``finish_reason`` at once.

        Each property walks the outputs again; a reader of all four (a result line's
        record of every answer) walks them once here.
        """
        answers = self._answers()
        if not answers:
            return Answer("", "", [], None)
        final = answers[-1]
        message = final.message
        return Answer(
            message.content,
            message.reasoning_content,
            [ToolCall.from_proto(c) for o in answers for c in o.message.tool_calls],
            FINISH_REASONS.get(final.finish_reason),
        )

    @property
    def id(self) -> str:
        """Response id (use it for stored completions and ``previous_response_id``)."""
        return self.proto.id

    @property
    def model(self) -> str:
        """Model that answered."""
        return self.proto.model

    @property
    def system_fingerprint(self) -> str:
        """Backend configuration fingerprint."""
        return self.proto.system_fingerprint

    @property
    def created(self) -> dt.datetime | None:
        """When the server created the reply (UTC), if it said."""
        return _timestamp(self.proto, "created")

    @property
    def service_tier(self) -> str:
        """The tier that served the call: ``priority`` or ``default``."""
        return _SERVICE_TIERS.get(self.proto.service_tier, "default")

    @property
    def content(self) -> str:
        """The final answer's text."""
        final = self._final()
        return final.message.content if final else ""

    @property
    def reasoning_content(self) -> str:
        """The final answer's reasoning trace (reasoning models only)."""
        final = self._final()
        return final.message.reasoning_content if final else ""

    @property
    def encrypted_content(self) -> str:
        """Encrypted reasoning (with ``use_encrypted_content``), passed back by ``append``."""
        final = self._final()
        return final.message.encrypted_content if final else ""

    @property
    def tool_calls(self) -> list[ToolCall]:
        """Every tool call of the answer: your functions and the tools the server ran."""
        return [ToolCall.from_proto(c) for o in self._answers() for c in o.message.tool_calls]

    @property
    def server_side_tool_calls(self) -> list[ToolCall]:
        """The tool calls the server ran itself (their results are in :attr:`tool_outputs`)."""
        return [c for c in self.tool_calls if c.server_side]

    @property
    def finish_reason(self) -> str | None:
        """``stop``, ``length``, ``tool_calls``, ``max_context``, ``time_limit`` or None."""
        final = self._final()
        return FINISH_REASONS.get(final.finish_reason) if final else None

    @property
    def tool_outputs(self) -> list[ToolOutput]:
        """What the server-side tools returned (``ROLE_TOOL`` outputs), in order."""
        return [
            ToolOutput(
                o.index,
                o.message.content,
                tuple(ToolCall.from_proto(c) for c in o.message.tool_calls),
            )
            for o in self.outputs
            if o.message.role == chat_pb2.ROLE_TOOL
        ]

    @property
    def image_outputs(self) -> list[ImageOutput]:
        """Images the ``image_generation`` tool made, one per completed call.

        Failed calls carry no image and are left out.

        Raises:
            InvalidResponseError: When a completed call's result envelope is malformed.
        """
        images = []
        for output in self.tool_outputs:
            done = [
                c
                for c in output.tool_calls
                if c.type == "image_generation" and c.status == "completed"
            ]
            if done:
                images.append(ImageOutput.from_tool_output(output, done[0]))
        return images

    @property
    def citations(self) -> list[str]:
        """Source URLs the answer cites."""
        return list(self.proto.citations)

    @property
    def inline_citations(self) -> list[InlineCitation]:
        """Where in the text each source is cited (with ``include=["inline_citations"]``)."""
        return [InlineCitation.from_proto(c) for o in self._answers() for c in o.message.citations]

    @property
    def usage(self) -> Usage:
        """Usage of the whole call (shared by the responses of one batch)."""
        return usage_from_proto(self.proto.usage)

    @property
    def server_side_tool_usage(self) -> dict[str, int]:
        """Calls per server-side tool the server billed, e.g. ``{"web_search": 2}``."""
        return server_side_tool_usage(self.proto.usage)

    @property
    def cost_usd(self) -> float | None:
        """The call's cost in USD (from ``cost_in_usd_ticks``), or None if not reported.

        With server-side tools the whole agentic loop is one call, so this covers it all.
        """
        ticks = self.usage.cost_usd_ticks
        return None if ticks is None else ticks / TICKS_PER_USD

    @property
    def logprobs(self) -> list[dict[str, Any]]:
        """Token log probabilities of the final answer, when requested."""
        final = self._final()
        if final is None:
            return []
        return [
            json_format.MessageToDict(lp, preserving_proto_field_name=True)
            for lp in final.logprobs.content
        ]

    def parse(self, schema: Any) -> Any:
        """Decode the content as JSON valid for ``schema`` (see :mod:`._structured`)."""
        from xai_pipelines.sdk._structured import parse_content

        return parse_content(self.content, schema)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record of the answer."""
        created = self.created
        return {
            "id": self.id,
            "model": self.model,
            "index": self.index,
            "content": self.content,
            "reasoning_content": self.reasoning_content,
            "tool_calls": [c.to_dict() for c in self.tool_calls],
            "finish_reason": self.finish_reason,
            "citations": self.citations,
            "usage": self.usage.to_dict(),
            "system_fingerprint": self.system_fingerprint,
            "created": created.isoformat() if created else None,
            "service_tier": self.service_tier,
            "cost_usd": self.cost_usd,
            "server_side_tool_usage": self.server_side_tool_usage,
            "inline_citations": [c.to_dict() for c in self.inline_citations],
            "tool_outputs": [o.to_dict() for o in self.tool_outputs],
            "image_outputs": [o.to_dict() for o in self.image_outputs],
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Response) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Response(id={self.id!r}, model={self.model!r}, index={self.index}, "
            f"finish_reason={self.finish_reason!r}, content={self.content[:60]!r})"
        )


class Chunk:
    """One streamed chunk, seen from one output index (or all when ``index`` is None).

    Text, reasoning, tool calls and the finish reason come from assistant deltas;
    what server-side tools returned is in :attr:`tool_outputs`.

    Attributes:
        proto: The ``GetChatCompletionChunk``.
        index: Output index this view shows, or None for every index (single-call
            streams, whose agentic outputs span several indices, and ``stream_batch``).
        attempt: Attempt that produced the chunk; when it grows, the stream restarted
            and everything received before is replaced.
    """

    __slots__ = ("attempt", "index", "proto")

    def __init__(
        self, proto: chat_pb2.GetChatCompletionChunk, index: int | None = 0, attempt: int = 1
    ) -> None:
        self.proto = proto
        self.index = index
        self.attempt = attempt

    def _parts(self) -> list[chat_pb2.CompletionOutputChunk]:
        return [o for o in self.proto.outputs if self.index is None or o.index == self.index]

    def _deltas(self) -> list[chat_pb2.CompletionOutputChunk]:
        return [o for o in self._parts() if o.delta.role != chat_pb2.ROLE_TOOL]

    @property
    def content(self) -> str:
        """Text added by this chunk."""
        return "".join(o.delta.content for o in self._deltas())

    @property
    def reasoning_content(self) -> str:
        """Reasoning text added by this chunk."""
        return "".join(o.delta.reasoning_content for o in self._deltas())

    @property
    def tool_calls(self) -> list[ToolCall]:
        """Tool calls completed in this chunk."""
        return [ToolCall.from_proto(c) for o in self._deltas() for c in o.delta.tool_calls]

    @property
    def tool_outputs(self) -> list[ToolOutput]:
        """Server-side tool results delivered in this chunk."""
        return [
            ToolOutput(
                o.index, o.delta.content, tuple(ToolCall.from_proto(c) for c in o.delta.tool_calls)
            )
            for o in self._parts()
            if o.delta.role == chat_pb2.ROLE_TOOL
        ]

    @property
    def finish_reason(self) -> str | None:
        """Finish reason, on the last chunk of an output."""
        reasons = [o.finish_reason for o in self._deltas() if o.finish_reason]
        return FINISH_REASONS.get(reasons[-1]) if reasons else None

    @property
    def citations(self) -> list[str]:
        """Source URLs this chunk carries (usually the last one)."""
        return list(self.proto.citations)

    @property
    def inline_citations(self) -> list[InlineCitation]:
        """Inline citations added by this chunk."""
        return [InlineCitation.from_proto(c) for o in self._deltas() for c in o.delta.citations]

    @property
    def choices(self) -> list[Chunk]:
        """One view per output index present in this chunk."""
        indices = sorted({o.index for o in self.proto.outputs})
        return [Chunk(self.proto, i, self.attempt) for i in indices]

    @property
    def id(self) -> str:
        """Response id."""
        return self.proto.id

    @property
    def model(self) -> str:
        """Model that answered."""
        return self.proto.model

    @property
    def usage(self) -> Usage | None:
        """Usage, when this chunk carries it."""
        return usage_from_proto(self.proto.usage) if self.proto.HasField("usage") else None

    def __repr__(self) -> str:
        return f"Chunk(index={self.index}, content={self.content!r}, attempt={self.attempt})"


class StreamAccumulator:
    """Folds stream chunks into the ``GetChatCompletionResponse`` a unary call returns."""

    def __init__(self) -> None:
        self.proto = chat_pb2.GetChatCompletionResponse()
        self._by_index: dict[int, chat_pb2.CompletionOutput] = {}

    def add(self, chunk: chat_pb2.GetChatCompletionChunk) -> None:
        """Merge one chunk."""
        acc = self.proto
        acc.id = chunk.id or acc.id
        acc.model = chunk.model or acc.model
        acc.system_fingerprint = chunk.system_fingerprint or acc.system_fingerprint
        acc.service_tier = chunk.service_tier or acc.service_tier
        if chunk.HasField("created"):
            acc.created.CopyFrom(chunk.created)
        if chunk.HasField("usage"):
            acc.usage.CopyFrom(chunk.usage)
        acc.citations.extend(c for c in chunk.citations if c not in acc.citations)
        acc.output_files.extend(chunk.output_files)
        for part in chunk.outputs:
            out = self._by_index.get(part.index)
            if out is None:
                out = acc.outputs.add(index=part.index)
                self._by_index[part.index] = out
            delta, msg = part.delta, out.message
            msg.content += delta.content
            msg.reasoning_content += delta.reasoning_content
            msg.encrypted_content += delta.encrypted_content
            msg.role = delta.role or msg.role
            msg.tool_calls.extend(delta.tool_calls)
            msg.citations.extend(delta.citations)
            out.logprobs.content.extend(part.logprobs.content)
            if part.finish_reason:
                out.finish_reason = part.finish_reason
