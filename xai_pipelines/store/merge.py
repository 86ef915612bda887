"""Join output directories (the shards of one pipeline) into one, atomically.

Result lines are deduplicated by job id: the same id with the same request
digest in two directories is one job; with different digests it is a conflict,
refused unless forced (then the later directory wins). Error lines are kept
(exact repeats dropped), images are hard-linked (copied across file systems),
plans are joined by job id, and the manifest records the sources. Everything
is written into a temporary sibling directory, which is renamed into place
only once complete, reports included.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

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
    encode_line,
)
from xai_pipelines.store.files import dumps_line, fsync_dir, read_jsonl
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


def _lines(lines: Iterator[_L]) -> Iterable[_L]:
    try:
        yield from lines
    except ValueError as exc:  # a damaged line, or not a record of its file's format
        hint = "" if "upgrade" in str(exc) else " (xai-run compact DIR sets damaged lines aside)"
        raise MergeError(f"{exc}{hint}") from None


def _results(
    sources: Sequence[OutputDir], force: bool, summary: MergeSummary
) -> dict[str, tuple[OutputDir, ResultLine]]:
    merged: dict[str, tuple[OutputDir, ResultLine]] = {}
    conflicts: list[str] = []
    for source in sources:
        latest: dict[str, ResultLine] = {}
        for line in _lines(source.result_lines()):
            latest[line.id] = line  # after --force the last line wins
        for job_id, line in latest.items():
            held = merged.get(job_id)
            if held is None:
                merged[job_id] = (source, line)
            elif held[1].digest == line.digest:
                summary.duplicates += 1
            else:
                conflicts.append(job_id)
                merged[job_id] = (source, line)
    if conflicts and not force:
        shown = ", ".join(repr(c) for c in conflicts[:10])
        more = f" and {len(conflicts) - 10} more" if len(conflicts) > 10 else ""
        raise MergeError(
            f"{len(conflicts)} job(s) finished with different requests in different "
            f"directories: {shown}{more}; use --force to keep the later directory's result"
        )
    summary.conflicts = conflicts
    return merged


def _write_lines(path: Path, lines: Iterable[ResultLine | ErrorLine | Mapping[str, Any]]) -> int:
    count = 0
    with path.open("wb") as f:
        for line in lines:
            f.write(
                encode_line(line) if isinstance(line, ResultLine | ErrorLine) else dumps_line(line)
            )
            count += 1
        f.flush()
        os.fsync(f.fileno())
    return count


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed: copy
        shutil.copy2(src, dst)


def _images(merged: Mapping[str, tuple[OutputDir, ResultLine]], target: OutputDir) -> int:
    count = 0
    for source, line in merged.values():
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


def _errors(sources: Sequence[OutputDir]) -> list[ErrorLine]:
    seen: set[tuple[Any, ...]] = set()
    kept = []
    for source in sources:
        for line in _lines(source.error_lines()):
            key = (line.id, line.run_id, line.attempt, line.final, line.at, line.code)
            if key not in seen:
                seen.add(key)
                kept.append(line)
    return kept


def _plan(sources: Sequence[OutputDir]) -> list[dict[str, Any]]:
    jobs: dict[str, dict[str, Any]] = {}
    for source in sources:
        for line in _lines(read_jsonl(source.plan)):
            jobs.setdefault(str(line.get("id")), line)
    return sorted(jobs.values(), key=lambda j: (j["index"], j["id"]))  # plan lines: Job.to_dict()


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
        merged = _results(dirs, force, summary)
        summary.images = _images(merged, tmp)
        ordered = sorted((line for _, line in merged.values()), key=lambda r: (r.index, r.id))
        summary.jobs = _write_lines(tmp.results, ordered)
        errors = _errors(dirs)
        summary.errors = _write_lines(tmp.errors, errors)
        plan = _plan(dirs)
        _write_lines(tmp.plan, plan)
        failed = len({e.id for e in errors if e.final} - set(merged))
        if any(m is None or m.status not in _ENDED for m in manifests):
            summary.status = "interrupted"
        elif failed:
            summary.status = "failed"
        total = max(len(plan), summary.jobs + failed)
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
