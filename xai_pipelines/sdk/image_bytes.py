"""Recognising image bytes: MIME type and file extension from the magic numbers."""

from __future__ import annotations

__all__ = ["extension_for", "sniff_mime"]

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)
_EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/bmp": ".bmp",
}


def sniff_mime(data: bytes) -> str | None:
    """The image MIME type the bytes start with, or None if unrecognised."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    for magic, mime in _SIGNATURES:
        if data.startswith(magic):
            return mime
    return None


def extension_for(data: bytes) -> str:
    """File extension (with the dot) for image bytes; ``.bin`` when unrecognised."""
    return _EXTENSIONS.get(sniff_mime(data) or "", ".bin")
