"""Datasets: rows streamed from JSONL, CSV, JSON lists, text lines, YAML lists or inline.

Rows are read lazily, one at a time, so planning a million-row JSONL file keeps
memory flat. ``where`` keeps rows whose fields equal the given values (a list
means any of them); ``sample`` keeps a seeded uniform sample of that many rows
(reservoir sampling over the stream, rows kept in file order); ``limit`` keeps
the first rows. They apply in that order. YAML lists are loaded whole (use
JSONL for big data).
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from xai_pipelines.spec.errors import Problem, SpecError
from xai_pipelines.spec.limits import MAX_DEPTH
from xai_pipelines.spec.yaml_source import decode, parse_yaml

Format = Literal["jsonl", "csv", "json", "yaml", "lines"]
FORMATS_BY_SUFFIX: dict[str, Format] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".json": "json",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".txt": "lines",
}
YAML_MAX_VALUES = 2_000_000
_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class Row:
    """One dataset row.

    Attributes:
        index: 0-based position among the rows kept (after where/sample/limit).
        data: The row's fields.
        origin: Where it came from, ``file:line`` (for messages).
    """

    index: int
    data: Mapping[str, Any]
    origin: str


@dataclass(frozen=True, slots=True)
class Sample:
    """A seeded sample size."""

    size: int
    seed: int = 0


@dataclass(frozen=True)
class Dataset:
    """A named dataset of a pipeline.

    Attributes:
        name: Its name in ``datasets:``.
        path: The resolved file, or ``None`` for inline rows.
        display: How the file is named in messages (as written in the pipeline).
        format: How to read the file.
        rows: Inline rows (when ``path`` is ``None``).
        where: Field -> accepted values.
        sample: Seeded sample, or ``None``.
        limit: Maximum rows, or ``None``.
    """

    name: str
    path: Path | None
    display: str
    format: Format = "jsonl"
    rows: tuple[Mapping[str, Any], ...] = ()
    where: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    sample: Sample | None = None
    limit: int | None = None

    def iter_rows(self) -> Iterator[Row]:
        """Stream the rows kept, in order.

        Raises:
            SpecError: A row that cannot be read, located in the data file.
        """
        raw = self.iter_source()
        if self.where:
            raw = (r for r in raw if _matches(r[0], self.where))
        if self.sample is not None:
            raw = iter(_reservoir(raw, self.sample))
        if self.limit is not None:
            raw = itertools.islice(raw, self.limit)
        for index, (data, where) in enumerate(raw):
            yield Row(index, data, self.origin(where))

    def where_keeps_nothing(self) -> int | None:
        """With a ``where`` that keeps no row of the source: the source's row count; else None.

        Stops at the first row kept, so only a filter that matches nothing reads
        the whole source.
        """
        if not self.where:
            return None
        count = 0
        for data, _ in self.iter_source():
            if _matches(data, self.where):
                return None
            count += 1
        return count

    def origin(self, where: int) -> str:
        """``file:line`` of a row of the file (``datasets.NAME.rows[i]`` for inline rows)."""
        return f"{self.display}[{where}]" if self.path is None else f"{self.display}:{where}"

    def first_row(self) -> Row | None:
        """The first row of the source, before filters (for checking templates cheaply)."""
        for data, where in self.iter_source():
            return Row(0, data, self.origin(where))
        return None

    def iter_source(self) -> Iterator[tuple[Mapping[str, Any], int]]:
        """Every row of the source with its line (index for inline rows), before filters.

        Origins are formatted only for the rows kept: a million-row file
        filtered down to a few should not cost a million strings.
        """
        if self.path is None:
            yield from ((row, i) for i, row in enumerate(self.rows))
            return
        reader = _READERS[self.format]
        try:
            yield from reader(self.path, self.display)
        except OSError as exc:
            raise SpecError(
                [Problem(self.display, 1, 1, self.name, f"cannot read: {exc.strerror}")]
            ) from None


def _matches(row: Mapping[str, Any], where: Mapping[str, tuple[Any, ...]]) -> bool:
    for key, accepted in where.items():  # noqa: SIM110 (a loop, not all(): no generator per row)
        if key not in row or row[key] not in accepted:
            return False
    return True


def _reservoir(
    rows: Iterator[tuple[Mapping[str, Any], int]], sample: Sample
) -> list[tuple[Mapping[str, Any], int]]:
    rng = random.Random(sample.seed)
    kept: list[tuple[int, tuple[Mapping[str, Any], int]]] = []
    for i, row in enumerate(rows):
        if i < sample.size:
            kept.append((i, row))
        else:
            j = rng.randint(0, i)
            if j < sample.size:
                kept[j] = (i, row)
    return [row for _, row in sorted(kept, key=lambda item: item[0])]


def _bad(display: str, line: int, col: int, message: str) -> SpecError:
    return SpecError([Problem(display, line, col, "(row)", message)])


def _object(value: Any, display: str, line: int) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        kind = "a list" if isinstance(value, list) else type(value).__name__
        raise _bad(display, line, 1, f"expected each row to be an object, got {kind}")
    problem = _row_problem(value)
    if problem is not None:
        raise _bad(display, line, 1, problem)
    return value


_DEEP = f"row nested deeper than {MAX_DEPTH} levels of lists and objects"


def _row_problem(value: Any) -> str | None:
    """What a decoded row holds that no row may: nesting deeper than :data:`MAX_DEPTH`,
    or a number that is not finite (``NaN``, ``Infinity``, ``1e400``: not JSON, and
    written into ``plan.jsonl``)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        for child in node.values() if type(node) is dict else node:
            kind = type(child)
            if kind is dict or kind is list:
                if depth >= MAX_DEPTH:
                    return _DEEP
                stack.append((child, depth + 1))
            elif kind is float and not math.isfinite(child):
                return f"non-finite number {child!r} (rows hold finite numbers only)"
    return None


