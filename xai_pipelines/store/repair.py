"""What a resume repairs before it appends: damaged lines, stale temp files.

A crash, a full disk or a disk that fails for a while can leave a line of
``results.jsonl`` or ``errors.jsonl`` torn (cut short, no newline), garbled (not
JSON) or not a record of its format, anywhere in the file: a later append lands
after the torn bytes once space returns. :func:`scan_lines` reads both files
once; every damaged line is *set aside*: its bytes are appended, unchanged, to
``set-aside/<file>.damaged`` and the file is rewritten atomically without it, so
every valid line stays and the job of a damaged result line (having no valid
result) runs again. A whole record that follows torn bytes on the same line (the
next append after a write the full disk cut short) is kept. Lines of a format newer than this version reads are not
damage: they stop the resume (:class:`NewerFormatError`).

Temp files of writers that were killed mid-write (``.<name>.<pid>.<thread>.tmp``
of :func:`~xai_pipelines.store.files.atomic_write_bytes`, ``.<name>.<pid>.part``
of image saving) are removed by :func:`remove_stale_temp_files`, unless the
process that named them is still alive on this machine.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from xai_pipelines.records import (
    SCHEMA_VERSION,
    RecordError,
    decode_error_line,
    decode_result_line,
)
from xai_pipelines.store.files import fsync_dir
from xai_pipelines.store.layout import OutputDir

#: Where set-aside lines go, inside the output directory.
SET_ASIDE_DIR = "set-aside"

#: Temp-file names of this package's writers: ``(pattern, group of the writer's pid)``.
TEMP_PATTERNS = (
    re.compile(r"^\..+\.(\d+)\.\d+\.tmp$"),  # store.files.atomic_write_bytes, report/junit
    re.compile(r"^\..+\.(\d+)\.part$"),  # OutputDir.save_image
)

_RECORD_START = b'{"id":'
_ID_AT_START = re.compile(rb'^\s*\{\s*"id"\s*:\s*("(?:[^"\\]|\\.)*")')


class NewerFormatError(ValueError):
    """A line written by a newer version of xai-pipelines: not damage, but not ours to read."""


@dataclass(frozen=True)
class DamagedLine:
    """A line set aside.

    Attributes:
        file: The file's name (``results.jsonl`` or ``errors.jsonl``).
        line: Its 1-based line number in the file before the repair.
        job_id: The job's id, when it could still be read from the line.
        reason: Why it is damaged.
        rerun: For a result line: its job has no other valid result line, so it runs again.
    """

    file: str
    line: int
    job_id: str | None
    reason: str
    rerun: bool = False

    def message(self) -> str:
        """The warning a resume prints: file, line, where the bytes went, what happens next."""
        aside = f"{SET_ASIDE_DIR}/{self.file}.damaged"
        text = f"{self.file}:{self.line}: damaged line set aside in {aside} ({self.reason})"
        if self.file != "results.jsonl":
            return text + "; the attempt it recorded is not counted"
        if self.job_id is None:
            return text + "; its job has no valid result, so it runs again"
        if self.rerun:
            return text + f"; job {self.job_id!r} has no valid result, so it runs again"
        return text + f"; job {self.job_id!r} keeps its other result line"


@dataclass
class LineScan:
    """What :func:`scan_lines` found in ``results.jsonl`` and ``errors.jsonl``.

    Attributes:
        finished: Job id -> digest of its last valid result line.
        lines_by_run: Run id -> result lines and final error lines it wrote (jobs it ended).
        errored: Ids of the jobs that have error lines.
        damaged: The lines set aside, in file order.
    """

    finished: dict[str, str] = field(default_factory=dict)
    lines_by_run: Counter[str] = field(default_factory=Counter)
    errored: set[str] = field(default_factory=set)
    damaged: list[DamagedLine] = field(default_factory=list)


def scan_lines(out: OutputDir) -> LineScan:
    """Read both line files once; set every damaged line aside (see the module docstring).

    Raises:
        NewerFormatError: A line of a newer format than this version reads.
        OSError: A file could not be read or rewritten.
    """
    scan = LineScan()
    found = _checked(out.results, _decode_result(scan))
    _set_aside(out, out.results, found)
    scan.damaged = [
        DamagedLine(d.file, d.line, d.job_id, d.reason, d.job_id not in scan.finished)
        for d, _ in found
    ]
    found = _checked(out.errors, _decode_error(scan))
    _set_aside(out, out.errors, found)
    scan.damaged += [d for d, _ in found]
    return scan


def _decode_result(scan: LineScan) -> Callable[[bytes], None]:
    def take(raw: bytes) -> None:
        line = decode_result_line(raw)
        scan.finished[line.id] = line.digest
        if line.run_id:
            scan.lines_by_run[line.run_id] += 1

    return take


def _decode_error(scan: LineScan) -> Callable[[bytes], None]:
    def take(raw: bytes) -> None:
        line = decode_error_line(raw)
        scan.errored.add(line.id)
        if line.final and line.run_id:
            scan.lines_by_run[line.run_id] += 1

    return take


def _checked(path: Path, take: Callable[[bytes], None]) -> list[tuple[DamagedLine, int]]:
    """Feed each line of ``path`` to ``take``; the damaged ones, with where a record resumes.

    A write torn by a full disk is followed, once space returns, by the next whole
    record on the same line: the record after the torn bytes is salvaged (fed to
    ``take``, kept in the file) and only the bytes before it are set aside. The
    offset is that of the salvaged record (0: nothing salvaged).
    """
    found: list[tuple[DamagedLine, int]] = []
    for lineno, raw in _physical_lines(path):
        if not raw.strip():
            continue
        try:
            take(raw)
        except RecordError as exc:
            _refuse_newer(path, lineno, raw)
            offset = _salvage(raw, take)
            torn = raw[:offset] if offset else raw
            found.append((DamagedLine(path.name, lineno, _job_id(torn), _reason(exc)), offset))
    return found


def _salvage(raw: bytes, take: Callable[[bytes], None]) -> int:
    """Where a whole record starts after torn bytes on ``raw`` (0: none does)."""
    start = raw.find(_RECORD_START, 1)
    while start > 0:
        try:
            take(raw[start:])
        except RecordError:
            start = raw.find(_RECORD_START, start + 1)
            continue
        return start
    return 0


def _physical_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    if not path.exists():
        return
    with path.open("rb") as f:
        yield from enumerate(f, 1)


def _reason(exc: RecordError) -> str:
    text = str(exc)
    if text.startswith("damaged JSON line"):
        return "torn or not JSON"
    first = text.splitlines()[0]
    return first if len(first) <= 120 else first[:117] + "..."


def _refuse_newer(path: Path, lineno: int, raw: bytes) -> None:
    try:
        value = json.loads(raw)
    except ValueError:
        return
    version = value.get("schema_version") if isinstance(value, dict) else None
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise NewerFormatError(
            f"{path}:{lineno}: a line of schema_version {version}; this version of "
            f"xai-pipelines reads up to {SCHEMA_VERSION} (upgrade to resume this directory)"
        )


def _job_id(raw: bytes) -> str | None:
    """The job id of a damaged line, when its start still holds one."""
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if isinstance(value, dict):
        found = value.get("id")
        return found if isinstance(found, str) else None
    match = _ID_AT_START.match(raw)
    if match is None:
        return None
    try:
        found = json.loads(match.group(1))
    except ValueError:
        return None
    return found if isinstance(found, str) else None


def _set_aside(out: OutputDir, path: Path, found: list[tuple[DamagedLine, int]]) -> None:
    """Move the damaged lines of ``path`` (their torn part) to ``set-aside/<name>.damaged``.

    A valid last record cut just before its newline is kept, the newline restored.
    Nothing is rewritten when the file needs no repair.
    """
    where = {d.line: offset for d, offset in found}
    if not where and not _needs_newline(path):
        return
    aside = set_aside_path(out, path, "damaged")

    def route(lineno: int, _raw: bytes) -> Route:
        if lineno not in where:
            return None
        offset = where[lineno]
        return (aside, offset) if offset else aside

    rewrite_jsonl(path, route)


def set_aside_path(out: OutputDir, path: Path, why: str) -> Path:
    """Where lines of ``path`` set aside for ``why`` go: ``set-aside/<name>.<why>``."""
    return out.root / SET_ASIDE_DIR / f"{path.name}.{why}"


def _needs_newline(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return False
    with path.open("rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) != b"\n"


#: Where :func:`rewrite_jsonl` sends a line: None keeps it, a path moves it there, and
#: ``(path, offset)`` moves its bytes before ``offset`` there and keeps the rest.
Route = Path | tuple[Path, int] | None


def rewrite_jsonl(path: Path, route: Callable[[int, bytes], Route]) -> int:
    """Rewrite ``path`` atomically, moving the lines ``route`` sends elsewhere.

    Streams the file (constant memory). The lines moved are appended to their
    file (created with its directory) and made durable *before* ``path`` is
    replaced, so a crash in between loses nothing (a line may then be set aside
    twice). Every kept line ends with a newline; blank lines are dropped.

    Args:
        path: A JSON-lines file.
        route: ``(1-based line number, raw bytes) ->`` a :data:`Route`.

    Returns:
        The number of lines moved (wholly or in part).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    moved = 0
    fds: dict[Path, int] = {}
    try:
        with path.open("rb") as src, tmp.open("wb") as dst:
            for lineno, raw in enumerate(src, 1):
                if not raw.strip():
                    continue
                line = raw if raw.endswith(b"\n") else raw + b"\n"
                target = route(lineno, raw)
                if target is None:
                    dst.write(line)
                    continue
                if isinstance(target, tuple):
                    target, offset = target
                    dst.write(line[offset:])
                    line = line[:offset] + b"\n"
                moved += 1
                if target not in fds:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    fds[target] = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                _write_all(fds[target], line)
            dst.flush()
            os.fsync(dst.fileno())
        for target, fd in fds.items():
            os.fsync(fd)
            fsync_dir(target.parent)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        for fd in fds.values():
            os.close(fd)
        tmp.unlink(missing_ok=True)
    return moved


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def remove_stale_temp_files(out: OutputDir) -> list[Path]:
    """Remove the temp files killed writers left in the directory and under ``images/``.

    Only names of this package's writers (:data:`TEMP_PATTERNS`) are touched, and
    not those of a process still alive on this machine (a ``report`` running now).

    Returns:
        The files removed.
    """
    removed: list[Path] = []
    places = [out.root]
    if out.images.is_dir():
        places += [p for p in out.images.iterdir() if p.is_dir()]
    for place in places:
        for entry in place.iterdir():
            pid = _writer_pid(entry.name)
            if pid is None or _alive(pid) or not entry.is_file():
                continue
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def _writer_pid(name: str) -> int | None:
    for pattern in TEMP_PATTERNS:
        match = pattern.match(name)
        if match:
            return int(match.group(1))
    return None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process has not written yet: the name is a dead namesake's
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
