"""Files a pipeline names: path resolution inside the pipeline's tree, schemas, images, attachments.

Relative paths resolve from the pipeline file's directory. A path that ends up
outside that directory (``..``, an absolute path, a symlink) is refused unless
the caller allows it (``allow_outside`` / ``--allow-outside``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from xai_pipelines.spec.errors import SpecError
from xai_pipelines.spec.yaml_source import parse_yaml

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}
MAX_IMAGE_BYTES = 10 * 1024 * 1024
URL_PREFIXES = ("http://", "https://", "data:")
_HASH_CHUNK = 1024 * 1024


def is_url(value: str) -> bool:
    """Whether an input image names a URL or data URL (anything else is a local path)."""
    return value.startswith(URL_PREFIXES)


class FileProblem(Exception):
    """A file cannot be used; the message says why (the caller adds the position)."""


class PipelineFiles:
    """Resolves and reads files relative to one pipeline, enforcing the directory rule.

    Args:
        base_dir: The pipeline file's directory.
        allow_outside: Allow paths that leave ``base_dir``.
    """

    def __init__(self, base_dir: Path, allow_outside: bool) -> None:
        self.given_dir = base_dir
        self.base_dir = base_dir.resolve()
        self.allow_outside = allow_outside
        self._images: dict[Path, str] = {}
        self._hashes: dict[Path, str] = {}

    def display(self, raw: str) -> str:
        """How a file named in the pipeline is shown in messages (relative to where we run)."""
        return str(self.given_dir / raw)

    def resolve(self, raw: str, *, must_exist: bool = True) -> Path:
        """The absolute path for ``raw``.

        Raises:
            FileProblem: Empty path, leaves the pipeline's directory, or missing.
        """
        if not raw.strip():
            raise FileProblem("empty path")
        if "\x00" in raw:
            raise FileProblem(f"path {raw!r} contains a NUL character (no file name can)")
        try:
            path = (self.base_dir / raw).resolve()
        except (OSError, RuntimeError) as exc:  # a symlink loop; a name the OS refuses
            raise FileProblem(f"path {raw!r} cannot be resolved: {exc}") from None
        if not self.allow_outside and not path.is_relative_to(self.base_dir):
            raise FileProblem(
                f"path '{raw}' leaves the pipeline's directory; pass --allow-outside "
                f"to allow it (pipeline directory: {self.base_dir})"
            )
        try:
            if must_exist and not path.is_file():
                what = "is a directory, not a file" if path.is_dir() else "does not exist"
                raise FileProblem(f"file '{raw}' {what} (looked for {path})")
        except OSError as exc:  # is_file() raises for a name longer than the filesystem allows
            raise FileProblem(f"file '{raw}' cannot be read: {exc.strerror or exc}") from None
        return path

    def read_json_schema(self, raw: str) -> dict[str, Any]:
        """Load a JSON Schema file (``.json``, or ``.yaml``/``.yml``)."""
        path = self.resolve(raw)
        try:
            text = path.read_text(encoding="utf-8")
            if path.suffix in (".yaml", ".yml"):
                data, _ = parse_yaml(text, str(path))
            else:
                data = json.loads(text)
        except (OSError, ValueError, SpecError) as exc:
            raise FileProblem(f"cannot read schema '{raw}': {exc}") from None
        except RecursionError:
            raise FileProblem(f"cannot read schema '{raw}': nested too deeply") from None
        if not isinstance(data, dict):
            raise FileProblem(f"schema '{raw}' must be a JSON object, got {type(data).__name__}")
        try:
            Draft202012Validator.check_schema(data)
        except SchemaError as exc:
            raise FileProblem(f"'{raw}' is not a valid JSON Schema: {exc.message}") from None
        return data

    def image_data_url(self, raw: str) -> str:
        """An image file as a ``data:`` URL (PNG, JPEG or WebP, at most 10 MiB)."""
        path = self.resolve(raw)
        cached = self._images.get(path)
        if cached is not None:
            return cached
        mime = self._check_image(raw, path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise FileProblem(f"cannot read '{raw}': {exc.strerror or exc}") from None
        url = f"data:{mime};base64,{base64.b64encode(data).decode()}"
        self._images[path] = url
        return url

    @staticmethod
    def _check_image(raw: str, path: Path) -> str:
        """The MIME type of an image file that may be sent (PNG, JPEG or WebP, <= 10 MiB)."""
        mime = IMAGE_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
        if mime is None or mime not in IMAGE_TYPES.values():
            raise FileProblem(
                f"image '{raw}' must be PNG, JPEG or WebP (got {path.suffix or 'no extension'})"
            )
        size = path.stat().st_size
        if size > MAX_IMAGE_BYTES:
            raise FileProblem(f"image '{raw}' is {size} bytes (expected at most {MAX_IMAGE_BYTES})")
        return mime

    def attachment(self, raw: str, *, image: bool = False) -> tuple[Path, str]:
        """A file to upload: its absolute path and the sha256 of its content (hex).

        The hash is computed once per path and process, so every job of a plan
        names the same content. ``image`` also requires PNG, JPEG or WebP of at
        most 10 MiB (an input image to edit).

        Raises:
            FileProblem: Missing, outside the pipeline's tree, unreadable, or not an image.
        """
        path = self.resolve(raw)
        if image:
            self._check_image(raw, path)
        cached = self._hashes.get(path)
        if cached is not None:
            return path, cached
        digest = hashlib.sha256()
        try:
            with path.open("rb") as handle:
                while chunk := handle.read(_HASH_CHUNK):
                    digest.update(chunk)
        except OSError as exc:
            raise FileProblem(f"cannot read '{raw}': {exc.strerror or exc}") from None
        self._hashes[path] = digest.hexdigest()
        return path, self._hashes[path]
