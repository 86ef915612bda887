"""The emulator's model catalog and price table.

Token prices are in USD cents per 100 million tokens, which is exactly ticks per
token (1 USD = 10^10 ticks); ``image_price`` is in ticks per image. The Models
service serves this table and usage cost is computed from it, so the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass

TICKS_PER_USD = 10_000_000_000


@dataclass(frozen=True)
class LanguageModelSpec:
    """A language model the emulator serves."""

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


@dataclass(frozen=True)
class ImageModelSpec:
    """An image generation model the emulator serves."""

    name: str
    aliases: tuple[str, ...]
    version: str
    image_price: int
    max_prompt_length: int


LANGUAGE_MODELS: tuple[LanguageModelSpec, ...] = (
    LanguageModelSpec(
        name="grok-4",
        aliases=("grok-4-latest", "grok-4-0709"),
        version="1.0",
        prompt_text_token_price=30_000,  # $3.00 / 1M tokens
        cached_prompt_token_price=7_500,  # $0.75 / 1M
        completion_text_token_price=150_000,  # $15.00 / 1M
        prompt_image_token_price=30_000,
        search_price=250_000_000,  # $0.025 / source
        max_prompt_length=256_000,
        reasoning=True,
        accepts_images=True,
    ),
    LanguageModelSpec(
        name="grok-4-fast-non-reasoning",
        aliases=("grok-4-fast", "grok-4-fast-non-reasoning-latest"),
        version="1.0",
        prompt_text_token_price=2_000,  # $0.20 / 1M
        cached_prompt_token_price=500,
        completion_text_token_price=5_000,  # $0.50 / 1M
        prompt_image_token_price=2_000,
        search_price=250_000_000,
        max_prompt_length=2_000_000,
        reasoning=False,
        accepts_images=True,
    ),
    LanguageModelSpec(
        name="grok-3",
        aliases=("grok-3-latest",),
        version="1.0",
        prompt_text_token_price=30_000,
        cached_prompt_token_price=7_500,
        completion_text_token_price=150_000,
        prompt_image_token_price=0,
        search_price=250_000_000,
        max_prompt_length=131_072,
        reasoning=False,
        accepts_images=False,
    ),
    LanguageModelSpec(
        name="grok-3-mini",
        aliases=("grok-3-mini-latest",),
        version="1.0",
        prompt_text_token_price=3_000,  # $0.30 / 1M
        cached_prompt_token_price=750,
        completion_text_token_price=5_000,  # $0.50 / 1M
        prompt_image_token_price=0,
        search_price=250_000_000,
        max_prompt_length=131_072,
        reasoning=True,
        accepts_images=False,
    ),
)

IMAGE_MODELS: tuple[ImageModelSpec, ...] = (
    ImageModelSpec(
        name="grok-2-image",
        aliases=("grok-2-image-latest", "grok-2-image-1212"),
        version="1.0",
        image_price=700_000_000,  # $0.07 / image
        max_prompt_length=1024,
    ),
)


class Catalog:
    """Looks models up by name or alias.

    Args:
        extra_reasoning: Model names (or aliases) treated as reasoning models in
            addition to those marked in the table.
    """

    def __init__(self, extra_reasoning: tuple[str, ...] = ()) -> None:
        self.language_models = LANGUAGE_MODELS
        self.image_models = IMAGE_MODELS
        self._language = {n: m for m in LANGUAGE_MODELS for n in (m.name, *m.aliases)}
        self._image = {n: m for m in IMAGE_MODELS for n in (m.name, *m.aliases)}
        self._reasoning = {m.name for m in LANGUAGE_MODELS if m.reasoning}
        for name in extra_reasoning:
            model = self._language.get(name)
            self._reasoning.add(model.name if model else name)

    def language(self, name: str) -> LanguageModelSpec | None:
        """The language model called ``name`` (or with that alias), or None."""
        return self._language.get(name)

    def image(self, name: str) -> ImageModelSpec | None:
        """The image model called ``name`` (or with that alias), or None."""
        return self._image.get(name)

    def is_reasoning(self, model: LanguageModelSpec) -> bool:
        """Whether ``model`` produces reasoning content."""
        return model.name in self._reasoning


def chat_cost_ticks(
    model: LanguageModelSpec,
    prompt_text_tokens: int,
    cached_tokens: int,
    completion_tokens: int,
    reasoning_tokens: int,
    prompt_image_tokens: int = 0,
) -> int:
    """Cost of a chat completion in ticks, by the rule in docs/ARCHITECTURE.md."""
    return (
        prompt_text_tokens * model.prompt_text_token_price
        + cached_tokens * model.cached_prompt_token_price
        + prompt_image_tokens * model.prompt_image_token_price
        + (completion_tokens + reasoning_tokens) * model.completion_text_token_price
    )
