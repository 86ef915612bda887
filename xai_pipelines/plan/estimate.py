"""Dry-run estimates: prompt tokens, completion bounds and a cost range for a plan.

Token heuristic (no network): ``ceil(characters / 4)`` for every text in the
request, plus 4 tokens per message, plus 256 tokens per image part. A multi-turn
chat makes ``1 + len(turns)`` calls, each resending the conversation so far.
When a tokenizer is at hand (the Tokenize RPC), :func:`tokenizer_ratio` measures
real/heuristic tokens on a few jobs and the plan's prompt tokens are scaled by it.

Cost range (prices in ticks per token and ticks per image, 1 USD = 10^10 ticks,
see docs/ARCHITECTURE.md "Prices and cost"):

* minimum: prompt tokens only (every reply empty);
* maximum: plus ``max_tokens × n`` completion tokens per call, and those replies
  resent as prompt in later turns. Without ``max_tokens`` the maximum is unbounded.

Image jobs cost ``n × image_price`` either way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from xai_pipelines.plan.jobs import ChatJob, Job

TICKS_PER_USD = 10_000_000_000
TOKENS_PER_MESSAGE = 4
TOKENS_PER_IMAGE_PART = 256


@dataclass(frozen=True, slots=True)
class ChatPrice:
    """A language model's prices, in ticks per token."""

    prompt: int
    completion: int
    cached: int = 0


@dataclass(frozen=True)
class Prices:
    """Prices by model name (aliases included)."""

    chat: Mapping[str, ChatPrice] = field(default_factory=dict)
    image: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_models(cls, language: Iterable[Any], image: Iterable[Any]) -> Prices:
        """From the SDK's ``LanguageModelInfo`` / ``ImageModelInfo`` lists (names and aliases)."""
        chat: dict[str, ChatPrice] = {}
        for m in language:
            price = ChatPrice(
                m.prompt_text_token_price,
                m.completion_text_token_price,
                m.cached_prompt_token_price,
            )
            for name in (m.name, *m.aliases):
                chat[name] = price
        images: dict[str, int] = {}
        for m in image:
            for name in (m.name, *m.aliases):
                images[name] = m.image_price
        return cls(chat, images)


def text_tokens(text: str) -> int:
    """Estimated tokens of a text: ``ceil(len / 4)``."""
    return math.ceil(len(text) / 4)


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a message in JSON request form (text parts joined by newlines)."""
    content = message.get("content", "")
    if isinstance(content, str):
        return content
    return "\n".join(str(p.get("text", "")) for p in content if p.get("type") == "text")


def tokenizer_ratio(jobs: Iterable[Job], count_tokens: Callable[[str, str], int]) -> float | None:
    """Real tokens / heuristic tokens over the message text of some chat jobs.

    ``count_tokens(text, model)`` is typically the Tokenize RPC
    (``client.tokenize.count_tokens``); the ratio scales the heuristic for the plan.
    """
    heuristic = actual = 0
    for job in jobs:
        if not isinstance(job, ChatJob):
            continue
        text = "\n".join(message_text(m) for m in (*job.request["messages"], *job.turns))
        if text:
            heuristic += text_tokens(text)
            actual += count_tokens(text, job.model)
    return actual / heuristic if heuristic else None


def message_tokens(message: Mapping[str, Any]) -> int:
    """Estimated prompt tokens of one message in JSON request form."""
    content = message.get("content", "")
    tokens = TOKENS_PER_MESSAGE
    if isinstance(content, str):
        return tokens + text_tokens(content)
    for part in content:
        if part.get("type") == "text":
            tokens += text_tokens(part.get("text", ""))
        elif part.get("type") == "image_url":
            tokens += TOKENS_PER_IMAGE_PART
    return tokens


@dataclass(frozen=True, slots=True)
class JobTokens:
    """Token bounds of one job (all calls of a multi-turn chat together)."""

    calls: int
    prompt_min: int
    prompt_max: int
    completion_max: int | None


def job_tokens(job: ChatJob) -> JobTokens:
    """Prompt tokens (min: replies empty; max: replies at max_tokens) and the completion bound."""
    request = job.request
    outputs = int(request.get("n") or 1)
    max_tokens = request.get("max_tokens")
    conversation = sum(message_tokens(m) for m in request["messages"])
    prompt_min = prompt_max = conversation
    for k, turn in enumerate(job.turns, 1):
        conversation += message_tokens(turn)
        prompt_min += conversation
        reply = (max_tokens or 0) + TOKENS_PER_MESSAGE
        prompt_max += conversation + k * reply
    calls = 1 + len(job.turns)
    completion = None if max_tokens is None else int(max_tokens) * outputs * calls
    return JobTokens(calls, prompt_min, prompt_max, completion)


@dataclass
class ModelTotals:
    """Totals for one model."""

    kind: str
    jobs: int = 0
    calls: int = 0
    prompt_tokens: int = 0
    prompt_tokens_max: int = 0
    completion_tokens_max: int | None = 0
    images: int = 0


@dataclass
class Estimate:
    """Plan totals and cost range; feed jobs with :meth:`add`."""

    models: dict[str, ModelTotals] = field(default_factory=dict)

    def add(self, job: Job) -> None:
        """Count one job."""
        totals = self.models.setdefault(job.model, ModelTotals(job.kind))
        totals.jobs += 1
        if isinstance(job, ChatJob):
            t = job_tokens(job)
            totals.calls += t.calls
            totals.prompt_tokens += t.prompt_min
            totals.prompt_tokens_max += t.prompt_max
            if totals.completion_tokens_max is not None:
                totals.completion_tokens_max = (
                    None
                    if t.completion_max is None
                    else totals.completion_tokens_max + t.completion_max
                )
        else:
            totals.calls += 1
            totals.images += int(job.request.get("n") or 1)

    @property
    def prompt_tokens(self) -> int:
        """Estimated prompt tokens of the whole plan (replies empty)."""
        return sum(t.prompt_tokens for t in self.models.values())

    def unpriced(self, prices: Prices) -> list[str]:
        """Models the price table does not know."""
        return sorted(
            name
            for name, t in self.models.items()
            if name not in (prices.chat if t.kind == "chat" else prices.image)
        )

    def cost_ticks(self, prices: Prices, prompt_scale: float = 1.0) -> tuple[int, int | None]:
        """``(min, max)`` cost in ticks over priced models; ``max`` is ``None`` when unbounded.

        ``prompt_scale`` multiplies the estimated prompt tokens (see :func:`tokenizer_ratio`).
        """
        low, high = 0, 0
        bounded = True
        for name, t in self.models.items():
            if t.kind == "image":
                cost = t.images * prices.image.get(name, 0)
                low, high = low + cost, high + cost
                continue
            price = prices.chat.get(name)
            if price is None:
                continue
            low += round(t.prompt_tokens * prompt_scale) * price.prompt
            if t.completion_tokens_max is None:
                bounded = False
            else:
                high += (
                    round(t.prompt_tokens_max * prompt_scale) * price.prompt
                    + t.completion_tokens_max * price.completion
                )
        return low, high if bounded else None


def usd(ticks: int) -> float:
    """Ticks to US dollars."""
    return ticks / TICKS_PER_USD
