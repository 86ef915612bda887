"""Plain views of chat messages, prompt token counting and request digests."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from xai_pipelines.emulator.errors import invalid
from xai_pipelines.emulator.tokenizer import IMAGE_TOKENS, MESSAGE_OVERHEAD_TOKENS, count_tokens
from xai_pipelines.proto import chat_pb2


@dataclass(frozen=True)
class Turn:
    """One message reduced to what the emulator reasons about."""

    role: int
    text: str
    images: int
    tool_calls: tuple[tuple[str, str], ...]  # (name, arguments)


def to_turn(message: chat_pb2.Message) -> Turn:
    """Reduce a proto message to a :class:`Turn`."""
    texts = []
    images = 0
    for part in message.content:
        kind = part.WhichOneof("content")
        if kind == "text":
            texts.append(part.text)
        elif kind == "image_url":
            images += 1
    calls = tuple((tc.function.name, tc.function.arguments) for tc in message.tool_calls)
    return Turn(role=message.role, text="".join(texts), images=images, tool_calls=calls)


def last_user_text(turns: Iterable[Turn]) -> str:
    """Text of the last user message ('' when there is none)."""
    text = ""
    for turn in turns:
        if turn.role == chat_pb2.ROLE_USER:
            text = turn.text
    return text


@dataclass(frozen=True)
class PromptCount:
    """Prompt token counts of a conversation."""

    text_tokens: int
    image_tokens: int

    @property
    def total(self) -> int:
        """All prompt tokens."""
        return self.text_tokens + self.image_tokens


#: Text of an attached file (``Content.file``) as the prompt sees it.
FileText = Callable[[chat_pb2.FileContent], str]


def message_tokens(message: chat_pb2.Message, file_text: FileText | None = None) -> PromptCount:
    """Prompt tokens of one message by the rule stated in ``tokenizer``.

    Attached files count with the tokens of their text (``file_text``; without
    it they count nothing).
    """
    text_tokens = MESSAGE_OVERHEAD_TOKENS
    image_tokens = 0
    for part in message.content:
        kind = part.WhichOneof("content")
        if kind == "text":
            text_tokens += count_tokens(part.text)
        elif kind == "image_url":
            image_tokens += IMAGE_TOKENS
        elif kind == "file" and file_text is not None:
            text_tokens += count_tokens(file_text(part.file))
    if message.reasoning_content:
        text_tokens += count_tokens(message.reasoning_content)
    for call in message.tool_calls:
        text_tokens += count_tokens(call.function.name) + count_tokens(call.function.arguments)
    return PromptCount(text_tokens=text_tokens, image_tokens=image_tokens)


def count_prompt(
    messages: Iterable[chat_pb2.Message], file_text: FileText | None = None
) -> PromptCount:
    """Count the prompt tokens of a conversation (see :func:`message_tokens`)."""
    counts = [message_tokens(m, file_text) for m in messages]
    return PromptCount(
        text_tokens=sum(c.text_tokens for c in counts),
        image_tokens=sum(c.image_tokens for c in counts),
    )


def digest(*parts: object) -> bytes:
    """A stable 32-byte digest of the given values (protos rendered canonically)."""
    h = hashlib.sha256()
    for part in parts:
        if hasattr(part, "SerializeToString") and hasattr(part, "DESCRIPTOR"):
            h.update(part.SerializeToString(deterministic=True))  # type: ignore[attr-defined]
        else:
            h.update(repr(part).encode("utf-8"))
        h.update(b"\x00")
    return h.digest()


_COMPACT_PREFIX = "xai-emulator-compact:"


def encode_compacted(messages: Iterable[chat_pb2.Message]) -> str:
    """The opaque ``encrypted_content`` CompactContext returns for the kept ``messages``."""
    blob = chat_pb2.CompactContextRequest(input=list(messages)).SerializeToString()
    return _COMPACT_PREFIX + base64.urlsafe_b64encode(blob).decode("ascii")


def expand_compacted(messages: Iterable[chat_pb2.Message]) -> list[chat_pb2.Message]:
    """Replace each message carrying a compacted context by the messages it stands for.

    Raises:
        EmulatorError: INVALID_ARGUMENT when such a blob is corrupt.
    """
    out: list[chat_pb2.Message] = []
    for i, message in enumerate(messages):
        blob = message.encrypted_content
        if not blob.startswith(_COMPACT_PREFIX):
            out.append(message)
            continue
        try:
            raw = base64.urlsafe_b64decode(blob[len(_COMPACT_PREFIX) :].encode("ascii"))
            out.extend(chat_pb2.CompactContextRequest.FromString(raw).input)
        except (binascii.Error, ValueError, DecodeError):
            raise invalid(
                f"messages[{i}].encrypted_content is not a context this server compacted"
            ) from None
    return out
