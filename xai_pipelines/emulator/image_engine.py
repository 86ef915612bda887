"""Image generation: GenerateImageRequest in, ImageResponse with real PNGs out."""

from __future__ import annotations

import base64

from xai_pipelines.emulator.catalog import Catalog
from xai_pipelines.emulator.http_host import ImageHost
from xai_pipelines.emulator.imagegen import pixel_size, render
from xai_pipelines.emulator.tokenizer import count_tokens
from xai_pipelines.emulator.validation import validate_image
from xai_pipelines.proto import image_pb2, usage_pb2


class ImageEngine:
    """Renders images; URLs point at ``host``.

    Args:
        catalog: Models and prices.
        host: HTTP host serving URL-form images.
    """

    def __init__(self, catalog: Catalog, host: ImageHost) -> None:
        self.catalog = catalog
        self.host = host

    def generate(self, request: image_pb2.GenerateImageRequest) -> image_pb2.ImageResponse:
        """Answer ``request``.

        Raises:
            EmulatorError: On an invalid request or unknown model.
        """
        model = validate_image(request, self.catalog)
        n = request.n if request.HasField("n") else 1
        width, height = pixel_size(request.aspect_ratio, request.resolution)
        salt = f"{model.name}|{request.image.image_url}|{request.quality}"
        response = image_pb2.ImageResponse(model=model.name)
        for index in range(n):
            png = render(request.prompt, index, width, height, salt)
            image = response.images.add(respect_moderation=True)
            if request.format == image_pb2.IMG_FORMAT_URL:
                image.url = self.host.put(png)
            else:
                image.base64 = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        prompt_tokens = count_tokens(request.prompt)
        # Edits are billed for their input images too (docs.x.ai/developers/
        # model-capabilities/images, read 2026-11-29).
        inputs = int(request.HasField("image")) + len(request.images)
        response.usage.CopyFrom(
            usage_pb2.SamplingUsage(
                prompt_tokens=prompt_tokens,
                prompt_text_tokens=prompt_tokens,
                total_tokens=prompt_tokens,
                cost_in_usd_ticks=n * model.image_price + inputs * model.input_image_price,
            )
        )
        return response
