"""Chat responses, stream chunks and usage, as read-only wrappers over the protos.

A ``GetChatCompletionResponse`` may carry several outputs (``n > 1``); a
:class:`Response` is the view of one index of it. Streams are folded into a
response proto by :class:`StreamAccumulator`, so a streamed :class:`Response` is
built exactly like a unary one and compares equal to it (``to_dict()``).

``usage`` is the usage of the whole call: the responses of one ``sample_batch(n)``
share it, so add it up once per call, not once per response.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from google.protobuf import json_format

from xai_pipelines.proto import chat_pb2, sample_pb2, usage_pb2

__all__ = ["Chunk", "Response", "StreamAccumulator", "ToolCall", "Usage"]

FINISH_REASONS: dict[int, str | None] = {
    sample_pb2.REASON_INVALID: None,
    sample_pb2.REASON_MAX_LEN: "length",
    sample_pb2.REASON_MAX_CONTEXT: "max_context",
    sample_pb2.REASON_STOP: "stop",
    sample_pb2.REASON_TOOL_CALLS: "tool_calls",
    sample_pb2.REASON_TIME_LIMIT: "time_limit",
}


@dataclass(frozen=True)
class Usage:
    """Token counts and cost of one call.

    Attributes:
        prompt_tokens: Prompt tokens (text and image, cached included).
        completion_tokens: Generated answer tokens.
        reasoning_tokens: Tokens spent reasoning (billed as completion tokens).
        cached_prompt_tokens: Prompt tokens served from the cache.
        total_tokens: Total the server reports.
        cost_usd_ticks: Cost in ticks (1 USD = 10^10 ticks) when the server reports it.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cached_prompt_tokens: int = 0
    total_tokens: int = 0
    cost_usd_ticks: int | None = None

    @classmethod
    def from_proto(cls, usage: usage_pb2.SamplingUsage) -> Usage:
        """Read a ``SamplingUsage``."""
        return cls(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            cached_prompt_tokens=usage.cached_prompt_text_tokens,
            total_tokens=usage.total_tokens,
            cost_usd_ticks=usage.cost_in_usd_ticks if usage.HasField("cost_in_usd_ticks") else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)


@dataclass(frozen=True)
class ToolCall:
    """A function call the model asks for.

    Attributes:
        id: Call id, echoed back in the tool result (``tool_call_id``).
        name: Function name.
        arguments: Arguments as the JSON text the model produced.
        type: ``client_side_tool`` for functions, or the server-side tool kind.
    """

    id: str
    name: str
    arguments: str
    type: str = "client_side_tool"

    @classmethod
    def from_proto(cls, call: chat_pb2.ToolCall) -> ToolCall:
        """Read a ``ToolCall``."""
        kind = chat_pb2.ToolCallType.Name(call.type).removeprefix("TOOL_CALL_TYPE_").lower()
        return cls(call.id, call.function.name, call.function.arguments, kind)

    def parsed_arguments(self) -> Any:
        """The arguments decoded from JSON."""
        return json.loads(self.arguments or "{}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (the JSON request form of an assistant tool call)."""
        return {
            "id": self.id,
            "type": self.type,
            "function": {"name": self.name, "arguments": self.arguments},
        }


class Response:
    """One answer (one index) of a chat completion.

    Attributes:
        proto: The whole ``GetChatCompletionResponse``.
        index: Which output index this response is.
        attempts: Tries the call took (1 without retries).
        ttft_s: Seconds to the first chunk (streams only).
    """

    __slots__ = ("attempts", "index", "proto", "ttft_s")

    def __init__(
        self,
        proto: chat_pb2.GetChatCompletionResponse,
        index: int = 0,
        *,
        attempts: int = 1,
        ttft_s: float | None = None,
    ) -> None:
        self.proto = proto
        self.index = index
        self.attempts = attempts
        self.ttft_s = ttft_s

    @property
    def _outputs(self) -> list[chat_pb2.CompletionOutput]:
        # Computed on access: a streamed response is a live view of a growing proto.
        return [o for o in self.proto.outputs if o.index == self.index]

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
    def content(self) -> str:
        """Answer text."""
        return "".join(o.message.content for o in self._outputs)

    @property
    def reasoning_content(self) -> str:
        """Reasoning trace text (reasoning models only)."""
        return "".join(o.message.reasoning_content for o in self._outputs)

    @property
    def encrypted_content(self) -> str:
        """Encrypted reasoning (with ``use_encrypted_content``), passed back by ``append``."""
        return "".join(o.message.encrypted_content for o in self._outputs)

    @property
    def tool_calls(self) -> list[ToolCall]:
        """Tool calls the model made."""
        return [ToolCall.from_proto(c) for o in self._outputs for c in o.message.tool_calls]

    @property
    def finish_reason(self) -> str | None:
        """``stop``, ``length``, ``tool_calls``, ``max_context``, ``time_limit`` or None."""
        reasons = [o.finish_reason for o in self._outputs if o.finish_reason]
        return FINISH_REASONS.get(reasons[-1]) if reasons else None

    @property
    def citations(self) -> list[str]:
        """Source URLs the answer cites."""
        return list(self.proto.citations)

    @property
    def usage(self) -> Usage:
        """Usage of the whole call (shared by the responses of one batch)."""
        return Usage.from_proto(self.proto.usage)

    @property
    def logprobs(self) -> list[dict[str, Any]]:
        """Token log probabilities, when requested."""
        return [
            json_format.MessageToDict(lp, preserving_proto_field_name=True)
            for o in self._outputs
            for lp in o.logprobs.content
        ]

    def parse(self, schema: Any) -> Any:
        """Decode the content as JSON valid for ``schema`` (see :mod:`._structured`)."""
        from xai_pipelines.sdk._structured import parse_content

        return parse_content(self.content, schema)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record of the answer."""
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

    Attributes:
        proto: The ``GetChatCompletionChunk``.
        index: Output index this view shows, or None for every index (``stream_batch``).
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

    def _deltas(self) -> list[chat_pb2.CompletionOutputChunk]:
        return [o for o in self.proto.outputs if self.index is None or o.index == self.index]

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
    def finish_reason(self) -> str | None:
        """Finish reason, on the last chunk of an output."""
        reasons = [o.finish_reason for o in self._deltas() if o.finish_reason]
        return FINISH_REASONS.get(reasons[-1]) if reasons else None

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
        return Usage.from_proto(self.proto.usage) if self.proto.HasField("usage") else None

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
        if chunk.HasField("created"):
            acc.created.CopyFrom(chunk.created)
        if chunk.HasField("usage"):
            acc.usage.CopyFrom(chunk.usage)
        acc.citations.extend(c for c in chunk.citations if c not in acc.citations)
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
