"""Cost of a call in USD ticks, from the response or from the Models price table.

1 USD = 10,000,000,000 ticks. Token prices from the Models service are in USD
cents per 100 million tokens, which is exactly ticks per token; ``image_price``
is ticks per image (see docs/ARCHITECTURE.md, "Prices and cost").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from xai_pipelines.catalog import TICKS_PER_USD, ModelPrice
from xai_pipelines.records import RecordError, Usage, as_record

PriceTable = Mapping[str, ModelPrice]


def price_table_from_dict(data: Mapping[str, Mapping[str, Any]] | None) -> dict[str, ModelPrice]:
    """Rebuild a price table from its JSON form (a manifest's ``prices``; unknown keys ignored).

    Raises:
        RecordError: A price that is not a whole number.
    """
    try:
        return {model: msgspec.convert(p, ModelPrice) for model, p in (data or {}).items()}
    except msgspec.ValidationError as exc:
        raise RecordError(f"not a valid price table: {exc}") from exc


def as_usage(usage: Usage | Mapping[str, Any]) -> Usage:
    """A :class:`~xai_pipelines.records.Usage` (a plain usage dict is decoded into one).

    Raises:
        RecordError: The dict is not a usage (unknown key, wrong type).
    """
    return as_record(usage, Usage, "usage")


def ticks_to_usd(ticks: int | float) -> float:
    """Convert ticks to US dollars."""
    return ticks / TICKS_PER_USD


def cost_from_prices(kind: str, usage: Usage | Mapping[str, Any], price: ModelPrice) -> int:
    """Cost in ticks computed from token or image counts and a price.

    Cached tokens are part of ``prompt_tokens`` (docs.x.ai, "Prompt caching: usage
    and pricing", read 2026-11-29: prompt_tokens 125 with cached_tokens 98), so they
    are billed at the cached price instead of, not on top of, the prompt price. A
    prompt at or above the long-context threshold bills every token at the
    long-context prices. (One result line may sum several calls, e.g. turns; the
    threshold is checked against their summed prompt, which can only overstate.)
    """
    u = as_usage(usage)
    if kind == "image":
        return u.image_count * price.image_price
    prompt = u.prompt_tokens
    price = price.for_prompt(prompt)
    cached = min(u.cached_prompt_tokens, prompt)
    return (
        (prompt - cached) * price.prompt_text_token_price
        + cached * price.cached_prompt_token_price
        + (u.completion_tokens + u.reasoning_tokens) * price.completion_text_token_price
    )


def cache_savings(
    kind: str, usage: Usage | Mapping[str, Any], price: ModelPrice | None
) -> int | None:
    """What the prompt cache saved on one job, in ticks (None when the price is unknown).

    The difference between billing the cached prompt tokens at the prompt price and
    at the cached price.
    """
    if kind != "chat":
        return 0
    u = as_usage(usage)
    if not u.cached_prompt_tokens:
        return 0
    if price is None:
        return None
    price = price.for_prompt(u.prompt_tokens)
    return u.cached_prompt_tokens * max(
        0, price.prompt_text_token_price - price.cached_prompt_token_price
    )


def resolve_cost(
    kind: str, model: str, usage: Usage | Mapping[str, Any], prices: PriceTable | None
) -> tuple[int | None, str | None]:
    """The cost of a job and where it came from.

    Args:
        kind: ``chat`` or ``image``.
        model: The job's model (the key of ``prices``).
        usage: The job's usage (a plain usage dict is decoded into a ``Usage``).
        prices: The run's price table.

    Returns:
        ``(ticks, "response")`` when the API reported ``cost_usd_ticks``;
        ``(ticks, "price_table")`` when it did not but the model's price is known;
        ``(None, None)`` otherwise.
    """
    u = as_usage(usage)
    if u.cost_usd_ticks is not None:
        return u.cost_usd_ticks, "response"
    price = (prices or {}).get(model)
    if price is None:
        return None, None
    return cost_from_prices(kind, u, price), "price_table"
