"""Models with prices and token counts, async (``client.models``, ``client.tokenize``).

Answers are read by the sync module's readers (:mod:`xai_pipelines.sdk.models`,
:mod:`xai_pipelines.sdk.tokenize`).
"""

from __future__ import annotations

from typing import Any

from google.protobuf import empty_pb2

from xai_pipelines.proto import models_pb2, models_pb2_grpc, tokenize_pb2, tokenize_pb2_grpc
from xai_pipelines.sdk.aio._call import AsyncCaller
from xai_pipelines.sdk.models import ImageModelInfo, LanguageModelInfo
from xai_pipelines.sdk.tokenize import Token, tokens_of

__all__ = ["AsyncModelsClient", "AsyncTokenizeClient"]


class AsyncModelsClient:
    """Lists and describes models; spans ``models.<method>``."""

    def __init__(self, caller: AsyncCaller) -> None:
        self._caller = caller

    async def _call(self, method: str, request: object, model: str = "") -> Any:
        with self._caller.traced(f"models.{method}", self._caller.attributes("models", model, {})):
            return (await self._caller.unary(models_pb2_grpc.ModelsStub, method, request))[0]

    async def list_language_models(self) -> list[LanguageModelInfo]:
        """Every language model with its prices."""
        reply = await self._call("ListLanguageModels", empty_pb2.Empty())
        return [LanguageModelInfo.from_proto(m) for m in reply.models]

    async def get_language_model(self, name: str) -> LanguageModelInfo:
        """One language model by name or alias (:class:`NotFoundError` if unknown)."""
        request = models_pb2.GetModelRequest(name=name)
        return LanguageModelInfo.from_proto(await self._call("GetLanguageModel", request, name))

    async def list_image_generation_models(self) -> list[ImageModelInfo]:
        """Every image generation model with its price."""
        reply = await self._call("ListImageGenerationModels", empty_pb2.Empty())
        return [ImageModelInfo.from_proto(m) for m in reply.models]

    async def get_image_generation_model(self, name: str) -> ImageModelInfo:
        """One image generation model by name or alias."""
        request = models_pb2.GetModelRequest(name=name)
        reply = await self._call("GetImageGenerationModel", request, name)
        return ImageModelInfo.from_proto(reply)


class AsyncTokenizeClient:
    """Tokenizes text with a model's tokenizer; span ``tokenize.text <model>``."""

    def __init__(self, caller: AsyncCaller) -> None:
        self._caller = caller

    async def tokenize_text(self, text: str, model: str) -> list[Token]:
        """The tokens of ``text`` for ``model``."""
        request = tokenize_pb2.TokenizeTextRequest(text=text, model=model)
        attrs = self._caller.attributes("tokenize", model, {})
        with self._caller.traced(f"tokenize.text {model}", attrs):
            reply, _ = await self._caller.unary(
                tokenize_pb2_grpc.TokenizeStub, "TokenizeText", request
            )
        return tokens_of(reply)

    async def count_tokens(self, text: str, model: str) -> int:
        """How many tokens ``text`` is for ``model``."""
        return len(await self.tokenize_text(text, model))
