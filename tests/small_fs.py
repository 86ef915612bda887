"""Real small file systems for the write-failure tests: a tmpfs to fill, an ext4 image for chattr.

Both need root (CI runs as root). A non-root developer machine skips with a
reason; under CI (``CI`` set) a missing root is a failure, not a skip.
tmpfs does not refuse writes to an open file that turned immutable
(``chattr +i``): ext4 does, so the immutable-file tests use a loop-mounted
ext4 image.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def require_root() -> None:
    """Skip on a non-root developer machine; fail under CI, where the tests must run."""
    if os.geteuid() == 0:
        return
    if os.environ.get("CI"):
        pytest.fail("these tests mount file systems (tmpfs, ext4 images): CI must run them as root")
    pytest.skip("mounting a tmpfs or an ext4 image needs root")


def _sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=30)


@contextlib.contextmanager
def tmpfs(size: str) -> Iterator[Path]:
    """A fresh tmpfs of ``size`` (``mount -o size=``), unmounted at the end."""
    require_root()
    where = Path(tempfile.mkdtemp(prefix="d1-tmpfs-"))
    _sh("mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where))
    try:
        yield where
    finally:
        _unmount(where)


@contextlib.contextmanager
def ext4(size_mb: int) -> Iterator[Path]:
    """A fresh ext4 file system in an image file, loop-mounted, unmounted at the end."""
    require_root()
    image = Path(tempfile.mkstemp(prefix="d1-ext4-", suffix=".img")[1])
    where = Path(tempfile.mkdtemp(prefix="d1-ext4-"))
    try:
        os.truncate(image, size_mb * 1024 * 1024)
        _sh("mkfs.ext4", "-q", "-F", "-m", "0", str(image))
        _sh("mount", "-o", "loop", str(image), str(where))
        try:
            yield where
        finally:
            _unmount(where)
    finally:
        image.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            where.rmdir()


def _unmount(where: Path) -> None:
    # an immutable file left behind must not keep the mount busy or the tmp dir undeletable
    subprocess.run(["chattr", "-R", "-i", str(where)], capture_output=True, timeout=30)
    subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)
    with contextlib.suppress(OSError):
        where.rmdir()


def fill(where: Path, name: str = "filler") -> Path:
    """Write zeros into ``where/name`` until the file system is full; the filler's path."""
    path = where / name
    chunk = b"\0" * 65536
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        while True:
            try:
                os.write(fd, chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    return path
                chunk = chunk[: len(chunk) // 2]
    finally:
        os.close(fd)


def set_immutable(path: Path, on: bool = True) -> None:
    """``chattr +i`` (or ``-i``) on ``path``."""
    _sh("chattr", "+i" if on else "-i", str(path))
