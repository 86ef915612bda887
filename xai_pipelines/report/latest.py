"""Each job's last result line: the lines every report counts.

A job id can appear on several lines of ``results.jsonl`` (a forced re-run appends a
new line; the last one is the job's result). The reports used to find the last
line by keeping a dictionary of every id, a few hundred bytes a job: at a million
jobs that alone was hundreds of MB in each report writer. :class:`LatestResults`
instead finds the superseded lines once, keeping a few bytes a job:

* a first pass over the file decodes only each line's ``id`` and marks its hash
  in a bitmap; a hash met twice (a repeated id, or rarely two ids sharing bits)
  becomes a candidate;
* a second pass keeps, for the candidates only, each id's line numbers, exactly:
  every line of an id but its last is superseded.

Each writer then streams the file again, skipping the superseded lines: one line
per job, in file order of each job's last line. Lines already in memory (a test, a
small run's shared decode) are deduplicated by a dictionary, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Set
from pathlib import Path
from typing import Any

import msgspec

from xai_pipelines.records import ResultLine, decode_result_line
from xai_pipelines.report.lines import as_result_line
from xai_pipelines.store.files import iter_lines, read_records

#: Bits of the first pass's bitmap (16 MiB): at a million jobs about 0.75% of the
#: lines are false candidates, each costing one set entry in the second pass.
BITMAP_BITS = 1 << 27


class _IdOnly(msgspec.Struct):
    id: str


_id_decoder = msgspec.json.Decoder(_IdOnly)


def job_id_of(raw: bytes) -> str:
    """The ``id`` of one JSON line, decoding nothing else.

    Raises:
        msgspec.DecodeError: Not a JSON object with a string ``id``.
    """
    return _id_decoder.decode(raw).id


def _ids(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, job id)`` of each line, decoding nothing else.

    Raises:
        ValueError: A line with no string ``id`` (naming the file and line).
    """
    for lineno, raw in iter_lines(path):
        try:
            yield lineno, _id_decoder.decode(raw).id
        except msgspec.DecodeError as exc:
            raise ValueError(f"{path}:{lineno}: damaged JSON line: {exc}") from exc


def superseded_lines(path: Path) -> frozenset[int]:
    """Numbers of the lines of ``path`` that a later line of the same id replaced."""
    mask = BITMAP_BITS - 1
    bitmap = bytearray(BITMAP_BITS // 8)
    candidates: set[int] = set()
    for _, job_id in _ids(path):
        bit = hash(job_id) & mask
        byte, flag = bit >> 3, 1 << (bit & 7)
        if bitmap[byte] & flag:
            candidates.add(bit)
        else:
            bitmap[byte] |= flag
    del bitmap
    if not candidates:
        return frozenset()
    lines_of: dict[str, list[int]] = {}
    for lineno, job_id in _ids(path):
        if hash(job_id) & mask in candidates:
            lines_of.setdefault(job_id, []).append(lineno)
    return frozenset(n for numbers in lines_of.values() for n in numbers[:-1])


class LatestResults:
    """The last result line of each job, re-iterable; from a file (streamed) or from lines.

    Iterating yields :class:`~xai_pipelines.records.ResultLine` records, one per job
    id, in the order of those last lines.
    """

    def __init__(self, path: Path | None, lines: list[ResultLine] | None) -> None:
        self._path = path
        self._lines = lines
        self._superseded = superseded_lines(path) if path is not None else frozenset()
        self._asked: tuple[frozenset[str], set[str]] | None = None  # the last with_result

    @classmethod
    def from_file(cls, path: Path) -> LatestResults:
        """The last lines of a ``results.jsonl`` (two passes over ids now; each iteration
        reads it again). A torn last line is skipped.

        Raises:
            ValueError: A damaged line (naming the file and line).
        """
        return cls(path, None)

    @classmethod
    def from_lines(cls, lines: Iterable[ResultLine | Mapping[str, Any]]) -> LatestResults:
        """The last line of each id among ``lines`` (records; plain dicts are decoded)."""
        if isinstance(lines, LatestResults):
            return lines
        records = [as_result_line(line) for line in lines]
        last = {record.id: n for n, record in enumerate(records)}  # the last line of an id
        if len(last) < len(records):
            records = [records[n] for n in sorted(last.values())]
        return cls(None, records)

    def __iter__(self) -> Iterator[ResultLine]:
        if self._lines is not None:
            return iter(self._lines)
        assert self._path is not None
        return read_records(self._path, decode_result_line, self._superseded)

    @property
    def superseded(self) -> frozenset[int] | None:
        """Numbers of the file's lines a later line replaced (None: built from lines)."""
        return None if self._path is None else self._superseded

    def with_result(self, ids: Set[str]) -> set[str]:
        """Those of ``ids`` that have a result line (a job that failed, then succeeded)."""
        if not ids:
            return set()
        asked = frozenset(ids)
        if self._asked is not None and self._asked[0] == asked:  # each writer asks the same
            return set(self._asked[1])
        if self._lines is not None:
            found = {line.id for line in self._lines if line.id in asked}
        else:
            assert self._path is not None
            found = {job_id for _, job_id in _ids(self._path) if job_id in asked}
        self._asked = (asked, found)
        return set(found)
