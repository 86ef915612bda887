"""The Models and Tokenize gRPC services, both answered from the catalog.

Retired names are served as aliases of the model that now answers them, and a
lookup by a retired name returns that model: github.com/karthink/gptel/pull/1454
(2026-06-16, read 2026-11-29) reports every older text model name resolving as
an alias of grok-4.3 or grok-build-0.1. Unknown names get the hosted API's
NOT_FOUND (see ``validation.model_not_found``).
"""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2

from xai_pipelines.emulator.catalog import Catalog, ImageModelSpec, LanguageModelSpec
from xai_pipelines.emulator.chat_engine import SYSTEM_FINGERPRINT
from xai_pipelines.emulator.errors import answer
from xai_pipelines.emulator.tokenizer import split_tokens, token_id
from xai_pipelines.emulator.validation import (
    model_not_found,
    resolve_image_model,
    resolve_language_model,
)
from xai_pipelines.proto import models_pb2, models_pb2_grpc, tokenize_pb2, tokenize_pb2_grpc
from xai_pipelines.proto._pool import Timestamp

_CREATED = Timestamp(seconds=1_750_000_000)


def language_model_proto(
    model: LanguageModelSpec, aliases: tuple[str, ...] | None = None
) -> models_pb2.LanguageModel:
    """The Models answer for ``model``.

    Args:
        model: The model.
        aliases: Names to list as its aliases (default: the catalog's aliases).
    """
    inputs = [models_pb2.TEXT, models_pb2.IMAGE] if model.accepts_images else [models_pb2.TEXT]
    return models_pb2.LanguageModel(
        name=model.name,
        aliases=model.aliases if aliases is None else aliases,
        version=model.version,
        input_modalities=inputs,
        output_modalities=[models_pb2.TEXT],
        prompt_text_token_price=model.prompt_text_token_price,
        prompt_image_token_price=model.prompt_image_token_price,
        cached_prompt_token_price=model.cached_prompt_token_price,
        completion_text_token_price=model.completion_text_token_price,
        search_price=model.search_price,
        created=_CREATED,
        max_prompt_length=model.max_prompt_length,
        system_fingerprint=SYSTEM_FINGERPRINT,
    )


def image_model_proto(
    model: ImageModelSpec, aliases: tuple[str, ...] | None = None
) -> models_pb2.ImageGenerationModel:
    """The Models answer for image model ``model`` (image input only when it edits)."""
    inputs = [models_pb2.TEXT, models_pb2.IMAGE] if model.edit else [models_pb2.TEXT]
    return models_pb2.ImageGenerationModel(
        name=model.name,
        aliases=model.aliases if aliases is None else aliases,
        version=model.version,
        input_modalities=inputs,
        output_modalities=[models_pb2.IMAGE],
        image_price=model.image_price,
        created=_CREATED,
        max_prompt_length=model.max_prompt_length,
        system_fingerprint=SYSTEM_FINGERPRINT,
    )


class ModelsService(models_pb2_grpc.ModelsServicer):
    """Models: list and get language, image and (none) embedding models."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    async def ListLanguageModels(
        self, request: empty_pb2.Empty, context: grpc.aio.ServicerContext
    ) -> models_pb2.ListLanguageModelsResponse:
        return models_pb2.ListLanguageModelsResponse(
            models=[
                language_model_proto(m, self.catalog.served_aliases(m.name))
                for m in self.catalog.language_models
            ]
        )

    async def ListImageGenerationModels(
        self, request: empty_pb2.Empty, context: grpc.aio.ServicerContext
    ) -> models_pb2.ListImageGenerationModelsResponse:
        return models_pb2.ListImageGenerationModelsResponse(
            models=[
                image_model_proto(m, self.catalog.served_aliases(m.name))
                for m in self.catalog.image_models
            ]
        )

    async def ListEmbeddingModels(
        self, request: empty_pb2.Empty, context: grpc.aio.ServicerContext
    ) -> models_pb2.ListEmbeddingModelsResponse:
        return models_pb2.ListEmbeddingModelsResponse()

    async def GetLanguageModel(
        self, request: models_pb2.GetModelRequest, context: grpc.aio.ServicerContext
    ) -> models_pb2.LanguageModel:
        def work() -> models_pb2.LanguageModel:
            model = resolve_language_model(self.catalog, request.name)
            return language_model_proto(model, self.catalog.served_aliases(model.name))

        return await answer(context, work)

    async def GetImageGenerationModel(
        self, request: models_pb2.GetModelRequest, context: grpc.aio.ServicerContext
    ) -> models_pb2.ImageGenerationModel:
        def work() -> models_pb2.ImageGenerationModel:
            model = resolve_image_model(self.catalog, request.name)
            return image_model_proto(model, self.catalog.served_aliases(model.name))

        return await answer(context, work)

    async def GetEmbeddingModel(
        self, request: models_pb2.GetModelRequest, context: grpc.aio.ServicerContext
    ) -> models_pb2.EmbeddingModel:
        def work() -> models_pb2.EmbeddingModel:
            raise model_not_found(request.name)

        return await answer(context, work)


class TokenizeService(tokenize_pb2_grpc.TokenizeServicer):
    """Tokenize: the same rule usage counting uses (see ``tokenizer``)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    async def TokenizeText(
        self, request: tokenize_pb2.TokenizeTextRequest, context: grpc.aio.ServicerContext
    ) -> tokenize_pb2.TokenizeTextResponse:
        def work() -> tokenize_pb2.TokenizeTextResponse:
            model = resolve_language_model(self.catalog, request.model)
            tokens = [
                tokenize_pb2.Token(
                    token_id=token_id(t), string_token=t, token_bytes=t.encode("utf-8")
                )
                for t in split_tokens(request.text)
            ]
            return tokenize_pb2.TokenizeTextResponse(tokens=tokens, model=model.name)

        return await answer(context, work)