def _decode_problem(exc: Exception) -> str:
    """The message for what the JSON decoder raised besides a syntax error."""
    if isinstance(exc, RecursionError):
        return _DEEP
    if "digits" in str(exc):
        return "number out of range (at most 4,300 digits; quote it to use it as text)"
    return f"cannot decode: {exc}"


def _read_jsonl(path: Path, display: str) -> Iterator[tuple[Mapping[str, Any], int]]:
    loads = json.JSONDecoder().decode
    line_no = 0
    with path.open(encoding="utf-8-sig") as f:
        try:
            for line_no, line in enumerate(f, 1):
                if line.isspace():  # (not strip(): no copy of every line)
                    continue
                try:
                    value = loads(line)
                except json.JSONDecodeError as exc:
                    col = min(exc.pos, len(line.rstrip("\r\n"))) + 1
                    raise _bad(display, line_no, col, f"invalid JSON: {exc.msg}") from None
                except (ValueError, RecursionError) as exc:
                    raise _bad(display, line_no, 1, _decode_problem(exc)) from None
                _object(value, display, line_no)
                yield value, line_no
        except UnicodeDecodeError:
            raise _bad(display, line_no + 1, 1, "not UTF-8 text") from None


def _read_csv(path: Path, display: str) -> Iterator[tuple[Mapping[str, Any], int]]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        try:
            for row in reader:
                if None in row:
                    raise _bad(display, reader.line_num, 1, "more fields than the header has")
                if any(v is None for v in row.values()):
                    raise _bad(display, reader.line_num, 1, "fewer fields than the header has")
                yield row, reader.line_num
        except (csv.Error, UnicodeDecodeError) as exc:
            raise _bad(display, reader.line_num or 1, 1, f"invalid CSV: {exc}") from None


def _read_lines(path: Path, display: str) -> Iterator[tuple[Mapping[str, Any], int]]:
    with path.open("rb") as f:
        for line_no, raw in enumerate(f, 1):
            try:
                text = raw.decode("utf-8-sig" if line_no == 1 else "utf-8").strip()
            except UnicodeDecodeError:
                raise _bad(display, line_no, 1, "not UTF-8 text") from None
            if text and not text.startswith("#"):
                yield {"text": text, "line": line_no}, line_no


def _read_yaml(path: Path, display: str) -> Iterator[tuple[Mapping[str, Any], int]]:
    data, positions = parse_yaml(
        decode(path.read_bytes(), display), display, max_values=YAML_MAX_VALUES
    )
    if not isinstance(data, list):
        raise _bad(display, 1, 1, "expected a list of rows")
    for i, value in enumerate(data):
        line = positions.of((i,))[0]
        yield _object(value, display, line), line


def _read_json(path: Path, display: str) -> Iterator[tuple[Mapping[str, Any], int]]:
    """Stream the items of a top-level JSON array without loading the whole file."""
    decoder = json.JSONDecoder()
    with path.open(encoding="utf-8-sig") as f:
        buf, pos, line, col0, eof = "", 0, 1, 0, False

        def more() -> bool:
            nonlocal buf, pos, line, col0, eof
            chunk = f.read(_CHUNK)
            consumed = buf[:pos]
            newline = consumed.rfind("\n")
            line += consumed.count("\n")
            col0 = len(consumed) - newline - 1 if newline >= 0 else col0 + len(consumed)
            buf, pos = buf[pos:] + chunk, 0
            eof = not chunk
            return bool(chunk)

        def skip_ws() -> str:
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in " \t\r\n":
                    pos += 1
                if pos < len(buf) or not more():
                    return buf[pos] if pos < len(buf) else ""

        def here() -> tuple[int, int]:
            newline = buf.rfind("\n", 0, pos)
            return line + buf.count("\n", 0, pos), pos - newline if newline >= 0 else col0 + pos + 1

        try:
            if skip_ws() != "[":
                raise _bad(display, *here(), "expected a JSON list of rows")
            pos += 1
            if skip_ws() == "]":
                return
            while True:
                skip_ws()
                while True:
                    try:
                        value, end = decoder.raw_decode(buf, pos)
                        break
                    except json.JSONDecodeError as exc:
                        if eof or not more():
                            raise _bad(display, *here(), f"invalid JSON: {exc.msg}") from None
                    except (ValueError, RecursionError) as exc:
                        raise _bad(display, *here(), _decode_problem(exc)) from None
                row_line = here()[0]
                pos = end
                yield _object(value, display, row_line), row_line
                sep = skip_ws()
                if sep == "]":
                    return
                if sep != ",":
                    raise _bad(
                        display,
                        *here(),
                        f"expected ',' or ']' in JSON list, got {sep or 'end of file'!r}",
                    )
                pos += 1
        except UnicodeDecodeError:
            raise _bad(display, line, 1, "not UTF-8 text") from None


_READERS = {
    "jsonl": _read_jsonl,
    "csv": _read_csv,
    "json": _read_json,
    "yaml": _read_yaml,
    "lines": _read_lines,
}
