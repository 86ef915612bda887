"""Split a complete chat response into the chunks of GetCompletionChunk.

Every chunk's delta carries the assistant role (the first one necessarily so);
reasoning and content arrive as deltas of ``TOKENS_PER_DELTA`` tokens,
encrypted content and tool calls in one delta each, and a final chunk carries each output's finish_reason, the
usage and the citations. Concatenating the deltas gives the unary answer exactly.
"""

from __future__ import annotations

from collections.abc import Iterator

from xai_pipelines.emulator.tokenizer import split_tokens
from xai_pipelines.proto import chat_pb2

TOKENS_PER_DELTA = 4


def _pieces(text: str) -> list[str]:
    tokens = split_tokens(text)
    return [
        "".join(tokens[i : i + TOKENS_PER_DELTA]) for i in range(0, len(tokens), TOKENS_PER_DELTA)
    ]


def _deltas(
    output: chat_pb2.CompletionOutput,
) -> list[tuple[chat_pb2.Delta, list[chat_pb2.LogProb]]]:
    message = output.message
    logprobs = list(output.logprobs.content)
    deltas: list[tuple[chat_pb2.Delta, list[chat_pb2.LogProb]]] = []
    for piece in _pieces(message.reasoning_content):
        deltas.append((chat_pb2.Delta(role=chat_pb2.ROLE_ASSISTANT, reasoning_content=piece), []))
    if message.encrypted_content:
        delta = chat_pb2.Delta(
            role=chat_pb2.ROLE_ASSISTANT, encrypted_content=message.encrypted_content
        )
        deltas.append((delta, []))
    position = 0
    for piece in _pieces(message.content):
        count = len(split_tokens(piece))
        delta = chat_pb2.Delta(role=chat_pb2.ROLE_ASSISTANT, content=piece)
        deltas.append((delta, logprobs[position : position + count]))
        position += count
    if message.tool_calls:
        deltas.append(
            (chat_pb2.Delta(role=chat_pb2.ROLE_ASSISTANT, tool_calls=message.tool_calls), [])
        )
    return deltas


def iter_chunks(
    response: chat_pb2.GetChatCompletionResponse,
) -> Iterator[chat_pb2.GetChatCompletionChunk]:
    """The chunks streaming ``response``, in order."""
    per_output = [_deltas(o) for o in response.outputs]
    steps = max((len(d) for d in per_output), default=0)

    def chunk() -> chat_pb2.GetChatCompletionChunk:
        return chat_pb2.GetChatCompletionChunk(
            id=response.id,
            created=response.created,
            model=response.model,
            system_fingerprint=response.system_fingerprint,
        )

    for step in range(steps):
        current = chunk()
        for output, deltas in zip(response.outputs, per_output, strict=True):
            if step < len(deltas):
                delta, logprobs = deltas[step]
                entry = current.outputs.add(index=output.index, delta=delta)
                if logprobs:
                    entry.logprobs.content.extend(logprobs)
        yield current
    last = chunk()
    for output in response.outputs:
        last.outputs.add(
            index=output.index,
            finish_reason=output.finish_reason,
            delta=chat_pb2.Delta(role=chat_pb2.ROLE_ASSISTANT),
        )
    last.usage.CopyFrom(response.usage)
    last.citations.extend(response.citations)
    yield last
