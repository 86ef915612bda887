"""Content digests of the dataset files a pipeline reads (the manifest's ``datasets``).

The spec's digest covers the pipeline, not the data: a dataset edited under the
same spec is noticed by comparing these digests with the previous manifest's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from xai_pipelines.spec import PipelineSpec

_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """The sha256 of a file's content, hex, read in chunks.

    Raises:
        OSError: The file cannot be read.
    """
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def dataset_digests(spec: PipelineSpec) -> dict[str, str]:
    """Each dataset file of ``spec`` (relative to the pipeline's directory) -> sha256 of its content.

    Inline datasets have no file and are part of the spec's own digest.

    Raises:
        OSError: A dataset file cannot be read.
    """
    out: dict[str, str] = {}
    for dataset in spec.datasets.values():
        if dataset.path is None:
            continue
        name = _name(dataset.path, spec.path.parent)
        if name not in out:
            out[name] = file_sha256(dataset.path)
    return dict(sorted(out.items()))


def _name(path: Path, base: Path) -> str:
    """``path`` relative to the pipeline's directory when under it (the same on every machine)."""
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path)


def dataset_changes(old: Mapping[str, str] | None, new: Mapping[str, str]) -> list[str]:
    """One line per dataset file whose content changed since ``old`` (None: not recorded)."""
    if old is None:
        return []
    lines = []
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        if before is None:
            lines.append(f"dataset {name}: new (sha256 {after})")
        elif after is None:
            lines.append(f"dataset {name}: no longer read (was sha256 {before})")
        else:
            lines.append(f"dataset {name} changed: sha256 {before} -> {after}")
    return lines
