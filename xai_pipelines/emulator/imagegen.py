"""Real, decodable PNG images that differ per prompt and index.

Pixel sizes: the longest side is ``LONG_SIDE[resolution]`` (256 px for 1k,
512 px for 2k: kept small so tests stay fast) and the other side follows the
aspect ratio; ``auto`` is square.
"""

from __future__ import annotations

import struct
import zlib

from xai_pipelines.emulator.conversation import digest
from xai_pipelines.proto import image_pb2

LONG_SIDE: dict[int, int] = {image_pb2.IMG_RESOLUTION_1K: 256, image_pb2.IMG_RESOLUTION_2K: 512}

_RATIOS: dict[int, tuple[float, float]] = {
    image_pb2.IMG_ASPECT_RATIO_1_1: (1, 1),
    image_pb2.IMG_ASPECT_RATIO_3_4: (3, 4),
    image_pb2.IMG_ASPECT_RATIO_4_3: (4, 3),
    image_pb2.IMG_ASPECT_RATIO_9_16: (9, 16),
    image_pb2.IMG_ASPECT_RATIO_16_9: (16, 9),
    image_pb2.IMG_ASPECT_RATIO_2_3: (2, 3),
    image_pb2.IMG_ASPECT_RATIO_3_2: (3, 2),
    image_pb2.IMG_ASPECT_RATIO_AUTO: (1, 1),
    image_pb2.IMG_ASPECT_RATIO_9_19_5: (9, 19.5),
    image_pb2.IMG_ASPECT_RATIO_19_5_9: (19.5, 9),
    image_pb2.IMG_ASPECT_RATIO_9_20: (9, 20),
    image_pb2.IMG_ASPECT_RATIO_20_9: (20, 9),
    image_pb2.IMG_ASPECT_RATIO_1_2: (1, 2),
    image_pb2.IMG_ASPECT_RATIO_2_1: (2, 1),
}


def pixel_size(aspect_ratio: int, resolution: int) -> tuple[int, int]:
    """(width, height) for an aspect ratio and resolution enum (unset: 1:1, 1k)."""
    w, h = _RATIOS.get(aspect_ratio, (1, 1))
    long_side = LONG_SIDE.get(resolution, LONG_SIDE[image_pb2.IMG_RESOLUTION_1K])
    if w >= h:
        return long_side, max(1, round(long_side * h / w))
    return max(1, round(long_side * w / h)), long_side


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(width: int, height: int, rows: list[bytes]) -> bytes:
    """Encode 8-bit RGB ``rows`` (each ``3 * width`` bytes) as PNG."""
    raw = b"".join(b"\x00" + row for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )


def render(prompt: str, index: int, width: int, height: int, salt: str = "") -> bytes:
    """A PNG whose colours and pattern derive from ``prompt``, ``index`` and ``salt``.

    The picture is horizontal bands, each split by a diagonal edge into two
    colours, so any change in the inputs changes the pixels.
    """
    key = digest(prompt, index, salt)
    palette = [bytes(key[i : i + 3]) for i in range(0, 24, 3)]
    band = 8 + key[24] % 24
    slope = 1 + key[25] % 3
    offset = key[26] % max(1, width)
    rows = []
    for y in range(height):
        stripe = y // band
        left = palette[stripe % len(palette)]
        right = palette[(stripe * 3 + 5) % len(palette)]
        edge = (offset + y * slope) % (width + 1)
        rows.append(left * edge + right * (width - edge))
    return encode_png(width, height, rows)
