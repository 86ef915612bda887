"""The Models and Tokenize gRPC services, both answered from the catalog."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2

from xai_pipelines.emulator.catalog import Catalog, ImageModelSpec, LanguageModelSpec
from xai_pipelines.emulator.chat_engine import SYSTEM_FINGERPRINT
from xai_pipelines.emulator.errors import answer, not_found
from xai_pipelines.emulator.tokenizer import split_tokens, token_id
from xai_pipelines.emulator.validation import resolve_language_model
from xai_pipelines.proto import models_pb2, models_pb2_grpc, tokenize_pb2, tokenize_pb2_grpc
from xai_pipelines.proto._pool import Timestamp

_CREATED = Timestamp(seconds=1_750_000_000)


def language_model_proto(model: LanguageModelSpec) -> models_pb2.LanguageModel:
    """The Models answer for ``model``."""
    inputs = [models_pb2.TEXT, models_pb2.IMAGE] if model.accepts_images else [models_pb2.TEXT]
    return models_pb2.LanguageModel(
        name=model.name,
        aliases=model.aliases,
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


def image_model_proto(model: ImageModelSpec) -> models_pb2.ImageGenerationModel:
    """The Models answer for image model ``model``."""
    return models_pb2.ImageGenerationModel(
        name=model.name,
        aliases=model.aliases,
        version=model.version,
        input_modalities=[models_pb2.TEXT, models_pb2.IMAGE],
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

    def ListLanguageModels(
        self, request: empty_pb2.Empty, context: grpc.ServicerContext
    ) -> models_pb2.ListLanguageModelsResponse:
        return models_pb2.ListLanguageModelsResponse(
            models=[language_model_proto(m) for m in self.catalog.language_models]
        )

    def ListImageGenerationModels(
        self, request: empty_pb2.Empty, context: grpc.ServicerContext
    ) -> models_pb2.ListImageGenerationModelsResponse:
        return models_pb2.ListImageGenerationModelsResponse(
            models=[image_model_proto(m) for m in self.catalog.image_models]
        )

    def ListEmbeddingModels(
        self, request: empty_pb2.Empty, context: grpc.ServicerContext
    ) -> models_pb2.ListEmbeddingModelsResponse:
        return models_pb2.ListEmbeddingModelsResponse()

    def GetLanguageModel(
        self, request: models_pb2.GetModelRequest, context: grpc.ServicerContext
    ) -> models_pb2.LanguageModel:
        return answer(
            context,
            lambda: language_model_proto(resolve_language_model(self.catalog, request.name)),
        )

    def GetImageGenerationModel(
        self, request: models_pb2.GetModelRequest, context: grpc.ServicerContext
    ) -> models_pb2.ImageGenerationModel:
        def work() -> models_pb2.ImageGenerationModel:
            model = self.catalog.image(request.name)
            if model is None:
                raise not_found(f"The image model {request.name!r} does not exist")
            return image_model_proto(model)

        return answer(context, work)

    def GetEmbeddingModel(
        self, request: models_pb2.GetModelRequest, context: grpc.ServicerContext
    ) -> models_pb2.EmbeddingModel:
        def work() -> models_pb2.EmbeddingModel:
            raise not_found(f"The embedding model {request.name!r} does not exist")

        return answer(context, work)


class TokenizeService(tokenize_pb2_grpc.TokenizeServicer):
    """Tokenize: the same rule usage counting uses (see ``tokenizer``)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def TokenizeText(
        self, request: tokenize_pb2.TokenizeTextRequest, context: grpc.ServicerContext
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

        return answer(context, work)
