"""What a previous run into the same directory finished, and whether its spec still holds.

Loading it repairs what a crash or a full disk left (:mod:`xai_pipelines.store.repair`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xai_pipelines.records import Manifest, UnsetType, to_plain
from xai_pipelines.store.layout import OutputDir
from xai_pipelines.store.manifest import Crash
from xai_pipelines.store.repair import DamagedLine, remove_stale_temp_files, scan_lines


class SpecChangedError(Exception):
    """The directory holds a run of a different spec (and ``--force`` was not given).

    Attributes:
        changes: One human-readable line per changed setting.
    """

    def __init__(self, directory: str, changes: list[str]) -> None:
        self.changes = changes
        listing = "\n".join(f"  {c}" for c in changes[:20])
        more = f"\n  ... and {len(changes) - 20} more" if len(changes) > 20 else ""
        super().__init__(
            f"{directory} holds results of a different version of this pipeline:\n"
            f"{listing}{more}\n"
            "Use another --out directory, or --force to resume anyway (jobs whose "
            "request changed are run again)."
        )


@dataclass
class ResumeState:
    """Finished jobs of earlier runs: id -> request digest, and what the resume repaired.

    Attributes:
        finished: Digest of the result line of each finished job id.
        manifest: The manifest found in the directory (None on a fresh one).
        damaged: Lines of ``results.jsonl`` / ``errors.jsonl`` set aside as damaged.
        removed_temp_files: Temp files of killed writers that were removed.
        crash: The earlier run, when it was left ``running`` by a process that is gone.
        errored: Ids of the jobs that have error lines.
    """

    finished: dict[str, str] = field(default_factory=dict)
    manifest: Manifest | None = None
    damaged: list[DamagedLine] = field(default_factory=list)
    removed_temp_files: list[Path] = field(default_factory=list)
    crash: Crash | None = None
    errored: set[str] = field(default_factory=set)

    @property
    def previous_manifest(self) -> dict[str, Any] | None:
        """:attr:`manifest` in its plain form (for readers of the JSON's shape)."""
        return None if self.manifest is None else to_plain(self.manifest)

    def is_done(self, job_id: str, digest: str) -> bool:
        """True when ``job_id`` already finished with the same request digest."""
        return self.finished.get(job_id) == digest

    def notices(self) -> list[str]:
        """What the resume found and did, one warning each (crash, damaged lines, temp files)."""
        out = [] if self.crash is None else [self.crash.message()]
        out += [d.message() for d in self.damaged]
        if self.removed_temp_files:
            names = ", ".join(p.name for p in self.removed_temp_files[:5])
            more = len(self.removed_temp_files) - 5
            names += f" and {more} more" if more > 0 else ""
            out.append(
                f"removed {len(self.removed_temp_files)} temp files a killed run left: {names}"
            )
        return out


def load_resume_state(out: OutputDir) -> ResumeState:
    """Read which jobs are finished, repairing what a crash or a full disk left.

    Damaged lines of ``results.jsonl`` and ``errors.jsonl`` are set aside (their
    jobs run again), temp files of killed writers are removed, and a manifest left
    ``running`` by a process that is gone is a :class:`~xai_pipelines.store.manifest.Crash`.
    The caller holds the directory's lock (no live run writes into it).

    Raises:
        ValueError: A line or manifest of a newer format
            (:class:`~xai_pipelines.store.repair.NewerFormatError`,
            :class:`~xai_pipelines.records.RecordError`), or a manifest that is not one.
        OSError: A file could not be read or repaired.
    """
    manifest = out.load_manifest()
    if not out.root.is_dir():
        return ResumeState(manifest=manifest)
    removed = remove_stale_temp_files(out)
    scan = scan_lines(out)
    crash = None
    if manifest is not None and manifest.status == "running":
        progress = manifest.progress
        in_flight = None
        if not isinstance(progress, UnsetType):
            in_flight = max(0, progress.jobs_started - scan.lines_by_run[manifest.run_id])
        crash = Crash(manifest, in_flight)
    return ResumeState(scan.finished, manifest, scan.damaged, removed, crash, scan.errored)


def spec_changes(old: Any, new: Any, path: str = "") -> list[str]:
    """Differences between two resolved specs, one line per changed leaf."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in old:
                out.append(f"{sub}: added {_short(new[key])}")
            elif key not in new:
                out.append(f"{sub}: removed (was {_short(old[key])})")
            else:
                out.extend(spec_changes(old[key], new[key], sub))
        return out
    if _is_list(old) and _is_list(new) and len(old) == len(new):
        return [
            c
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            for c in spec_changes(a, b, f"{path}[{i}]")
        ]
    if old != new:
        return [f"{path or '(spec)'}: {_short(old)} -> {_short(new)}"]
    return []


def _is_list(value: Any) -> bool:
    return isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_spec(
    state: ResumeState, digest: str, resolved: Mapping[str, Any], directory: str, force: bool
) -> list[str]:
    """Refuse to resume a directory written by a different spec, unless forced.

    Returns:
        The changes found (empty for a fresh directory or the same spec).

    Raises:
        SpecChangedError: The spec changed and ``force`` is False.
    """
    prev = state.manifest
    old_digest = None if prev is None else prev.spec.digest
    if prev is None or old_digest is None or old_digest == digest:
        return []
    changes = spec_changes(prev.spec.resolved, resolved)
    if not changes:
        changes = [f"spec digest: {old_digest} -> {digest}"]
    if not force:
        raise SpecChangedError(directory, changes)
    return changes
