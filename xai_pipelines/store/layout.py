"""The output directory of a run: where each file lives, and image saving."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from xai_pipelines.records import (
    ErrorLine,
    Manifest,
    ResultLine,
    decode_error_line,
    decode_manifest,
    decode_result_line,
    encode_manifest,
    manifest_from,
)
from xai_pipelines.store.files import (
    JsonlAppender,
    atomic_write_bytes,
    fsync_dir,
    read_jsonl,
    read_records,
)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
#: The lock file a writer of the directory holds (``flock``).
LOCK_FILE = ".lock"


class DirectoryBusyError(Exception):
    """Another process is writing to the output directory (it holds the lock)."""


def safe_name(job_id: str) -> str:
    """A file-system-safe directory name for ``job_id``, distinct for distinct ids.

    Ids made only of ``[A-Za-z0-9._-]`` (and not ``.``/``..``) are kept as they are;
    others get their unsafe characters replaced and a short hash appended.
    """
    cleaned = _UNSAFE.sub("_", job_id)[:120]
    if cleaned == job_id and job_id not in ("", ".", ".."):
        return job_id
    return f"{cleaned}-{hashlib.sha256(job_id.encode()).hexdigest()[:8]}"


class OutputDir:
    """Paths and file operations of one output directory.

    Layout::

        manifest.json  plan.jsonl  results.jsonl  errors.jsonl
        images/<job-id>/<index>.<ext>  usage.json  summary.md
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    @property
    def manifest(self) -> Path:
        """``manifest.json``."""
        return self.root / "manifest.json"

    @property
    def plan(self) -> Path:
        """``plan.jsonl``."""
        return self.root / "plan.jsonl"

    @property
    def results(self) -> Path:
        """``results.jsonl``."""
        return self.root / "results.jsonl"

    @property
    def errors(self) -> Path:
        """``errors.jsonl``."""
        return self.root / "errors.jsonl"

    @property
    def images(self) -> Path:
        """``images/``."""
        return self.root / "images"

    @property
    def usage(self) -> Path:
        """``usage.json``."""
        return self.root / "usage.json"

    @property
    def summary(self) -> Path:
        """``summary.md``."""
        return self.root / "summary.md"

    def create(self) -> None:
        """Create the directory (and parents) if missing."""
        self.root.mkdir(parents=True, exist_ok=True)

    def read_manifest(self) -> dict[str, Any] | None:
        """The manifest as a plain dict, or None when the directory holds no run yet."""
        import json

        if not self.manifest.exists():
            return None
        value = json.loads(self.manifest.read_text())
        return value if isinstance(value, dict) else None

    def load_manifest(self) -> Manifest | None:
        """The manifest as a record, or None when the directory holds no run yet.

        Raises:
            RecordError: The file is not a manifest (or one of a newer version).
        """
        if not self.manifest.exists():
            return None
        return decode_manifest(self.manifest.read_bytes())

    def write_manifest(self, manifest: Manifest | dict[str, Any]) -> None:
        """Replace the manifest atomically (a dict is checked against :class:`Manifest` first).

        Raises:
            RecordError: ``manifest`` is not a valid manifest.
        """
        record = manifest if isinstance(manifest, Manifest) else manifest_from(manifest)
        atomic_write_bytes(self.manifest, encode_manifest(record))

    def open_results(self, fsync_interval_s: float = 0.5) -> JsonlAppender:
        """Appender for ``results.jsonl`` (a torn tail from a crash is dropped first)."""
        return JsonlAppender(self.results, fsync_interval_s)

    def open_errors(self, fsync_interval_s: float = 0.5) -> JsonlAppender:
        """Appender for ``errors.jsonl``."""
        return JsonlAppender(self.errors, fsync_interval_s)

    def open_plan(self, fsync_interval_s: float = 0.5) -> JsonlAppender:
        """A fresh ``plan.jsonl`` (the plan is rewritten as it is expanded, every run)."""
        self.plan.unlink(missing_ok=True)
        return JsonlAppender(self.plan, fsync_interval_s)

    def iter_results(self) -> Any:
        """Result lines as plain dicts, lazily (a torn last line is skipped)."""
        return read_jsonl(self.results)

    def iter_errors(self) -> Any:
        """Error lines as plain dicts, lazily (a torn last line is skipped)."""
        return read_jsonl(self.errors)

    def result_lines(self) -> Iterator[ResultLine]:
        """Result lines as records, lazily (a torn last line is skipped; old versions read)."""
        return read_records(self.results, decode_result_line)

    def error_lines(self) -> Iterator[ErrorLine]:
        """Error lines as records, lazily (a torn last line is skipped; old versions read)."""
        return read_records(self.errors, decode_error_line)

    def image_path(self, job_id: str, index: int, ext: str) -> Path:
        """Where image ``index`` of ``job_id`` is stored."""
        return self.images / safe_name(job_id) / f"{index}.{ext}"

    def save_image(self, job_id: str, index: int, ext: str, data: bytes) -> Path:
        """Write an image under a temporary name, fsync it, then rename it into place.

        Returns:
            The final path.
        """
        path = self.image_path(job_id, index, ext)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
        try:
            with tmp.open("wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):  # a full disk must not keep the partial copy
                tmp.unlink()
            raise
        fsync_dir(path.parent)
        return path

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the directory's lock (``.lock``, the one ``xai-run run`` holds) for the block.

        Raises:
            DirectoryBusyError: Another process holds it.
            OSError: The lock file cannot be opened.
        """
        fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise DirectoryBusyError(f"another xai-run is writing to {self.root}") from None
            yield
        finally:
            os.close(fd)

    def relative(self, path: Path) -> str:
        """``path`` relative to the output directory, with forward slashes."""
        return path.relative_to(self.root).as_posix()
