"""The bundled catalog of xAI models: names, aliases, retired names, prices, capabilities.

The data lives in ``models.yaml`` beside this module, with the docs.x.ai address
and the date each fact was read. It may be dated: the hosted Models service is
the authority when it can be reached. Two layers read it, each for its own
purpose: the emulator serves it (so ``--local`` behaves like today's API) and
``validate`` / ``plan`` check pipelines against it offline. This module imports
nothing else of the project.

Prices are held as the Models service reports them: token prices in ticks per
token (USD cents per 100M tokens; 1 USD = 10^10 ticks), image and tool prices in
ticks per image or call.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

__all__ = [
    "TICKS_PER_USD",
    "ImageModelInfo",
    "LanguageModelInfo",
    "ModelCatalog",
    "RetiredModel",
    "Source",
    "load_catalog",
    "usd_per_million_to_ticks",
]

TICKS_PER_USD = 10_000_000_000


def usd_per_million_to_ticks(usd: float) -> int:
    """A price in USD per 1M tokens as ticks per token ($1.25 -> 12,500)."""
    return round(usd * TICKS_PER_USD / 1_000_000)


def usd_to_ticks(usd: float) -> int:
    """A price in USD as ticks."""
    return round(usd * TICKS_PER_USD)


@dataclass(frozen=True)
class Source:
    """Where a fact of the catalog was read, and when."""

    key: str
    url: str
    read: str
    note: str = ""


@dataclass(frozen=True)
class LanguageModelInfo:
    """A chat model.

    Attributes:
        name: Canonical name.
        aliases: Other names the API accepts for it.
        context_length: Longest prompt plus completion, in tokens.
        prompt_text_token_price: Ticks per uncached input token.
        cached_prompt_token_price: Ticks per cached input token.
        completion_text_token_price: Ticks per output (and reasoning) token.
        prompt_image_token_price: Ticks per image input token.
        long_context_threshold: Prompt length from which every token of the
            request is billed at ``long_context_multiplier`` (None: no such rate).
        long_context_multiplier: The factor above the threshold.
        reasoning: Whether it thinks before answering.
        reasoning_efforts: The ``reasoning_effort`` values it accepts; empty means
            the parameter is rejected.
        rejected_params: Request parameters it rejects (INVALID_ARGUMENT).
        image_input: Whether messages may carry images.
        source: Key of the :class:`Source` it was read from.
    """

    name: str
    aliases: tuple[str, ...]
    context_length: int
    prompt_text_token_price: int
    cached_prompt_token_price: int
    completion_text_token_price: int
    prompt_image_token_price: int
    long_context_threshold: int | None
    long_context_multiplier: float
    reasoning: bool
    reasoning_efforts: tuple[str, ...]
    rejected_params: tuple[str, ...]
    image_input: bool
    source: str


@dataclass(frozen=True)
class ImageModelInfo:
    """An image generation model.

    Attributes:
        name: Canonical name.
        aliases: Other names the API accepts for it.
        image_price: Ticks per generated image.
        max_prompt_length: Longest prompt in characters.
        max_images: Most images one request may ask for (``n``).
        edit: Whether it takes input images (``image_url`` / ``image_urls``).
        max_input_images: Most reference images one request may carry.
        source: Key of the :class:`Source` it was read from.
    """

    name: str
    aliases: tuple[str, ...]
    image_price: int
    max_prompt_length: int
    max_images: int
    edit: bool
    max_input_images: int
    source: str


@dataclass(frozen=True)
class RetiredModel:
    """A name the API no longer serves itself; requests go to ``redirect``."""

    name: str
    redirect: str
    retired: str
    source: str


@dataclass(frozen=True)
class ModelCatalog:
    """The catalog, looked up by name, alias or retired name."""

    as_of: str
    sources: tuple[Source, ...]
    language_models: tuple[LanguageModelInfo, ...]
    image_models: tuple[ImageModelInfo, ...]
    retired: tuple[RetiredModel, ...]
    tool_prices: dict[str, int] = field(default_factory=dict)
    region_multipliers: dict[str, float] = field(default_factory=dict)

    @functools.cached_property
    def _language(self) -> dict[str, LanguageModelInfo]:
        return {n: m for m in self.language_models for n in (m.name, *m.aliases)}

    @functools.cached_property
    def _image(self) -> dict[str, ImageModelInfo]:
        return {n: m for m in self.image_models for n in (m.name, *m.aliases)}

    @functools.cached_property
    def _retired(self) -> dict[str, RetiredModel]:
        return {r.name: r for r in self.retired}

    def retirement(self, name: str) -> RetiredModel | None:
        """The retirement record of ``name``, or None if it is not retired."""
        return self._retired.get(name)

    def language(self, name: str) -> LanguageModelInfo | None:
        """The chat model ``name`` denotes (a retired name gives its redirect), or None."""
        retired = self._retired.get(name)
        return self._language.get(retired.redirect if retired else name)

    def image(self, name: str) -> ImageModelInfo | None:
        """The image model ``name`` denotes (a retired name gives its redirect), or None."""
        retired = self._retired.get(name)
        return self._image.get(retired.redirect if retired else name)

    def names(self, kind: str = "any") -> list[str]:
        """Every accepted name: ``language``, ``image`` or ``any`` (current names only)."""
        out: list[str] = []
        if kind in ("language", "any"):
            out += list(self._language)
        if kind in ("image", "any"):
            out += list(self._image)
        return out

    def suggest(self, name: str, kind: str = "any") -> str | None:
        """The closest current name to a misspelt ``name``, or None."""
        close = difflib.get_close_matches(name, self.names(kind), n=1, cutoff=0.6)
        return close[0] if close else None

    def source(self, key: str) -> Source | None:
        """The source recorded under ``key``."""
        return next((s for s in self.sources if s.key == key), None)


def _language(row: dict[str, Any]) -> LanguageModelInfo:
    prices = row["prices_usd_per_million_tokens"]
    long_context = row.get("long_context") or {}
    return LanguageModelInfo(
        name=row["name"],
        aliases=tuple(row.get("aliases", ())),
        context_length=int(row["context_length"]),
        prompt_text_token_price=usd_per_million_to_ticks(prices["input"]),
        cached_prompt_token_price=usd_per_million_to_ticks(prices["cached_input"]),
        completion_text_token_price=usd_per_million_to_ticks(prices["output"]),
        prompt_image_token_price=usd_per_million_to_ticks(
            prices.get("image_input", prices["input"])
        ),
        long_context_threshold=long_context.get("threshold_tokens"),
        long_context_multiplier=float(long_context.get("multiplier", 1.0)),
        reasoning=bool(row["reasoning"]),
        reasoning_efforts=tuple(row.get("reasoning_efforts", ())),
        rejected_params=tuple(row.get("rejects", ())),
        image_input=bool(row.get("image_input", False)),
        source=row["source"],
    )


def _image(row: dict[str, Any]) -> ImageModelInfo:
    return ImageModelInfo(
        name=row["name"],
        aliases=tuple(row.get("aliases", ())),
        image_price=usd_to_ticks(row["price_usd_per_image"]),
        max_prompt_length=int(row.get("max_prompt_length", 8000)),
        max_images=int(row.get("max_images", 10)),
        edit=bool(row.get("edit", False)),
        max_input_images=int(row.get("max_input_images", 0)),
        source=row["source"],
    )


def parse_catalog(data: dict[str, Any]) -> ModelCatalog:
    """Build a catalog from the parsed YAML document (the format of ``models.yaml``)."""
    return ModelCatalog(
        as_of=str(data["as_of"]),
        sources=tuple(
            Source(key=k, url=v["url"], read=str(v["read"]), note=v.get("note", ""))
            for k, v in data["sources"].items()
        ),
        language_models=tuple(_language(r) for r in data["language_models"]),
        image_models=tuple(_image(r) for r in data["image_models"]),
        retired=tuple(
            RetiredModel(r["name"], r["redirect"], str(r["retired"]), r["source"])
            for r in data.get("retired", ())
        ),
        tool_prices={
            name: usd_to_ticks(usd / 1000)
            for name, usd in data.get("tool_prices_usd_per_1000_calls", {}).items()
        },
        region_multipliers=dict(data.get("region_multipliers", {})),
    )


@functools.cache
def load_catalog() -> ModelCatalog:
    """The bundled catalog (read once per process)."""
    text = resources.files(__package__).joinpath("models.yaml").read_text(encoding="utf-8")
    return parse_catalog(yaml.safe_load(text))
