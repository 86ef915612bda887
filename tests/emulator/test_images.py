"""Image generation: n, base64 and URL forms, real PNG bytes, sizes, usage and cost."""

from __future__ import annotations

import base64
import io

import grpc
import pytest
import requests
from PIL import Image

from tests.emulator.conftest import rpc_error
from xai_pipelines.proto import image_pb2


def generate(stubs, **fields) -> image_pb2.ImageResponse:
    fields.setdefault("model", "grok-imagine-image")
    fields.setdefault("prompt", "a red fox")
    return stubs.image.GenerateImage(
        image_pb2.GenerateImageRequest(**fields), metadata=stubs.metadata
    )


def decode(data_url: str) -> bytes:
    assert data_url.startswith("data:image/png;base64,")
    return base64.b64decode(data_url.split(",", 1)[1])


def open_png(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    assert img.format == "PNG"
    return img


def test_n_images_differ_per_index_and_cost_per_image(stubs):
    r = generate(stubs, n=10, format=image_pb2.IMG_FORMAT_BASE64)
    assert len(r.images) == 10
    blobs = [decode(i.base64) for i in r.images]
    assert len(set(blobs)) == 10
    assert all(i.respect_moderation for i in r.images)
    assert r.usage.cost_in_usd_ticks == 10 * 200_000_000  # $0.02 per image
    assert r.model == "grok-imagine-image"


def test_edits_pay_for_input_images_too(stubs):
    url = "https://example.com/ref.png"
    r = generate(stubs, n=2, images=[image_pb2.ImageUrlContent(image_url=url)] * 3)
    # $0.02 per output image and $0.002 per input image.
    assert r.usage.cost_in_usd_ticks == 2 * 200_000_000 + 3 * 20_000_000
    one = generate(stubs, image=image_pb2.ImageUrlContent(image_url=url))
    assert one.usage.cost_in_usd_ticks == 200_000_000 + 20_000_000


def test_retired_image_models_are_served_by_their_redirect(stubs):
    pro = generate(stubs, model="grok-imagine-image-pro")
    assert pro.model == "grok-imagine-image-quality"
    assert pro.usage.cost_in_usd_ticks == 400_000_000
    old = generate(stubs, model="grok-2-image", format=image_pb2.IMG_FORMAT_BASE64)
    assert old.model == "grok-imagine-image"
    same = generate(stubs, format=image_pb2.IMG_FORMAT_BASE64)
    assert decode(old.images[0].base64) == decode(same.images[0].base64)


def test_same_prompt_same_image_other_prompt_differs(stubs):
    a = decode(generate(stubs, prompt="a red fox").images[0].base64)
    b = decode(generate(stubs, prompt="a red fox").images[0].base64)
    c = decode(generate(stubs, prompt="a blue whale").images[0].base64)
    assert a == b != c
    assert open_png(a).tobytes() != open_png(c).tobytes()


def test_url_images_download_from_the_http_host(stubs, emulator):
    r = generate(stubs, n=2, format=image_pb2.IMG_FORMAT_URL)
    urls = [i.url for i in r.images]
    assert all(u.startswith(emulator.http_url + "/") for u in urls)
    bodies = []
    for url in urls:
        resp = requests.get(url, timeout=5)
        assert resp.status_code == 200 and resp.headers["Content-Type"] == "image/png"
        open_png(resp.content)
        bodies.append(resp.content)
    assert bodies[0] != bodies[1]
    assert requests.get(emulator.http_url + "/images/missing.png", timeout=5).status_code == 404


@pytest.mark.parametrize(
    ("ratio", "resolution", "size"),
    [
        (image_pb2.IMG_ASPECT_RATIO_1_1, image_pb2.IMG_RESOLUTION_1K, (256, 256)),
        (image_pb2.IMG_ASPECT_RATIO_16_9, image_pb2.IMG_RESOLUTION_1K, (256, 144)),
        (image_pb2.IMG_ASPECT_RATIO_9_16, image_pb2.IMG_RESOLUTION_2K, (288, 512)),
        (image_pb2.IMG_ASPECT_RATIO_3_2, image_pb2.IMG_RESOLUTION_2K, (512, 341)),
        (image_pb2.IMG_ASPECT_RATIO_AUTO, image_pb2.IMG_RESOLUTION_1K, (256, 256)),
    ],
)
def test_pixel_size_follows_aspect_ratio_and_resolution(stubs, ratio, resolution, size):
    r = generate(stubs, aspect_ratio=ratio, resolution=resolution)
    assert open_png(decode(r.images[0].base64)).size == size


@pytest.mark.parametrize(
    ("fields", "code", "text"),
    [
        ({"n": 0}, grpc.StatusCode.INVALID_ARGUMENT, "n must be in [1, 10]"),
        ({"n": 11}, grpc.StatusCode.INVALID_ARGUMENT, "n must be in [1, 10]"),
        ({"prompt": "  "}, grpc.StatusCode.INVALID_ARGUMENT, "prompt must not be empty"),
        ({"model": "dall-e"}, grpc.StatusCode.NOT_FOUND, "The model dall-e does not exist"),
        ({"model": "grok-4"}, grpc.StatusCode.NOT_FOUND, "The model grok-4 does not exist"),
        ({"prompt": "x" * 8001}, grpc.StatusCode.INVALID_ARGUMENT, "at most 8000 characters"),
    ],
)
def test_invalid_image_requests(stubs, fields, code, text):
    err = rpc_error(generate, stubs, **fields)
    assert err.code() == code
    assert text in err.details()


def test_image_host_url_when_bound_to_every_interface():
    from xai_pipelines.emulator.http_host import ImageHost

    host = ImageHost("0.0.0.0", 0)
    host.start()
    try:
        url = host.put(b"png-bytes")
        assert url.startswith("http://127.0.0.1:")
        assert requests.get(url, timeout=5).content == b"png-bytes"
    finally:
        host.stop()
