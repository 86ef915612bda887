"""Compaction: ``results.jsonl`` without superseded lines, and without jobs the plan dropped.

A job run again (``--force`` with a changed request, or a result line written
twice) leaves its older result lines behind; readers take the last one. A
dataset that lost rows leaves the result and error lines of jobs that are no
longer in the plan. :func:`compact` moves both out of the line files, atomically,
into ``set-aside/`` (``results.jsonl.superseded``, ``results.jsonl.not-in-plan``,
``errors.jsonl.not-in-plan``), so every report reads only what the plan holds
now and nothing is lost. Error lines are otherwise kept: each is a call that was
made, counted in ``usage.json``'s requests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from xai_pipelines.store.files import iter_lines
from xai_pipelines.store.layout import OutputDir
from xai_pipelines.store.repair import DamagedLine, rewrite_jsonl, scan_lines, set_aside_path


class _Id(msgspec.Struct):
    """Just the job id of a line."""

    id: str


_id_decoder = msgspec.json.Decoder(_Id)


def _job_id(raw: bytes) -> str:
    return _id_decoder.decode(raw).id


@dataclass(frozen=True)
class CompactReport:
    """What :func:`compact` moved out of the line files.

    Attributes:
        superseded: Result lines replaced by a later line of the same job.
        results_not_in_plan: Result lines of jobs no longer in the plan.
        errors_not_in_plan: Error lines of jobs no longer in the plan.
        damaged: Damaged lines set aside first (see :mod:`xai_pipelines.store.repair`).
    """

    superseded: int = 0
    results_not_in_plan: int = 0
    errors_not_in_plan: int = 0
    damaged: list[DamagedLine] = field(default_factory=list)

    @property
    def moved(self) -> bool:
        """Anything was moved out of the line files."""
        return bool(
            self.superseded or self.results_not_in_plan or self.errors_not_in_plan or self.damaged
        )

    def message(self, root: Path) -> str:
        """One line for the user: what went where (or that nothing needed it)."""
        parts = []
        if self.superseded:
            parts.append(f"{self.superseded} superseded result lines")
        if self.results_not_in_plan or self.errors_not_in_plan:
            parts.append(
                f"{self.results_not_in_plan} result and {self.errors_not_in_plan} error lines "
                "of jobs no longer in the plan"
            )
        if self.damaged:
            parts.append(f"{len(self.damaged)} damaged lines")
        if not parts:
            return f"{root}: nothing to compact"
        return f"{root}: moved {', '.join(parts)} to {root / 'set-aside'}"


def plan_ids(out: OutputDir) -> set[str]:
    """The job ids ``plan.jsonl`` lists (empty when there is none; a torn last line skipped)."""
    return {_job_id(raw) for _, raw in iter_lines(out.plan)}


def compact(out: OutputDir, keep_ids: set[str] | None = None) -> CompactReport:
    """Rewrite ``results.jsonl`` (and ``errors.jsonl``) atomically without what is stale.

    Damaged lines are set aside first. The caller holds the directory's lock.

    Args:
        out: The output directory.
        keep_ids: The jobs of the whole plan: lines of other jobs are set aside too.
            None keeps every job (only superseded result lines move).

    Raises:
        ValueError: A line of a newer format than this version reads.
        OSError: A file could not be read or rewritten.
    """
    damaged = scan_lines(out).damaged
    last: dict[str, int] = {}
    lines: Counter[str] = Counter()
    for lineno, raw in _lines(out.results):
        job = _job_id(raw)
        last[job] = lineno
        lines[job] += 1

    def kept(job: str) -> bool:
        return keep_ids is None or job in keep_ids

    superseded = sum(n - 1 for job, n in lines.items() if kept(job))
    stale = sum(n for job, n in lines.items() if not kept(job))
    if superseded or stale:
        older = set_aside_path(out, out.results, "superseded")
        gone = set_aside_path(out, out.results, "not-in-plan")

        def route(lineno: int, raw: bytes) -> Path | None:
            job = _job_id(raw)
            if not kept(job):
                return gone
            return None if last[job] == lineno else older

        rewrite_jsonl(out.results, route)
    stale_errors = 0
    if keep_ids is not None and any(not kept(_job_id(raw)) for _, raw in _lines(out.errors)):
        gone_errors = set_aside_path(out, out.errors, "not-in-plan")
        stale_errors = rewrite_jsonl(
            out.errors, lambda _n, raw: None if kept(_job_id(raw)) else gone_errors
        )
    return CompactReport(superseded, stale, stale_errors, damaged)


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """The non-blank lines of a repaired file, numbered as :func:`rewrite_jsonl` numbers them."""
    if not path.exists():
        return
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            if raw.strip():
                yield lineno, raw
