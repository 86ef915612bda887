"""The emulator's one tokenizer rule, shared by Tokenize and by usage counting.

Rule: a token is optional leading whitespace followed by either a run of one to
four word characters or a single other character; whitespace at the very end
of a text is one more token. Tokens concatenate back to the text exactly.

Prompt tokens of a chat request: the tokens of every text part of every message,
plus ``MESSAGE_OVERHEAD_TOKENS`` per message (role and framing), plus
``IMAGE_TOKENS`` per image part (counted as image tokens).
"""

from __future__ import annotations

import re
import zlib

_TOKEN = re.compile(r"\s*(?:\w{1,4}|[^\w\s])|\s+", re.UNICODE)

MESSAGE_OVERHEAD_TOKENS = 3
IMAGE_TOKENS = 256
VOCAB_SIZE = 131_072


def split_tokens(text: str) -> list[str]:
    """Split ``text`` into tokens; ``"".join(split_tokens(t)) == t``."""
    return _TOKEN.findall(text)


def count_tokens(text: str) -> int:
    """Number of tokens in ``text``."""
    return len(_TOKEN.findall(text))


def token_id(token: str) -> int:
    """A stable id for ``token`` in ``[0, VOCAB_SIZE)``."""
    return zlib.crc32(token.encode("utf-8")) % VOCAB_SIZE


def truncate_tokens(text: str, max_tokens: int) -> tuple[str, bool]:
    """The first ``max_tokens`` tokens of ``text`` and whether anything was cut."""
    tokens = split_tokens(text)
    if len(tokens) <= max_tokens:
        return text, False
    return "".join(tokens[:max_tokens]), True
