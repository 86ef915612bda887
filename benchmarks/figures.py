"""The figures of issue 11 (``/tmp/issue11.txt``, "What must be true"): one row each, with
its target, and the measurement that fills it (None: its machinery is not built yet)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from benchmarks.common import Stat

Status = Literal["met", "not met", "baseline", "not built", "not run", "failed"]


@dataclass(frozen=True)
class Context:
    """How a measurement runs.

    Attributes:
        quick: Smoke sizes (seconds, not minutes): the figures are not the targets' sizes.
        repeats: Repeats of each measurement (the table shows their median, min and max).
        workdir: Scratch directory for pipelines and output directories.
        jobs: Jobs per run instead of each measurement's own (a smoke test's knob).
    """

    quick: bool
    repeats: int
    workdir: Path
    jobs: int | None = None

    def size(self, full: int, quick: int) -> int:
        """Jobs per run: ``--jobs``, else the quick or the full size."""
        return self.jobs or (quick if self.quick else full)


@dataclass(frozen=True)
class Measured:
    """What a measurement found for one row: the statistics and a note on the set-up."""

    stat: Stat
    note: str = ""


#: A measurement fills one or several rows (by key) from one set of runs.
Measure = Callable[[Context], dict[str, Measured]]


@dataclass(frozen=True)
class Row:
    """One figure of the issue.

    Attributes:
        key: Its name on the command line (``--only``) and in the JSON file.
        item: The issue's item number.
        title: What is measured.
        target: The target, as the issue states it.
        unit: Unit of the value.
        meets: Whether a value (the median) meets the target (None: a baseline measured
            beside the figures, with no target of its own).
        group: The measurement's name (rows of one group come from the same runs).
    """

    key: str
    item: str
    title: str
    target: str
    unit: str
    meets: Callable[[float], bool] | None
    group: str | None


@dataclass
class Outcome:
    """A row after the benchmark: its status and, if measured, the statistics."""

    row: Row
    status: Status = "not run"
    stat: Stat | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "key": self.row.key,
            "item": self.row.item,
            "title": self.row.title,
            "target": self.row.target,
            "unit": self.row.unit,
            "status": self.status,
            "value": None if self.stat is None else self.stat.to_dict(),
            "note": self.note,
        }


def judged(row: Row, measured: Measured) -> Outcome:
    """The outcome of a measured row (never ``met`` without a finite median)."""
    if row.meets is None:
        return Outcome(row, "baseline", measured.stat, measured.note)
    value = measured.stat.median
    ok = row.meets is not None and math.isfinite(value) and row.meets(value)
    return Outcome(row, "met" if ok else "not met", measured.stat, measured.note)
