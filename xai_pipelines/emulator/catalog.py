"""The emulator's view of the bundled model catalog (``xai_pipelines.catalog``).

The data is not held here: names, aliases, retired names, prices and
capabilities come from ``load_catalog()``, so the emulator serves what the
catalog file says. Token prices are in USD cents per 100 million tokens, which
is exactly ticks per token (1 USD = 10^10 ticks); image prices are in ticks per
image. The Models service serves these specs and usage cost is computed from
them, so the two agree.

A retired name resolves to the model that now serves it, as on the hosted API
(docs.x.ai/developers/migration/may-15-retirement, read 2026-11-29); answers
then carry the serving model's canonical name.
"""

from __future__ import annotations

from dataclasses import dataclass

from xai_pipelines.catalog import (
    TICKS_PER_USD,
    ImageModelInfo,
    LanguageModelInfo,
    ModelCatalog,
    RetiredModel,
    load_catalog,
)

__all__ = [
    "DEFAULT_REASONING_EFFORT",
    "MODEL_VERSION",
    "TICKS_PER_USD",
    "Catalog",
    "ImageModelSpec",
    "LanguageModelSpec",
    "chat_cost_ticks",
]

MODEL_VERSION = "1.0"
DEFAULT_REASONING_EFFORT = "medium"
"""The emulator's effort when neither the request, a redirect nor the catalog names one."""


@dataclass(frozen=True)
class LanguageModelSpec:
    """A language model the emulator serves (derived from a catalog row).

    ``max_prompt_length`` is the catalog's context length; ``search_price`` is
    the catalog's web_search price per call (Live Search's per-source price is
    gone with Live Search).
    """

    name: str
    aliases: tuple[str, ...]
    version: str
    prompt_text_token_price: int
    cached_prompt_token_price: int
    completion_text_token_price: int
    prompt_image_token_price: int
    search_price: int
    max_prompt_length: int
    reasoning: bool
    accepts_images: bool
    info: LanguageModelInfo

    @property
    def reasoning_efforts(self) -> tuple[str, ...]:
        """The ``reasoning_effort`` values it accepts (empty: the parameter is refused)."""
        return self.info.reasoning_efforts

    @property
    def rejected_params(self) -> tuple[str, ...]:
        """Request fields it refuses."""
        return self.info.rejected_params


@dataclass(frozen=True)
class ImageModelSpec:
    """An image generation model the emulator serves (derived from a catalog row)."""

    name: str
    aliases: tuple[str, ...]
    version: str
    image_price: int
    max_prompt_length: int
    input_image_price: int
    max_images: int
    edit: bool
    max_input_images: int
    info: ImageModelInfo


def _language_spec(info: LanguageModelInfo, search_price: int) -> LanguageModelSpec:
    return LanguageModelSpec(
        name=info.name,
        aliases=info.aliases,
        version=MODEL_VERSION,
        prompt_text_token_price=info.prompt_text_token_price,
        cached_prompt_token_price=info.cached_prompt_token_price,
        completion_text_token_price=info.completion_text_token_price,
        prompt_image_token_price=info.prompt_image_token_price,
        search_price=search_price,
        max_prompt_length=info.context_length,
        reasoning=info.reasoning,
        accepts_images=info.image_input,
        info=info,
    )


def _image_spec(info: ImageModelInfo) -> ImageModelSpec:
    return ImageModelSpec(
        name=info.name,
        aliases=info.aliases,
        version=MODEL_VERSION,
        image_price=info.image_price,
        max_prompt_length=info.max_prompt_length,
        input_image_price=info.input_image_price,
        max_images=info.max_images,
        edit=info.edit,
        max_input_images=info.max_input_images,
        info=info,
    )


