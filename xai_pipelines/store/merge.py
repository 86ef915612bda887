"""Join output directories (the shards of one pipeline) into one, atomically.

Result lines are deduplicated by job id: the same id with the same request
digest in two directories is one job; with different digests it is a conflict,
refused unless forced (then the later directory wins). Error lines are kept
(exact repeats dropped), images are hard-linked (copied across file systems),
plans are joined by job id, and the manifest records the sources. Everything
is written into a temporary sibling directory, which is renamed into place
only once complete, reports included.

Memory stays bounded whatever the number of lines: the job ids, digests and byte
offsets of the lines go into an SQLite index on disk, which picks each job's line
and sorts by plan index; lines are then read back one at a time by offset
(``tests/store/test_merge_memory.py``: 10x the lines, +10 MB peak RSS, where the
in-memory merge grew by 266 MB).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from xai_pipelines.records import (
    UNSET,
    ErrorLine,
    Manifest,
    MergedSource,
    PlanInfo,
    ResultLine,
    ShardsInfo,
    SpecInfo,
    UnsetType,
    decode_error_line,
    decode_result_line,
    encode_line,
)
from xai_pipelines.store.files import dumps_line, fsync_dir
from xai_pipelines.store.layout import OutputDir
from xai_pipelines.store.manifest import utc_now, versions

__all__ = ["MergeError", "MergeSummary", "merge_outputs"]

_ENDED = ("completed", "failed", "budget_exhausted")


class MergeError(Exception):
    """The directories cannot be merged as asked (bad input; nothing was written)."""


@dataclass
class MergeSummary:
    """What a merge produced.

    Attributes:
        out: The merged directory.
        jobs: Distinct finished jobs.
        errors: Error lines kept.
        images: Image files linked or copied.
        duplicates: Result lines dropped as repeats of the same job and request.
        conflicts: Job ids whose request differed between directories (``force`` only).
        status: ``completed``, ``failed`` (some job has no result) or ``interrupted``
            (a source run had not ended).
    """

    out: OutputDir
    jobs: int = 0
    errors: int = 0
    images: int = 0
    duplicates: int = 0
    conflicts: list[str] = field(default_factory=list)
    status: str = "completed"


def _manifest(source: OutputDir) -> Manifest | None:
    if not source.root.is_dir():
        raise MergeError(f"{source.root} is not a directory")
    if not source.results.exists() and not source.manifest.exists():
        raise MergeError(f"{source.root} is not an xai-run output directory (no results.jsonl)")
    try:
        return source.load_manifest()
    except ValueError as exc:  # RecordError included
        raise MergeError(f"{source.manifest}: {exc}") from None


def _check_specs(sources: Sequence[OutputDir], manifests: Sequence[Manifest | None]) -> None:
    digests = {
        m.spec.digest: s.root
        for s, m in zip(sources, manifests, strict=True)
        if m is not None and m.spec.digest
    }
    if len(digests) > 1:
        listing = ", ".join(f"{root} ({digest[:12]})" for digest, root in digests.items())
        raise MergeError(
            f"the directories hold runs of different specs: {listing}; "
            "merge only shards of one pipeline (or --force)"
        )


_L = TypeVar("_L")


# The merge keeps its state in an SQLite index on disk (next to the merged
# directory), not in dicts: a merge of millions of lines holds the index's page
# cache and one line at a time, and SQLite sorts by id and by plan index on disk.
_INDEX_CACHE_KIB = 8192


class _Index:
    """On-disk index of the lines of every source: job ids, digests, byte offsets."""

    def __init__(self, path: Path, sources: Sequence[OutputDir]) -> None:
        self.path = path
        self.sources = sources
        self.db = sqlite3.connect(path, isolation_level=None)
        for pragma in (
            "journal_mode=OFF",
            "synchronous=OFF",
            "temp_store=FILE",
            f"cache_size=-{_INDEX_CACHE_KIB}",
        ):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.executescript(
            """
            CREATE TABLE res (id TEXT, src INTEGER, idx INTEGER, digest TEXT, off INTEGER,
                              PRIMARY KEY (id, src)) WITHOUT ROWID;
            CREATE TABLE won (idx INTEGER, id TEXT PRIMARY KEY, src INTEGER, off INTEGER);
            CREATE TABLE err (seq INTEGER PRIMARY KEY, key TEXT UNIQUE, id TEXT,
                              final INTEGER, src INTEGER, off INTEGER);
            CREATE TABLE plan (id TEXT PRIMARY KEY, idx INTEGER, src INTEGER, off INTEGER);
            """
        )
        self._files: dict[tuple[int, str], BinaryIO] = {}

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self.db.close()
        self.path.unlink(missing_ok=True)

    def insert(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
        """Insert ``rows`` in transactions of bounded size."""
        it = iter(rows)
        while chunk := list(islice(it, 5000)):
            self.db.execute("BEGIN")
            self.db.executemany(sql, chunk)
            self.db.execute("COMMIT")

    def line(self, src: int, name: str, off: int) -> bytes:
        """The raw line of source ``src``'s file ``name`` at byte ``off``."""
        f = self._files.get((src, name))
        if f is None:
            f = self._files[(src, name)] = (self.sources[src].root / name).open("rb")
        f.seek(off)
        return f.readline()


