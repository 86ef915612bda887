"""The bundled catalog of xAI models: names, aliases, retired names, prices, capabilities.

The data lives in ``models.yaml`` beside this module, with the address and the
date each fact was read. It may be dated: the hosted Models service is the
authority when it can be reached. Two layers read it, each for its own purpose:
the emulator serves it (so ``--local`` behaves like today's API) and
``validate`` / ``plan`` check pipelines against it offline. This module imports
nothing else of the project.

Prices are held as the Models service reports them: token prices in ticks per
token (USD cents per 100M tokens; 1 USD = 10^10 ticks), image and tool prices in
ticks per image or call. A price in the file that does not convert to a whole
number of ticks is refused, so no price is silently rounded.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from importlib import resources
from typing import Any

import yaml

__all__ = [
    "REASONING_EFFORTS",
    "TICKS_PER_USD",
    "ImageModelInfo",
    "LanguageModelInfo",
    "ModelCatalog",
    "ModelPrice",
    "RetiredModel",
    "Source",
    "WithdrawnParam",
    "load_catalog",
    "parse_catalog",
    "usd_per_million_to_ticks",
    "usd_to_ticks",
]

#: ``cost_in_usd_ticks`` unit: 1 USD = 10^10 ticks (usage.proto of the hosted API). The one
#: definition: the SDK, plan, report, run and the emulator read it from here (the lowest layer).
TICKS_PER_USD = 10_000_000_000
REASONING_EFFORTS = ("none", "low", "medium", "high", "xhigh")
"""Every ``reasoning_effort`` value the API defines, in order of effort."""


def _exact_ticks(usd: float | int | str, scale: int, what: str) -> int:
    # Decimal(str(x)) is the number as written in the file, not its binary approximation.
    ticks = Decimal(str(usd)) * scale
    if ticks != ticks.to_integral_value():
        raise ValueError(f"{what} {usd} is not a whole number of ticks")
    return int(ticks)


def usd_per_million_to_ticks(usd: float | int | str) -> int:
    """A price in USD per 1M tokens as ticks per token ($1.25 -> 12,500).

    Raises:
        ValueError: When the price is not a whole number of ticks per token.
    """
    return _exact_ticks(usd, TICKS_PER_USD // 1_000_000, "price per 1M tokens")


def usd_to_ticks(usd: float | int | str) -> int:
    """A price in USD as ticks.

    Raises:
        ValueError: When the price is not a whole number of ticks.
    """
    return _exact_ticks(usd, TICKS_PER_USD, "price")


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
        long_context_threshold: Prompt length (tokens) at or above which every token
            of the request is billed at the long-context prices (None: no such rate).
        long_context_multiplier: Long-context input price over the normal one.
        reasoning: Whether it thinks before answering.
        reasoning_efforts: The ``reasoning_effort`` values it accepts; empty means
            the parameter is rejected.
        rejected_params: Request parameters it rejects (INVALID_ARGUMENT).
        image_input: Whether messages may carry images.
        source: Key of the :class:`Source` it was read from.
        long_context_prompt_text_token_price: Long-context price of an uncached token.
        long_context_cached_prompt_token_price: Long-context price of a cached token.
        long_context_completion_text_token_price: Long-context price of an output token.
        long_context_prompt_image_token_price: Long-context price of an image token.
        default_reasoning_effort: The effort used when a request sets none, where
            documented (None: not documented).
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
    long_context_prompt_text_token_price: int | None = None
    long_context_cached_prompt_token_price: int | None = None
    long_context_completion_text_token_price: int | None = None
    long_context_prompt_image_token_price: int | None = None
    default_reasoning_effort: str | None = None


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
        input_image_price: Ticks per input image of an edit (0: not known, not charged).
    """

    name: str
    aliases: tuple[str, ...]
    image_price: int
    max_prompt_length: int
    max_images: int
    edit: bool
    max_input_images: int
    source: str
    input_image_price: int = 0


@dataclass(frozen=True)
class RetiredModel:
    """A name the API no longer serves itself; requests go to ``redirect``.

    Attributes:
        name: The retired name.
        redirect: Canonical name of the model that serves it now.
        retired: ISO date of the retirement, None when no source gives it.
        source: Key of the :class:`Source` it was read from.
        effort: The reasoning effort the redirect applies when the request sets
            none (None for image models).
    """

    name: str
    redirect: str
    retired: str | None
    source: str
    effort: str | None = None