class Catalog:
    """Looks models up by name, alias or retired name.

    Args:
        extra_reasoning: Model names (or aliases) treated as reasoning models in
            addition to those the catalog marks.
        catalog: The catalog to serve (default: the bundled one).
    """

    def __init__(
        self, extra_reasoning: tuple[str, ...] = (), catalog: ModelCatalog | None = None
    ) -> None:
        self.data = catalog or load_catalog()
        search_price = self.data.tool_prices.get("web_search", 0)
        self.language_models = tuple(
            _language_spec(m, search_price) for m in self.data.language_models
        )
        self.image_models = tuple(_image_spec(m) for m in self.data.image_models)
        self._language = {m.name: m for m in self.language_models}
        self._image = {m.name: m for m in self.image_models}
        self._reasoning = {m.name for m in self.language_models if m.reasoning}
        for name in extra_reasoning:
            model = self.language(name)
            self._reasoning.add(model.name if model else name)

    def language(self, name: str) -> LanguageModelSpec | None:
        """The language model ``name`` denotes (name, alias or retired name), or None."""
        info = self.data.language(name)
        return self._language[info.name] if info else None

    def image(self, name: str) -> ImageModelSpec | None:
        """The image model ``name`` denotes (name, alias or retired name), or None."""
        info = self.data.image(name)
        return self._image[info.name] if info else None

    def retirement(self, name: str) -> RetiredModel | None:
        """The retirement record of ``name``, or None when it is not retired."""
        return self.data.retirement(name)

    def served_aliases(self, canonical: str) -> tuple[str, ...]:
        """Every other name that reaches ``canonical``: its aliases, then retired names."""
        info = self.data.language(canonical) or self.data.image(canonical)
        own = info.aliases if info else ()
        return (*own, *self.data.retired_names(canonical))

    def is_reasoning(self, model: LanguageModelSpec) -> bool:
        """Whether ``model`` produces reasoning content."""
        return model.name in self._reasoning

    def reasoning_effort(
        self, requested_name: str, model: LanguageModelSpec, requested: str | None
    ) -> str:
        """The effort a request runs at: its own, else a redirect's, else the model's default.

        Args:
            requested_name: The model name as the request gave it (a retired name
                carries the effort its redirect applies).
            model: The model serving the request.
            requested: The request's ``reasoning_effort`` name, or None when unset.
        """
        if requested is not None:
            return requested
        retired = self.data.retirement(requested_name)
        if retired is not None and retired.effort is not None:
            return retired.effort
        return model.info.default_reasoning_effort or DEFAULT_REASONING_EFFORT

    def tool_price(self, tool: str) -> int:
        """Ticks per call of server-side tool ``tool`` (0 when the catalog has no price)."""
        return self.data.tool_prices.get(tool, 0)


def chat_cost_ticks(
    model: LanguageModelSpec,
    prompt_text_tokens: int,
    cached_tokens: int,
    completion_tokens: int,
    reasoning_tokens: int,
    prompt_image_tokens: int = 0,
    *,
    prompt_tokens: int | None = None,
) -> int:
    """Cost of a chat completion in ticks, by the rule in docs/ARCHITECTURE.md.

    A prompt at or above the model's long-context threshold bills every token of
    the request at the long-context prices (docs.x.ai/developers/rest-api-reference/
    inference/models: ``long_context_threshold``, read 2026-11-29).

    Args:
        model: The serving model.
        prompt_text_tokens: Uncached prompt text tokens.
        cached_tokens: Cached prompt text tokens.
        completion_tokens: Completion tokens.
        reasoning_tokens: Reasoning tokens (billed as completion).
        prompt_image_tokens: Prompt image tokens.
        prompt_tokens: The prompt length the threshold is compared with (default:
            the sum of the three prompt counts).
    """
    info = model.info
    size = (
        prompt_tokens
        if prompt_tokens is not None
        else prompt_text_tokens + cached_tokens + prompt_image_tokens
    )
    text, cached, image, completion = (
        model.prompt_text_token_price,
        model.cached_prompt_token_price,
        model.prompt_image_token_price,
        model.completion_text_token_price,
    )
    if info.long_context_threshold is not None and size >= info.long_context_threshold:
        factor = info.long_context_multiplier
        text = info.long_context_prompt_text_token_price or round(text * factor)
        cached = info.long_context_cached_prompt_token_price or round(cached * factor)
        image = info.long_context_prompt_image_token_price or round(image * factor)
        completion = info.long_context_completion_text_token_price or round(completion * factor)
    return (
        prompt_text_tokens * text
        + cached_tokens * cached
        + prompt_image_tokens * image
        + (completion_tokens + reasoning_tokens) * completion
    )
