"""Model catalog with prices (``client.models``).

Token prices are in USD cents per 100 million tokens, which is exactly ticks per
token (1 USD = 10^10 ticks); ``image_price`` is in ticks per image. See
docs/ARCHITECTURE.md, "Prices and cost".
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf import empty_pb2

from xai_pipelines.proto import models_pb2, models_pb2_grpc
from xai_pipelines.sdk._call import Caller
from xai_pipelines.sdk.response import Usage

__all__ = ["ImageModelInfo", "LanguageModelInfo", "ModelsClient"]

_STUB = models_pb2_grpc.ModelsStub


@dataclass(frozen=True)
class LanguageModelInfo:
    """A language model and its prices (ticks per token)."""

    name: str
    aliases: tuple[str, ...]
    prompt_text_token_price: int
    cached_prompt_token_price: int
    completion_text_token_price: int
    prompt_image_token_price: int
    search_price: int
    max_prompt_length: int
    version: str = ""

    @classmethod
    def from_proto(cls, m: models_pb2.LanguageModel) -> LanguageModelInfo:
        """Read a ``LanguageModel``."""
        return cls(
            name=m.name,
            aliases=tuple(m.aliases),
            prompt_text_token_price=m.prompt_text_token_price,
            cached_prompt_token_price=m.cached_prompt_token_price,
            completion_text_token_price=m.completion_text_token_price,
            prompt_image_token_price=m.prompt_image_token_price,
            search_price=m.search_price,
            max_prompt_length=m.max_prompt_length,
            version=m.version,
        )

    def cost_usd_ticks(self, usage: Usage) -> int:
        """Cost of ``usage`` at this model's prices (cached prompt tokens at the cached price)."""
        uncached = usage.prompt_tokens - usage.cached_prompt_tokens
        return (
            uncached * self.prompt_text_token_price
            + usage.cached_prompt_tokens * self.cached_prompt_token_price
            + (usage.completion_tokens + usage.reasoning_tokens) * self.completion_text_token_price
        )


@dataclass(frozen=True)
class ImageModelInfo:
    """An image generation model and its price (ticks per image)."""

    name: str
    aliases: tuple[str, ...]
    image_price: int
    max_prompt_length: int
    version: str = ""

    @classmethod
    def from_proto(cls, m: models_pb2.ImageGenerationModel) -> ImageModelInfo:
        """Read an ``ImageGenerationModel``."""
        return cls(m.name, tuple(m.aliases), m.image_price, m.max_prompt_length, m.version)


class ModelsClient:
    """Lists and describes models (``client.models``); spans ``models.<method>``."""

    def __init__(self, caller: Caller) -> None:
        self._caller = caller

    def _call(self, method: str, request: object, model: str = "") -> object:
        with self._caller.traced(f"models.{method}", self._caller.attributes("models", model, {})):
            return self._caller.unary(_STUB, method, request)[0]

    def list_language_models(self) -> list[LanguageModelInfo]:
        """Every language model with its prices."""
        reply = self._call("ListLanguageModels", empty_pb2.Empty())
        return [LanguageModelInfo.from_proto(m) for m in reply.models]  # type: ignore[attr-defined]

    def get_language_model(self, name: str) -> LanguageModelInfo:
        """One language model by name or alias (:class:`NotFoundError` if unknown)."""
        reply = self._call("GetLanguageModel", models_pb2.GetModelRequest(name=name), name)
        return LanguageModelInfo.from_proto(reply)  # type: ignore[arg-type]

    def list_image_generation_models(self) -> list[ImageModelInfo]:
        """Every image generation model with its price."""
        reply = self._call("ListImageGenerationModels", empty_pb2.Empty())
        return [ImageModelInfo.from_proto(m) for m in reply.models]  # type: ignore[attr-defined]

    def get_image_generation_model(self, name: str) -> ImageModelInfo:
        """One image generation model by name or alias."""
        request = models_pb2.GetModelRequest(name=name)
        reply = self._call("GetImageGenerationModel", request, name)
        return ImageModelInfo.from_proto(reply)  # type: ignore[arg-type]