@dataclass(frozen=True)
class WithdrawnParam:
    """A request parameter the API refuses whatever the model (e.g. live search).

    Attributes:
        name: The request key (``search_parameters``).
        instead: What to use instead, as a user would write it.
        source: Key of the :class:`Source` that says so.
    """

    name: str
    instead: str
    source: str


@dataclass(frozen=True)
class ModelPrice:
    """Prices of one model (ticks per token, ticks per image).

    A request whose prompt reaches ``long_context_threshold`` tokens is billed at
    the ``long_context_*`` prices, every token of it (docs.x.ai/developers/rest-api-reference/
    inference/models, ``long_context_threshold``, read 2026-11-29; the bundled catalog
    holds them, the Models service's gRPC answer does not). None: no such rate known.
    """

    prompt_text_token_price: int = 0
    cached_prompt_token_price: int = 0
    completion_text_token_price: int = 0
    image_price: int = 0
    long_context_threshold: int | None = None
    long_context_prompt_text_token_price: int | None = None
    long_context_cached_prompt_token_price: int | None = None
    long_context_completion_text_token_price: int | None = None

    def to_dict(self) -> dict[str, int | None]:
        """JSON form (as stored in ``manifest.json`` under ``prices``)."""
        return asdict(self)

    def for_prompt(self, prompt_tokens: int) -> ModelPrice:
        """The prices a request with this many prompt tokens is billed at."""
        threshold = self.long_context_threshold
        if threshold is None or prompt_tokens < threshold:
            return self

        def pick(long: int | None, normal: int) -> int:
            return normal if long is None else long

        return ModelPrice(
            pick(self.long_context_prompt_text_token_price, self.prompt_text_token_price),
            pick(self.long_context_cached_prompt_token_price, self.cached_prompt_token_price),
            pick(self.long_context_completion_text_token_price, self.completion_text_token_price),
            self.image_price,
        )

    def rates(self, long: bool) -> tuple[int, int]:
        """``(prompt, completion)`` ticks per token, at the long-context rate when ``long``."""
        if not long:
            return self.prompt_text_token_price, self.completion_text_token_price
        prompt = self.long_context_prompt_text_token_price
        completion = self.long_context_completion_text_token_price
        return (
            self.prompt_text_token_price if prompt is None else prompt,
            self.completion_text_token_price if completion is None else completion,
        )


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
    tool_prices_source: str = ""
    region_multipliers_source: str = ""
    withdrawn_params: tuple[WithdrawnParam, ...] = ()

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

    def price(self, name: str) -> ModelPrice | None:
        """The prices of the model ``name`` denotes (chat or image), or None when unknown."""
        info = self.language(name)
        if info is not None:
            return ModelPrice(
                info.prompt_text_token_price,
                info.cached_prompt_token_price,
                info.completion_text_token_price,
                long_context_threshold=info.long_context_threshold,
                long_context_prompt_text_token_price=info.long_context_prompt_text_token_price,
                long_context_cached_prompt_token_price=info.long_context_cached_prompt_token_price,
                long_context_completion_text_token_price=info.long_context_completion_text_token_price,
            )
        image = self.image(name)
        return None if image is None else ModelPrice(image_price=image.image_price)

    def retired_names(self, canonical: str) -> tuple[str, ...]:
        """The retired names that redirect to the model called ``canonical``."""
        return tuple(r.name for r in self.retired if r.redirect == canonical)

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


def _price_table(prices: dict[str, Any], key: str) -> int:
    return usd_per_million_to_ticks(prices[key])


