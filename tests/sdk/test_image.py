"""Image generation against the emulator, with real HTTP downloads of image URLs."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from xai_pipelines.sdk import Client
from xai_pipelines.sdk.errors import ImageDownloadError, RequestValidationError
from xai_pipelines.sdk.image_bytes import extension_for, sniff_mime

MAGIC = {b"\x89PNG\r\n\x1a\n": ".png", b"\xff\xd8\xff": ".jpg"}


def test_base64_image_decodes_and_saves_with_the_right_extension(client: Client, tmp_path: Path):
    img = client.image.sample("a red fox", model="grok-imagine-image", image_format="base64")
    data = img.image
    assert sniff_mime(data) in {"image/png", "image/jpeg", "image/webp"}
    assert img.url is None and base64.b64decode(img.base64) == data
    assert img.respect_moderation is True and img.attempts == 1
    path = img.save(tmp_path / "fox.bin")
    assert path == tmp_path / f"fox{extension_for(data)}" and path.read_bytes() == data
    into_dir = img.save(tmp_path)
    assert into_dir.parent == tmp_path and into_dir.stem == "0"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_url_images_download_over_http(client: Client, emulator, tmp_path: Path):
    imgs = client.image.sample_batch("a red fox", n=3, image_format="url")
    assert [i.index for i in imgs] == [0, 1, 2]
    for img in imgs:
        assert img.url and img.url.startswith(emulator.http_url)
        assert sniff_mime(img.image) is not None
        assert base64.b64decode(img.base64) == img.image
        assert img.save(tmp_path / f"img{img.index}").exists()
    assert imgs[0].usage == imgs[1].usage and imgs[0].to_dict()["url"] == imgs[0].url


def test_executor_request_form(client: Client):
    request = {"prompt": "a fox", "model": "grok-imagine-image", "n": 2, "image_format": "base64",
               "aspect_ratio": "16:9", "resolution": "1k", "quality": "low"}  # fmt: skip
    assert len(client.image.sample_batch(**request)) == 2
    assert client.image.sample(**{**request, "n": 1}).image
    with pytest.raises(RequestValidationError, match="use sample_batch"):
        client.image.sample(**request)


def test_same_prompt_same_image_and_editing_input(client: Client):
    a = client.image.sample("a lighthouse").image
    assert client.image.sample("a lighthouse").image == a
    edited = client.image.sample("make it red", image_url=a)
    assert edited.image


def test_download_failure_is_an_image_download_error(client: Client, emulator):
    img = client.image.sample("a fox", image_format="url")
    img.proto.url = emulator.http_url + "/no/such/image.png"
    with pytest.raises(ImageDownloadError, match="could not download image"):
        _ = img.image


def test_magic_bytes():
    for magic, ext in MAGIC.items():
        assert extension_for(magic + b"rest") == ext
    assert extension_for(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == ".webp"
    assert extension_for(b"plain text") == ".bin"


def test_downloads_send_the_user_agent_and_retry_server_errors(client: Client):
    import http.server
    import threading

    png = b"\x89PNG\r\n\x1a\n" + b"0" * 32
    seen: list[tuple[int, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            status = 503 if not seen else 200
            seen.append((status, self.headers.get("User-Agent", "")))
            self.send_response(status)
            self.send_header("Content-Length", str(len(png) if status == 200 else 0))
            self.end_headers()
            if status == 200:
                self.wfile.write(png)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        img = client.image.sample("a fox", image_format="url")
        img.proto.url = f"http://127.0.0.1:{server.server_port}/fox"
        assert img.image == png
    finally:
        server.shutdown()
        server.server_close()
    assert [s for s, _ in seen] == [503, 200]
    assert all(agent.startswith("xai-pipelines/") for _, agent in seen)


def test_an_image_without_data_or_url_is_an_error(client: Client):
    from xai_pipelines.proto import image_pb2
    from xai_pipelines.sdk.errors import InvalidResponseError

    withheld = image_pb2.GeneratedImage(respect_moderation=False)
    [img] = client.image.wrap(image_pb2.ImageResponse(model="m", images=[withheld]))
    with pytest.raises(InvalidResponseError, match="without data or URL"):
        _ = img.image
