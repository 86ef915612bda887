"""Deterministic sharding of a plan: ``--shard K/N`` keeps the jobs whose id hashes to K.

A job's shard depends on its id alone (SHA-256, so it is the same on every
machine and Python version): adding jobs to a pipeline never moves an existing
job to another shard, and every job belongs to exactly one of the N shards.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["Shard", "parse_shard", "resume_shard", "shard_of"]

_FORM = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
MAX_SHARDS = 100_000

T = TypeVar("T")


def shard_of(job_id: str, count: int) -> int:
    """The shard (1-based) ``job_id`` belongs to among ``count`` shards."""
    if count < 1:
        raise ValueError(f"shard count must be at least 1, got {count}")
    digest = hashlib.sha256(job_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (1 <= index <= count).

    Attributes:
        index: Which shard (1-based).
        count: How many shards the plan is split into.
    """

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS:
            raise ValueError(f"shard count must be in [1, {MAX_SHARDS}], got {self.count}")
        if not 1 <= self.index <= self.count:
            raise ValueError(f"shard must be in [1, {self.count}], got {self.index}")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def contains(self, job_id: str) -> bool:
        """Whether ``job_id`` belongs to this shard."""
        return shard_of(job_id, self.count) == self.index

    def select(self, jobs: Iterable[T], key: str = "id") -> Iterator[T]:
        """The jobs (anything with an ``id`` attribute) of this shard, lazily."""
        for job in jobs:
            if self.contains(str(getattr(job, key))):
                yield job


def parse_shard(text: str) -> Shard:
    """Parse ``K/N`` (e.g. ``2/4``).

    Raises:
        ValueError: Not of the form K/N with 1 <= K <= N.
    """
    match = _FORM.match(text)
    if match is None:
        raise ValueError(f"--shard must look like K/N (e.g. 1/4), got {text!r}")
    return Shard(int(match.group(1)), int(match.group(2)))


def resume_shard(requested: Shard | None, recorded: str | None) -> Shard | None:
    """The shard of a run into a directory whose earlier run recorded ``recorded``.

    A resumed run keeps its shard: no ``--shard`` means the recorded one.

    Raises:
        ValueError: ``requested`` differs from ``recorded``.
    """
    if recorded is None:
        return requested
    previous = parse_shard(recorded)
    if requested is not None and requested != previous:
        raise ValueError(
            f"the directory holds shard {previous} of this pipeline, not {requested}; "
            "use another --out directory for another shard"
        )
    return previous
