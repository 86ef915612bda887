"""Crash-safe file primitives: atomic replacement and durable append-only JSON lines.

A reader of these files after a crash (SIGKILL, power loss) sees either the old
or the new content of a replaced file, and a JSON-lines file whose only possible
damage is a torn last line, which :func:`read_jsonl` detects and drops.

A write that fails (disk full, read-only or immutable file, I/O error) leaves
no partial content behind where it can be avoided: an append cut short is
truncated back to the end of the last complete line, and a replacement's temp
file is removed. The appender raises :class:`WriteError`, which names the file.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import threading
from collections.abc import Callable, Container, Iterator
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from xai_pipelines.records import ErrorLine, ResultLine, encode_line
from xai_pipelines.spec.canonical import plain_json_bytes

_R = TypeVar("_R")

log = logging.getLogger(__name__)


class WriteError(OSError):
    """A write to ``path`` failed; ``str()`` names the file and the OS error.

    An ``OSError`` (same ``errno`` and ``strerror``, ``filename`` the file meant,
    not a temp copy), so callers that handle OS errors still do.

    Attributes:
        path: The file that could not be written.
        error: The OS error the write raised.
    """

    def __init__(self, path: Path, error: OSError) -> None:
        super().__init__(error.errno, error.strerror, str(path))
        self.path = path
        self.error = error

    def __str__(self) -> str:
        reason = (
            f"[Errno {self.error.errno}] {self.error.strerror}"
            if self.error.errno is not None
            else str(self.error)
        )
        return f"cannot write {self.path}: {reason}"

    @property
    def out_of_space(self) -> bool:
        """The device (or the user's quota) is full: freeing space may let the write through."""
        return self.errno in (errno.ENOSPC, errno.EDQUOT)


def fsync_dir(path: Path) -> None:
    """Make a rename or file creation inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: write a temp file, fsync it, rename it over ``path``.

    Raises:
        WriteError: The write failed (``path`` is left as it was, no temp file behind).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as exc:
        # a full disk must not keep the half-written copy (nor its space)
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and not isinstance(exc, WriteError):
            raise WriteError(path, exc) from exc
        raise
    fsync_dir(path.parent)


def atomic_write_json(path: Path, value: Any) -> None:
    """Replace ``path`` with ``value`` as indented JSON."""
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    atomic_write_bytes(path, text.encode())


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8)."""
    atomic_write_bytes(path, text.encode())


#: Reads a JSON line several times faster than ``json.loads`` (a run reads its whole
#: plan back a line per job); the same values for every valid JSON line.
_decode_line = msgspec.json.Decoder().decode


def dumps_line(value: Any) -> bytes:
    """One compact JSON line, newline-terminated."""
    fast = plain_json_bytes(value)  # the same bytes, when msgspec writes what json would
    if fast is not None:
        return fast + b"\n"
    return (json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def repair_tail(path: Path) -> int:
    """Truncate a torn last line (no trailing newline, or not valid JSON).

    Returns:
        The number of bytes dropped (0 when the file was intact or absent).
    """
    if not path.exists():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with path.open("rb+") as f:
        # Read backwards in blocks until the last two newlines are found.
        block = 65536
        pos = size
        tail = b""
        while pos > 0 and tail.count(b"\n") < 2:
            step = min(block, pos)
            pos -= step
            f.seek(pos)
            tail = f.read(step) + tail
        keep = size
        if not tail.endswith(b"\n"):
            keep = pos + tail.rfind(b"\n") + 1
        else:
            last_start = tail.rfind(b"\n", 0, len(tail) - 1) + 1
            if not _is_json(tail[last_start:]):
                keep = pos + last_start
        if keep < size:
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
        return size - keep


def _is_json(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of ``path``, one per line, lazily.

    A torn last line (no trailing newline, or not valid JSON: a crash mid-write)
    is skipped, as :func:`repair_tail` would drop it; a damaged line elsewhere
    is corruption and raises ``ValueError`` naming the line.
    """
    for lineno, raw in iter_lines(path):
        yield _parse(raw, path, lineno)


def read_records(
    path: Path, decode: Callable[[bytes], _R], skip: Container[int] = ()
) -> Iterator[_R]:
    """Yield the records of a JSON-lines file, each decoded by ``decode``, lazily.

    A torn last line is skipped as in :func:`read_jsonl`, and so are the lines whose
    numbers (as :func:`iter_lines` counts them) are in ``skip``.

    Raises:
        ValueError: A line that is not a valid record (naming the file and line).
    """
    for lineno, raw in iter_lines(path):
        if skip and lineno in skip:
            continue
        try:
            yield decode(raw)
        except ValueError as exc:
            raise ValueError(f"{path}:{lineno}: {exc}") from exc


def iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """The non-blank lines of ``path`` with their numbers, lazily, without a torn last line."""
    if not path.exists():
        return
    with path.open("rb") as f:
        pending: bytes | None = None
        lineno = 0
        for raw in f:
            if pending is not None and pending.strip():
                yield lineno, pending
            lineno += 1
            pending = raw
        if pending is not None and pending.endswith(b"\n") and _is_json(pending):
            yield lineno, pending


def _parse(raw: bytes, path: Path, lineno: int) -> dict[str, Any]:
    try:
        value = _decode_line(raw)
    except ValueError:
        # what msgspec refuses, json may still read (NaN, Infinity) or say why it cannot
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise ValueError(f"{path}:{lineno}: damaged JSON line: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError(f"{path}:{lineno}: expected a JSON object, got {type(value).__name__}")
    return value


class JsonlAppender:
    """Append-only JSON-lines writer, safe to share between threads.

    Every line reaches the OS with one ``write`` call on an ``O_APPEND``
    descriptor, so a killed process never leaves a line half in a user-space
    buffer; ``fsync`` runs at most every ``fsync_interval_s`` (and on close), which
    bounds what a power loss can take.

    A write that fails raises :class:`WriteError`. If it had written part of the
    line (a disk that filled up mid-line), the file is truncated back to where
    the line began; when even that fails (the file turned immutable), the next
    append retries the cut first and writes nothing until it succeeds, so a
    torn line is never followed by another one. A failed background ``fsync``
    is raised by the next append (once) and by :meth:`close`.

    Args:
        path: File to append to (created if missing; a torn tail is repaired first).
        fsync_interval_s: Longest time between a write and its fsync.
    """

    def __init__(self, path: Path, fsync_interval_s: float = 0.5) -> None:
        self.path = path
        repair_tail(path)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._interval = fsync_interval_s
        self._lock = threading.Lock()  # guards writes and the state below
        self._sync_lock = threading.Lock()  # one fsync at a time; close waits for it
        self._dirty = False
        self._closed = False
        self._good: int | None = None  # set: a failed write may have left bytes past here
        self._sync_failure: WriteError | None = None
        self._stop = threading.Event()
        self._syncer = threading.Thread(
            target=self._sync_loop, name=f"fsync-{path.name}", daemon=True
        )
        self._syncer.start()

    def append(self, value: Any) -> None:
        """Write one JSON object as a line."""
        self.write_line(dumps_line(value))

    def append_record(self, record: ResultLine | ErrorLine) -> None:
        """Write one record as a line (its format's encoder, ``schema_version`` stamped)."""
        self.write_line(encode_line(record))

    def write_line(self, data: bytes) -> None:
        """Write one encoded, newline-terminated line with a single ``write``.

        Raises:
            ValueError: The appender is closed.
            WriteError: The line could not be written (nothing of it is left in the
                file), or an earlier background fsync failed.
        """
        with self._lock:
            if self._closed:
                raise ValueError(f"{self.path} is closed")
            failure, self._sync_failure = self._sync_failure, None
            if failure is not None:
                raise failure
            try:
                if self._good is not None:
                    self._cut()
                start = os.lseek(self._fd, 0, os.SEEK_END)  # the size; 3x cheaper than fstat
            except OSError as exc:
                raise WriteError(self.path, exc) from exc
            view = memoryview(data)
            try:
                while view:
                    view = view[os.write(self._fd, view) :]
            except OSError as exc:
                self._good = start
                try:
                    self._cut()
                except OSError as cut_error:
                    log.warning("%s: cannot cut a failed append back yet: %s", self.path, cut_error)
                raise WriteError(self.path, exc) from exc
            self._dirty = True

    def _cut(self) -> None:
        """Truncate what a failed append left past the last complete line (lock held)."""
        assert self._good is not None
        if os.fstat(self._fd).st_size > self._good:
            os.ftruncate(self._fd, self._good)
        self._good = None

    def sync(self) -> None:
        """fsync now if anything was written since the last fsync.

        The fsync runs outside the append lock: appends go on while the disk flushes.

        Raises:
            WriteError: The fsync failed (the lines since the last one may be lost).
        """
        with self._sync_lock:
            with self._lock:
                if self._closed or not self._dirty:
                    return
                self._dirty = False
            try:
                os.fsync(self._fd)
            except OSError as exc:
                raise WriteError(self.path, exc) from exc

    def _sync_loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.sync()
            except WriteError as exc:  # the writers learn of it on their next append
                log.error("%s", exc)
                with self._lock:
                    self._sync_failure = exc

    def close(self) -> None:
        """fsync and close; further appends raise.

        Raises:
            WriteError: The final fsync failed (the descriptor is closed all the same).
        """
        self._stop.set()
        with self._sync_lock:
            with self._lock:
                if self._closed:
                    return
                self._closed = True
                if self._good is not None:  # a torn tail left at the end: repair_tail's job
                    with contextlib.suppress(OSError):
                        self._cut()
            try:
                os.fsync(self._fd)
            except OSError as exc:
                raise WriteError(self.path, exc) from exc
            finally:
                os.close(self._fd)

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: Space a run holds back for its last writes (the final manifest and its temp copy).
RESERVE_BYTES = 256 * 1024


class SpaceReserve:
    """A file that holds disk space back, so a run that fills the disk can still end cleanly.

    The run creates it before its first job and releases it (deletes it) just
    before its last writes: when the disk filled up, those writes (the
    manifest marked ``failed``) find the reserved space free.

    Args:
        path: The reserve file (in the output directory).
        size: Bytes to hold back.
    """

    def __init__(self, path: Path, size: int = RESERVE_BYTES) -> None:
        self.path = path
        self.size = size
        self.held = False

    def hold(self) -> bool:
        """Allocate the space (not a sparse file: the blocks are taken now).

        Returns:
            False when the space could not be taken (the disk is already nearly full).
        """
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.size)
            finally:
                os.close(fd)
        except OSError as exc:
            log.warning("cannot hold %d bytes back in %s: %s", self.size, self.path.parent, exc)
            self.release()
            return False
        self.held = True
        return True

    def release(self) -> None:
        """Give the space back (delete the file); harmless when not held."""
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)
        self.held = False

    def __enter__(self) -> SpaceReserve:
        self.hold()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
