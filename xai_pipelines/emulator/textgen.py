"""Deterministic text: the same seed gives the same words.

Every random choice the emulator makes for an answer comes from a
``random.Random`` seeded by :func:`answer_rng`, so the text is a pure function
of the request (model, messages, sampling parameters, seed) and the output
index, unless the request asks for randomness (temperature > 0 and no seed).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator

from xai_pipelines.emulator.conversation import digest
from xai_pipelines.emulator.tokenizer import count_tokens

_VOCABULARY = (
    "the model answer data signal context token value result system stream batch image "
    "pipeline request reply summary detail point reason example question topic field "
    "number list table record sample output input review report draft plan step goal "
    "measure window cache index shard route queue worker limit budget price cost time "
    "clear simple careful useful short brief exact stable steady quick gentle bright "
    "quiet fresh broad narrow early late local remote public private first final "
    "consider note check compare explain describe suggest show keep find build run "
    "test read write send hold move turn grow change follow choose count match "
    "and with from into over under about across after before within between"
)
_WORDS = tuple(_VOCABULARY.split())

_REASONING_OPENERS = (
    "Let me think about this.",
    "First, I restate the question.",
    "I consider what is being asked.",
)

#: Reasoning length multiplier per reasoning effort name.
EFFORT_SCALE = {"none": 0, "low": 1, "medium": 2, "high": 4, "xhigh": 6}


def answer_rng(key: bytes, index: int, seed: int | None, varies: bool) -> random.Random:
    """The generator for output ``index`` of the request digested as ``key``.

    Args:
        key: Digest of everything in the request that shapes the answer.
        index: Output index (n > 1 gives each index its own answer).
        seed: The request's seed, if any.
        varies: When true (temperature > 0 and no seed) fresh entropy is mixed in.
    """
    nonce = os.urandom(16) if varies else b""
    return random.Random(int.from_bytes(digest(key, index, seed, nonce)[:16], "big"))


def sentence(rng: random.Random, low: int = 6, high: int = 14) -> str:
    """One capitalised sentence of ``low``..``high`` words ending with a full stop."""
    return " ".join(rng.choices(_WORDS, k=rng.randint(low, high))).capitalize() + "."


def _answer_pieces(rng: random.Random) -> Iterator[str]:
    """The sentences of :func:`answer_text` in order, each after its separator."""
    for p in range(rng.randint(1, 2)):
        for s in range(rng.randint(2, 3)):
            separator = " " if s else "\n\n" if p else ""
            yield separator + sentence(rng)


def answer_text(rng: random.Random, max_tokens: int | None = None) -> str:
    """A plain answer: one or two paragraphs of two or three sentences.

    With ``max_tokens``, generation stops after the first sentence that takes the
    text past ``max_tokens`` tokens: the result is then a prefix of the whole
    answer whose first ``max_tokens`` tokens are the whole answer's (every piece
    ends with a full stop, so tokens never straddle a piece), so a ``max_tokens``
    cut of either is the same text.
    """
    pieces: list[str] = []
    tokens = 0
    for piece in _answer_pieces(rng):
        pieces.append(piece)
        if max_tokens is not None:
            tokens += count_tokens(piece)
            if tokens > max_tokens:
                break
    return "".join(pieces)


def reasoning_text(rng: random.Random, effort: str) -> str:
    """Reasoning whose length scales with ``effort`` (see :data:`EFFORT_SCALE`)."""
    scale = EFFORT_SCALE[effort]
    if scale == 0:
        return ""
    parts = [rng.choice(_REASONING_OPENERS)]
    parts.extend(sentence(rng, 8, 12) for _ in range(3 * scale))
    return " ".join(parts)


def short_phrase(rng: random.Random, low: int = 1, high: int = 4) -> str:
    """A few lowercase words (used for generated JSON strings)."""
    return " ".join(rng.choices(_WORDS, k=rng.randint(low, high)))