def _offset_lines(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """``(line number, byte offset, raw line)`` of the non-blank lines, lazily.

    A torn last line is skipped, as :func:`iter_lines` does.
    """
    if not path.exists():
        return
    with path.open("rb") as f:
        pending: tuple[int, int, bytes] | None = None
        off = 0
        for lineno, raw in enumerate(f, 1):
            if pending is not None and pending[2].strip():
                yield pending
            pending = (lineno, off, raw)
            off += len(raw)
        if pending is not None and pending[2].endswith(b"\n") and _whole(pending[2]):
            yield pending


def _whole(raw: bytes) -> bool:
    """Whether a last line is whole JSON (else a torn write, skipped)."""
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True


def _decoded(path: Path, decode: Callable[[bytes], _L]) -> Iterator[tuple[int, _L]]:
    """``(byte offset, record)`` of each line of ``path`` (a damaged line: MergeError)."""
    for lineno, off, raw in _offset_lines(path):
        try:
            record = decode(raw)
        except ValueError as exc:
            hint = (
                "" if "upgrade" in str(exc) else " (xai-run compact DIR sets damaged lines aside)"
            )
            raise MergeError(f"{path}:{lineno}: {exc}{hint}") from None
        yield off, record


def _plan_line(raw: bytes) -> dict[str, Any]:
    line = json.loads(raw)
    if not isinstance(line, dict):
        raise ValueError("not a JSON object")
    return line


def _results(index: _Index, force: bool, summary: MergeSummary) -> None:
    """Choose one result line per job id into ``won`` (see the module docstring)."""
    for src, source in enumerate(index.sources):
        # INSERT OR REPLACE: after --force the last line of a directory wins.
        index.insert(
            "INSERT OR REPLACE INTO res VALUES (?, ?, ?, ?, ?)",
            (
                (line.id, src, line.index, line.digest, off)
                for off, line in _decoded(source.results, decode_result_line)
            ),
        )
    conflicts: list[str] = []

    def chosen() -> Iterator[tuple[int, str, int, int]]:
        held: tuple[str, int, int, str, int] | None = None
        rows = index.db.execute("SELECT id, src, idx, digest, off FROM res ORDER BY id, src")
        for job_id, src, idx, digest, off in rows:
            if held is not None and held[0] == job_id:
                if held[3] == digest:
                    summary.duplicates += 1
                else:
                    conflicts.append(job_id)
                    held = (job_id, src, idx, digest, off)
                continue
            if held is not None:
                yield held[2], held[0], held[1], held[4]
            held = (job_id, src, idx, digest, off)
        if held is not None:
            yield held[2], held[0], held[1], held[4]

    index.insert("INSERT INTO won VALUES (?, ?, ?, ?)", chosen())
    if conflicts and not force:
        shown = ", ".join(repr(c) for c in conflicts[:10])
        more = f" and {len(conflicts) - 10} more" if len(conflicts) > 10 else ""
        raise MergeError(
            f"{len(conflicts)} job(s) finished with different requests in different "
            f"directories: {shown}{more}; use --force to keep the later directory's result"
        )
    summary.conflicts = conflicts


def _write_results(index: _Index, target: OutputDir, summary: MergeSummary) -> None:
    """The chosen result lines in plan order, their images linked."""
    name = target.results.name
    rows = index.db.execute("SELECT src, off FROM won ORDER BY idx, id")
    with _LineFile(target.results) as out:
        for src, off in rows:
            line = decode_result_line(index.line(src, name, off))
            summary.images += _images(index.sources[src], line, target)
            out.write(encode_line(line))
            summary.jobs += 1


class _LineFile:
    """A line file written whole and fsynced on close."""

    def __init__(self, path: Path) -> None:
        self.f = path.open("wb")

    def __enter__(self) -> _LineFile:
        return self

    def write(self, data: bytes) -> None:
        self.f.write(data)

    def __exit__(self, *exc: object) -> None:
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed: copy
        shutil.copy2(src, dst)


def _images(source: OutputDir, line: ResultLine, target: OutputDir) -> int:
    count = 0
    for image in line.images or ():
        rel = image.path
        if not rel:
            continue
        src = source.root / rel
        if not src.is_file():
            raise MergeError(f"{src} is missing (named by job {line.id!r})")
        _link(src, target.root / rel)
        count += 1
    return count


def _error_row(src: int, off: int, e: ErrorLine) -> tuple[Any, ...]:
    key = json.dumps([e.id, e.run_id, e.attempt, e.final, e.at, e.code])
    return key, e.id, int(bool(e.final)), src, off


def _errors(index: _Index, target: OutputDir) -> int:
    """Error lines, exact repeats dropped, in source order; returns how many were kept."""
    for src, source in enumerate(index.sources):
        index.insert(
            "INSERT OR IGNORE INTO err (key, id, final, src, off) VALUES (?, ?, ?, ?, ?)",
            (_error_row(src, off, e) for off, e in _decoded(source.errors, decode_error_line)),
        )
    count = 0
    name = target.errors.name
    with _LineFile(target.errors) as out:
        for src, off in index.db.execute("SELECT src, off FROM err ORDER BY seq"):
            out.write(encode_line(decode_error_line(index.line(src, name, off))))
            count += 1
    return count


def _plan(index: _Index, target: OutputDir) -> int:
    """Plan lines joined by job id (the first directory's wins), in plan order."""
    for src, source in enumerate(index.sources):
        index.insert(
            "INSERT OR IGNORE INTO plan VALUES (?, ?, ?, ?)",
            (
                (str(line.get("id")), line["index"], src, off)
                for off, line in _decoded(source.plan, _plan_line)
            ),
        )
    count = 0
    name = target.plan.name
    with _LineFile(target.plan) as out:
        for src, off in index.db.execute("SELECT src, off FROM plan ORDER BY idx, id"):
            out.write(dumps_line(_plan_line(index.line(src, name, off))))
            count += 1
    return count


def _shards(manifests: Sequence[Manifest | None]) -> ShardsInfo | None:
    recorded = [
        m.shard for m in manifests if m is not None and isinstance(m.shard, str) and m.shard
    ]
    if not recorded:
        return None
    counts = {int(s.split("/")[1]) for s in recorded}
    present = sorted({int(s.split("/")[0]) for s in recorded})
    out = ShardsInfo(shards=sorted(set(recorded)))
    if len(counts) == 1:
        (count,) = counts
        out.count = count
        out.missing = [k for k in range(1, count + 1) if k not in present]
    return out


def _known(value: str | UnsetType) -> str | None:
    return None if isinstance(value, UnsetType) else value


def _merged_manifest(
    sources: Sequence[OutputDir],
    manifests: Sequence[Manifest | None],
    summary: MergeSummary,
    failed: int,
    total: int,
) -> Manifest:
    known = [m for m in manifests if m is not None]
    prices: dict[str, dict[str, Any]] = {}
    for m in known:
        prices.update(m.prices or {})
    first = known[0] if known else None
    now = utc_now()
    return Manifest(
        run_id=f"merge-{uuid.uuid4().hex[:8]}",
        status=summary.status,
        started_at=now,
        finished_at=now,
        elapsed_s=0.0,
        spec=first.spec if first is not None else SpecInfo(),
        args={"sources": [str(s.root) for s in sources]},
        endpoint=first.endpoint if first is not None else None,
        versions=versions(),
        counts={"total": total, "done": summary.jobs, "failed": failed},
        prices=prices,
        plan=PlanInfo(jobs=total),
        merged_from=[
            MergedSource(path=str(s.root))
            if m is None
            else MergedSource(
                path=str(s.root),
                run_id=m.run_id,
                status=m.status,
                shard=_known(m.shard),
                spec_digest=m.spec.digest,
                batch_id=None if isinstance(m.batch, UnsetType) else _known(m.batch.batch_id),
            )
            for s, m in zip(sources, manifests, strict=True)
        ],
        history=[],
        shards=_shards(manifests) or UNSET,
        forced_conflicts=summary.conflicts or UNSET,
    )


def merge_outputs(
    out: Path | str,
    sources: Sequence[Path | str],
    *,
    force: bool = False,
    render: Callable[[OutputDir], Any] | None = None,
) -> MergeSummary:
    """Merge ``sources`` into the new directory ``out`` (see the module docstring).

    Args:
        out: Directory to create; must not exist yet (or be empty).
        sources: Output directories of runs of the same pipeline (typically its shards).
        force: Merge despite different spec digests or conflicting results.
        render: Writes the reports into the merged directory before it is renamed into
            place (the run layer's ``write_reports``; the store does not render reports).

    Raises:
        MergeError: Bad input: nothing was written.
    """
    target = Path(out)
    if not sources:
        raise MergeError("name at least one directory to merge")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise MergeError(f"{target} already exists; merge into a new directory")
    dirs = [OutputDir(s) for s in sources]
    resolved = {d.root.resolve() for d in dirs}
    if len(resolved) != len(dirs):
        raise MergeError("a directory is named twice")
    if target.resolve() in resolved:
        raise MergeError(f"{target} is one of the directories to merge")
    manifests = [_manifest(d) for d in dirs]
    if not force:
        _check_specs(dirs, manifests)
    tmp = OutputDir(target.parent / f".{target.name}.merge-{uuid.uuid4().hex[:8]}.tmp")
    tmp.create()
    try:
        summary = MergeSummary(OutputDir(target))
        index = _Index(target.parent / f"{tmp.root.name}.index", dirs)
        try:
            _results(index, force, summary)
            _write_results(index, tmp, summary)
            summary.errors = _errors(index, tmp)
            planned = _plan(index, tmp)
            failed = index.db.execute(
                "SELECT COUNT(DISTINCT id) FROM err WHERE final = 1 "
                "AND id NOT IN (SELECT id FROM won)"
            ).fetchone()[0]
        finally:
            index.close()
        if any(m is None or m.status not in _ENDED for m in manifests):
            summary.status = "interrupted"
        elif failed:
            summary.status = "failed"
        total = max(planned, summary.jobs + failed)
        tmp.write_manifest(_merged_manifest(dirs, manifests, summary, failed, total))
        if render is not None:
            render(tmp)
        if target.exists():
            target.rmdir()  # empty, checked above
        os.replace(tmp.root, target)
        fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(tmp.root, ignore_errors=True)
        raise
    return summary
