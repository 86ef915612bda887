"""Where a command writes: the directory made (or checked) before anything else happens.

``run`` writes into its output directory, ``report`` and ``merge`` into the one
they are given. A path that cannot be a writable directory (a file, a path under
a file, a name longer than the filesystem allows, a read-only filesystem, no
permission) is refused here with one line naming the path, what is wrong and
what to do (exit 2), instead of an ``OSError`` traceback from deep in the run.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

__all__ = ["OutputPathError", "describe_os_error", "prepare_output_dir"]

#: How long a shown name part may be before it is cut (a 300-character name is unreadable).
_SHOWN = 40


class OutputPathError(Exception):
    """A path a command must write to cannot be written (the message is one line)."""


def _short(name: str) -> str:
    return name if len(name) <= _SHOWN else f"{name[:_SHOWN]}... ({len(name)} characters)"


def _too_long(path: Path) -> str:
    """Which part of ``path`` is too long, for ENAMETOOLONG."""
    limit = _name_max(path)
    for part in path.parts:
        if len(os.fsencode(part)) > limit:
            return (
                f"the name {_short(part)!r} is longer than this filesystem allows "
                f"({limit} bytes); use a shorter name"
            )
    return f"the path is longer than this system allows ({len(os.fsencode(str(path)))} bytes)"


def _name_max(path: Path) -> int:
    for parent in (path, *path.parents):
        try:
            return os.statvfs(parent).f_namemax
        except OSError:
            continue
    return 255


def _first_file(path: Path) -> Path | None:
    """The nearest ancestor of ``path`` that exists and is not a directory, if any."""
    for parent in reversed(path.parents):
        if os.path.exists(parent) and not os.path.isdir(parent):
            return parent
    return None


def _read_only(path: Path) -> bool:
    for parent in (path, *path.parents):
        try:
            return bool(os.statvfs(parent).f_flag & os.ST_RDONLY)
        except OSError:
            continue
    return False


def describe_os_error(exc: OSError, path: Path) -> str:
    """What went wrong writing at ``path`` and what to do, in words (one line, no traceback).

    Args:
        exc: The error the filesystem gave.
        path: The path the command was writing (the error's own filename is named too
            when it differs).
    """
    where = Path(exc.filename) if isinstance(exc.filename, str) else path
    if exc.errno == errno.ENAMETOOLONG:
        return _too_long(where)
    if exc.errno == errno.EROFS:
        return "read-only file system; use a directory on a writable filesystem"
    if exc.errno == errno.ENOTDIR:
        blocker = _first_file(where)
        if blocker is not None:
            return f"{blocker} is a file, so nothing can be made under it; use another path"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied writing {where}; use a directory you may write to"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left on the device of {where}; free some space or use another disk"
    named = "" if where == path else f" ({where})"
    return f"{exc.strerror or exc}{named}"


def prepare_output_dir(path: Path, label: str = "--out") -> None:
    """Make ``path`` a directory (parents too) and check that files can be made in it.

    Args:
        path: The output directory.
        label: How messages name where the path came from (``--out``, ``output.dir``).

    Raises:
        OutputPathError: It is a file, lies under a file, has a name too long for the
            filesystem, is on a read-only filesystem, or may not be written.
    """
    head = f"{label} {path}"
    try:
        if path.exists() and not path.is_dir():
            raise OutputPathError(
                f"{head} is a file, not a directory; name a directory (it is created if missing)"
            )
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # exists() too raises for a name that is too long
        raise OutputPathError(f"{head}: {describe_os_error(exc, path)}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        reason = (
            "read-only file system; use a directory on a writable filesystem"
            if _read_only(path)
            else "permission denied; use a directory you may write to"
        )
        raise OutputPathError(f"{head}: {reason}")