def _language(row: dict[str, Any]) -> LanguageModelInfo:
    prices = row["prices_usd_per_million_tokens"]
    long_context = row.get("long_context") or {}
    image_price = prices.get("image_input", prices["input"])
    long_prices = {
        k: usd_per_million_to_ticks(long_context[k])
        for k in ("input", "cached_input", "output")
        if k in long_context
    }
    long_image = long_context.get("image_input", long_context.get("input"))
    multiplier = long_context.get("multiplier")
    if multiplier is None and "input" in long_context:
        multiplier = Decimal(str(long_context["input"])) / Decimal(str(prices["input"]))
    efforts = tuple(row.get("reasoning_efforts", ()))
    default_effort = row.get("default_reasoning_effort")
    unknown = [e for e in (*efforts, default_effort) if e and e not in REASONING_EFFORTS]
    if unknown:
        raise ValueError(f"model {row['name']}: unknown reasoning effort {unknown[0]!r}")
    return LanguageModelInfo(
        name=row["name"],
        aliases=tuple(row.get("aliases", ())),
        context_length=int(row["context_length"]),
        prompt_text_token_price=_price_table(prices, "input"),
        cached_prompt_token_price=_price_table(prices, "cached_input"),
        completion_text_token_price=_price_table(prices, "output"),
        prompt_image_token_price=usd_per_million_to_ticks(image_price),
        long_context_threshold=long_context.get("threshold_tokens"),
        long_context_multiplier=float(multiplier if multiplier is not None else 1),
        reasoning=bool(row["reasoning"]),
        reasoning_efforts=efforts,
        rejected_params=tuple(row.get("rejects", ())),
        image_input=bool(row.get("image_input", False)),
        source=row["source"],
        long_context_prompt_text_token_price=long_prices.get("input"),
        long_context_cached_prompt_token_price=long_prices.get("cached_input"),
        long_context_completion_text_token_price=long_prices.get("output"),
        long_context_prompt_image_token_price=(
            usd_per_million_to_ticks(long_image) if long_image is not None else None
        ),
        default_reasoning_effort=default_effort,
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
        input_image_price=usd_to_ticks(row.get("price_usd_per_input_image", 0)),
    )


def _retired(row: dict[str, Any]) -> RetiredModel:
    retired = row.get("retired")
    return RetiredModel(
        name=row["name"],
        redirect=row["redirect"],
        retired=None if retired is None else str(retired),
        source=row["source"],
        effort=row.get("effort"),
    )


def _check(catalog: ModelCatalog) -> None:
    """Refuse a catalog whose rows name unknown sources or redirect nowhere."""
    keys = {s.key for s in catalog.sources}
    rows: list[tuple[str, str]] = [
        *((m.name, m.source) for m in catalog.language_models),
        *((m.name, m.source) for m in catalog.image_models),
        *((r.name, r.source) for r in catalog.retired),
        *((w.name, w.source) for w in catalog.withdrawn_params),
    ]
    if catalog.tool_prices:
        rows.append(("tool_prices", catalog.tool_prices_source))
    if catalog.region_multipliers:
        rows.append(("region_multipliers", catalog.region_multipliers_source))
    for name, key in rows:
        if key not in keys:
            raise ValueError(f"{name}: source {key!r} is not in sources")
    current = set(catalog.names())
    for r in catalog.retired:
        if r.name in current:
            raise ValueError(f"{r.name} is both retired and current")
        if catalog.language(r.name) is None and catalog.image(r.name) is None:
            raise ValueError(f"{r.name} redirects to {r.redirect!r}, which is not a current model")
        if r.effort is not None and r.effort not in REASONING_EFFORTS:
            raise ValueError(f"{r.name}: unknown reasoning effort {r.effort!r}")


def parse_catalog(data: dict[str, Any]) -> ModelCatalog:
    """Build a catalog from the parsed YAML document (the format of ``models.yaml``).

    Raises:
        ValueError: When a price is not a whole number of ticks, a row names an
            unknown source, or a retired name redirects to no current model.
    """
    catalog = ModelCatalog(
        as_of=str(data["as_of"]),
        sources=tuple(
            Source(key=k, url=v["url"], read=str(v["read"]), note=v.get("note", ""))
            for k, v in data["sources"].items()
        ),
        language_models=tuple(_language(r) for r in data["language_models"]),
        image_models=tuple(_image(r) for r in data["image_models"]),
        retired=tuple(_retired(r) for r in data.get("retired", ())),
        tool_prices={
            name: _exact_ticks(usd, TICKS_PER_USD // 1000, "tool price per 1,000 calls")
            for name, usd in data.get("tool_prices_usd_per_1000_calls", {}).items()
        },
        region_multipliers={k: float(v) for k, v in data.get("region_multipliers", {}).items()},
        tool_prices_source=str(data.get("tool_prices_source", "")),
        region_multipliers_source=str(data.get("region_multipliers_source", "")),
        withdrawn_params=tuple(
            WithdrawnParam(name, str(row["instead"]), str(row["source"]))
            for name, row in data.get("withdrawn_params", {}).items()
        ),
    )
    _check(catalog)
    return catalog


@functools.cache
def load_catalog() -> ModelCatalog:
    """The bundled catalog (read once per process)."""
    text = resources.files(__package__).joinpath("models.yaml").read_text(encoding="utf-8")
    # libyaml's loader when PyYAML has it: a tenth of the pure-Python one's CPU, paid per process.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return parse_catalog(yaml.load(text, Loader=loader))
