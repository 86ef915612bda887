"""The Image gRPC service on top of :class:`ImageEngine`."""

from __future__ import annotations

import grpc

from xai_pipelines.emulator.errors import answer
from xai_pipelines.emulator.image_engine import ImageEngine
from xai_pipelines.proto import image_pb2, image_pb2_grpc


class ImageService(image_pb2_grpc.ImageServicer):
    """Image: GenerateImage."""

    def __init__(self, engine: ImageEngine) -> None:
        self.engine = engine

    async def GenerateImage(
        self, request: image_pb2.GenerateImageRequest, context: grpc.aio.ServicerContext
    ) -> image_pb2.ImageResponse:
        return await answer(context, lambda: self.engine.generate(request))
