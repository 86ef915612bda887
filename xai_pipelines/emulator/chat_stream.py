"""Split a complete chat response into the chunks of GetCompletionChunk.

Every delta carries its output's role (the assistant's, or ROLE_TOOL for a
server-side tool's output); reasoning and content arrive as deltas of
``TOKENS_PER_DELTA`` tokens, encrypted content and tool calls in one delta
each, and a final chunk carries each output's finish_reason, the usage, the
citations and the service tier. Concatenating the deltas gives the unary
answer exactly.

Outputs of ``n > 1`` stream side by side (one delta of each per chunk). An
agentic response streams its outputs one after the other, as the agent works:
a server-side tool call in one chunk, then its output (call and full result in
one ROLE_TOOL chunk, as xai-sdk 1.21.0 documents for image generation results),
then the final answer; inline citations come with the answer's last delta.
"""

from __future__ import annotations

from collections.abc import Iterator

from xai_pipelines.emulator.tokenizer import split_tokens
from xai_pipelines.proto import chat_pb2

TOKENS_PER_DELTA = 4

_Step = tuple[chat_pb2.Delta, list[chat_pb2.LogProb]]


def _pieces(text: str) -> list[str]:
    tokens = split_tokens(text)
    return [
        "".join(tokens[i : i + TOKENS_PER_DELTA]) for i in range(0, len(tokens), TOKENS_PER_DELTA)
    ]


def _deltas(output: chat_pb2.CompletionOutput) -> list[_Step]:
    message = output.message
    role = message.role or chat_pb2.ROLE_ASSISTANT
    if role == chat_pb2.ROLE_TOOL:
        delta = chat_pb2.Delta(role=role, content=message.content, tool_calls=message.tool_calls)
        return [(delta, [])]
    logprobs = list(output.logprobs.content)
    deltas: list[_Step] = []
    for piece in _pieces(message.reasoning_content):
        deltas.append((chat_pb2.Delta(role=role, reasoning_content=piece), []))
    if message.encrypted_content:
        deltas.append((chat_pb2.Delta(role=role, encrypted_content=message.encrypted_content), []))
    position = 0
    for piece in _pieces(message.content):
        count = len(split_tokens(piece))
        deltas.append(
            (chat_pb2.Delta(role=role, content=piece), logprobs[position : position + count])
        )
        position += count
    if message.tool_calls:
        deltas.append((chat_pb2.Delta(role=role, tool_calls=message.tool_calls), []))
    if message.citations:
        if not deltas:
            deltas.append((chat_pb2.Delta(role=role), []))
        deltas[-1][0].citations.extend(message.citations)
    return deltas


def _agentic(response: chat_pb2.GetChatCompletionResponse) -> bool:
    return any(o.message.role == chat_pb2.ROLE_TOOL for o in response.outputs)


def iter_chunks(
    response: chat_pb2.GetChatCompletionResponse,
) -> Iterator[chat_pb2.GetChatCompletionChunk]:
    """The chunks streaming ``response``, in order."""
    per_output = [_deltas(o) for o in response.outputs]

    def chunk() -> chat_pb2.GetChatCompletionChunk:
        return chat_pb2.GetChatCompletionChunk(
            id=response.id,
            created=response.created,
            model=response.model,
            system_fingerprint=response.system_fingerprint,
            service_tier=response.service_tier,
        )

    def add(current: chat_pb2.GetChatCompletionChunk, index: int, step: _Step) -> None:
        delta, logprobs = step
        entry = current.outputs.add(index=index, delta=delta)
        if logprobs:
            entry.logprobs.content.extend(logprobs)

    if _agentic(response):
        for output, deltas in zip(response.outputs, per_output, strict=True):
            for step in deltas:
                current = chunk()
                add(current, output.index, step)
                yield current
    else:
        steps = max((len(d) for d in per_output), default=0)
        for n in range(steps):
            current = chunk()
            for output, deltas in zip(response.outputs, per_output, strict=True):
                if n < len(deltas):
                    add(current, output.index, deltas[n])
            yield current
    last = chunk()
    for output in response.outputs:
        last.outputs.add(
            index=output.index,
            finish_reason=output.finish_reason,
            delta=chat_pb2.Delta(role=output.message.role or chat_pb2.ROLE_ASSISTANT),
        )
    last.usage.CopyFrom(response.usage)
    last.citations.extend(response.citations)
    yield last
