"""Safe YAML loading that remembers where every value came from.

The loader only composes nodes (PyYAML never constructs objects here) and
turns them into plain JSON-like values itself, which lets it:

* resolve scalars by the YAML 1.2 core schema, so ``no``, ``on`` and ``16:9``
  stay strings (YAML 1.1 would read Norway's country code as ``False`` and an
  aspect ratio as the sexagesimal number 969);
* refuse duplicate keys, unknown tags and non-finite numbers;
* expand anchors, aliases and ``<<`` merge keys with a budget on the number of
  values produced, so a "billion laughs" alias bomb fails fast and cleanly;
* record the line and column of every value and every mapping key.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml import composer, nodes, parser, reader, resolver, scanner

from xai_pipelines.spec.errors import PathT, Problem, ProblemList, SpecError, format_path
from xai_pipelines.spec.limits import MAX_DEPTH, MAX_INT_DIGITS

Mark = tuple[int, int]

MAX_VALUES = 200_000

_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"

_INT_RE = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT_RE = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)


class _CoreResolver(resolver.BaseResolver):
    """YAML 1.2 core schema: only true/false booleans, no timestamps, no sexagesimals."""


_CoreResolver.yaml_implicit_resolvers = {}
for _tag, _regexp, _first in (
    (_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), "tTfF"),
    (_NULL, re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]),
    (_INT, _INT_RE, "-+0123456789"),
    (_FLOAT, _FLOAT_RE, "-+0123456789."),
    (_MERGE, re.compile(r"^(?:<<)$"), "<"),
):
    _CoreResolver.add_implicit_resolver(_tag, _regexp, list(_first))


class _Composer(reader.Reader, scanner.Scanner, parser.Parser, composer.Composer, _CoreResolver):
    def __init__(self, text: str) -> None:
        reader.Reader.__init__(self, text)
        scanner.Scanner.__init__(self)
        parser.Parser.__init__(self)
        composer.Composer.__init__(self)
        _CoreResolver.__init__(self)


@dataclass
class Positions:
    """Where each value (and each mapping key) of a loaded document is.

    Attributes:
        file: The file name used in problems.
        values: JSON path -> position of the value.
        keys: JSON path -> position of the key that introduces the value.
        external: JSON path -> name of the place a value came from instead of
            the file (``--set vars.topic``); everything under it reports there.
    """

    file: str
    values: dict[PathT, Mark] = field(default_factory=dict)
    keys: dict[PathT, Mark] = field(default_factory=dict)
    external: dict[PathT, str] = field(default_factory=dict)

    def of(self, path: PathT) -> Mark:
        """Position of the value at ``path``, or of its nearest known ancestor."""
        for end in range(len(path), -1, -1):
            mark = self.values.get(path[:end])
            if mark is not None:
                return mark
        return (1, 1)

    def of_key(self, path: PathT) -> Mark:
        """Position of the key introducing ``path`` (falls back to the value)."""
        return self.keys.get(path) or self.of(path)

    def problem(self, path: PathT, message: str, *, key: bool = False) -> Problem:
        """A problem located at the value (or key) at ``path``."""
        for end in range(len(path), -1, -1):
            origin = self.external.get(path[:end])
            if origin is not None:
                return Problem(origin, 1, 1, format_path(path), message)
        line, col = self.of_key(path) if key else self.of(path)
        return Problem(self.file, line, col, format_path(path), message)


class _Budget(Exception):
    def __init__(self, message: str, mark: Mark) -> None:
        super().__init__(message)
        self.mark = mark


class _Converter:
    def __init__(self, positions: Positions, problems: ProblemList, max_values: int) -> None:
        self.positions = positions
        self.problems = problems
        self.max_values = max_values
        self.count = 0

    def _mark(self, node: nodes.Node) -> Mark:
        return (node.start_mark.line + 1, node.start_mark.column + 1)

    def _problem(self, node: nodes.Node, path: PathT, message: str) -> None:
        self.problems.add(self.positions.file, self._mark(node), path, message)

    def convert(self, node: nodes.Node, path: PathT, depth: int) -> Any:
        self.count += 1
        if self.count > self.max_values:
            raise _Budget(
                f"document expands to more than {self.max_values} values (alias bomb?)",
                self._mark(node),
            )
        if depth > MAX_DEPTH:
            raise _Budget(_DEEP, self._mark(node))
        self.positions.values.setdefault(path, self._mark(node))
        if isinstance(node, nodes.ScalarNode):
            return self._scalar(node, path)
        if isinstance(node, nodes.SequenceNode):
            if node.tag != _SEQ:
                self._problem(
                    node, path, f"unsupported YAML tag {node.tag!r} (expected a plain list)"
                )
            return [self.convert(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        assert isinstance(node, nodes.MappingNode)
        if node.tag != _MAP:
            self._problem(
                node, path, f"unsupported YAML tag {node.tag!r} (expected a plain mapping)"
            )
        return self._mapping(node, path, depth)

    def _mapping(self, node: nodes.MappingNode, path: PathT, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        merges: list[nodes.Node] = []
        seen: dict[str, Mark] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merges.append(value_node)
                continue
            if not isinstance(key_node, nodes.ScalarNode):
                self._problem(
                    key_node, path, "mapping keys must be plain strings (got a collection)"
                )
                continue
            key = str(key_node.value)
            mark = self._mark(key_node)
            if key in seen:
                first = seen[key]
                self._problem(
                    key_node,
                    (*path, key),
                    f"duplicate key '{key}' (first defined at line {first[0]}, column {first[1]})",
                )
                continue
            seen[key] = mark
            self.positions.keys.setdefault((*path, key), mark)
            out[key] = self.convert(value_node, (*path, key), depth + 1)
        # Explicit keys are converted first so their positions win over merged ones.
        merged: dict[str, Any] = {}
        for value_node in merges:
            merged.update(self._merge_sources(value_node, path, depth))
        return {**{k: v for k, v in merged.items() if k not in out}, **out}

    def _merge_sources(self, node: nodes.Node, path: PathT, depth: int) -> dict[str, Any]:
        sources = node.value if isinstance(node, nodes.SequenceNode) else [node]
        result: dict[str, Any] = {}
        for source in reversed(sources):  # earlier sources win, as YAML specifies
            if not isinstance(source, nodes.MappingNode):
                self._problem(
                    source, path, "a '<<' merge key needs a mapping or a list of mappings"
                )
                continue
            result.update(self._mapping(source, path, depth + 1))
        return result

    def _overflow(self, node: nodes.Node, path: PathT, text: str) -> None:
        self._problem(node, path, f"number {_short(text)} is out of range")

    def _scalar(self, node: nodes.ScalarNode, path: PathT) -> Any:
        text, tag = node.value, node.tag
        if tag == _STR:
            return text
        if tag == _NULL:
            return None
        if tag == _BOOL and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if tag in (_INT, _FLOAT) and _too_many_digits(text):
            self._problem(node, path, number_problem(text))
            return None
        if tag == _INT and _INT_RE.match(text):
            return int(text, 0) if text[:2] in ("0x", "0o") else int(text)
        if tag == _FLOAT and (_FLOAT_RE.match(text) or _INT_RE.match(text)):
            if text.lower().lstrip("+-") in (".inf", ".nan"):
                self._problem(node, path, f"non-finite number {text!r} is not allowed")
                return None
            value = float(int(text, 0)) if _INT_RE.match(text) else float(text)
            return value if math.isfinite(value) else self._overflow(node, path, text)
        if tag in (_BOOL, _INT, _FLOAT):
            self._problem(node, path, f"{text!r} is not a valid {tag.rsplit(':', 1)[-1]}")
            return None
        self._problem(node, path, f"unsupported YAML tag {tag!r} (only plain values are allowed)")
        return None


def _short(text: str) -> str:
    return repr(text) if len(text) <= 40 else f"'{text[:20]}...' ({len(text)} characters)"


def _too_many_digits(text: str) -> bool:
    """Whether a number's integer part has more digits than any setting or row may hold."""
    if len(text) <= MAX_INT_DIGITS:
        return False
    mantissa = re.split(r"[eE]", text, maxsplit=1)[0]
    return len(mantissa.split(".", 1)[0].lstrip("+-")) > MAX_INT_DIGITS


def number_problem(text: str) -> str:
    """The message for a number with too many digits (YAML, a dataset row or ``--set``)."""
    return (
        f"number {_short(text)} is out of range (at most {MAX_INT_DIGITS} digits; "
        "quote it to use it as text)"
    )


_DEEP = (
    f"nesting deeper than {MAX_DEPTH} levels of lists and mappings "
    "(a recursive alias, or data too deep for a pipeline)"
)
_BRACKETS = re.compile(r"[\[\]{}]")
#: Open brackets in a row that no document of :data:`MAX_DEPTH` levels reaches, even
#: counting brackets inside strings; PyYAML's scanner slows down quadratically with
#: flow nesting, so deeper text is refused before it is parsed.
_MAX_OPEN = 4 * MAX_DEPTH


def _flow_too_deep(text: str) -> Mark | None:
    """Where ``text`` opens more than :data:`_MAX_OPEN` brackets without closing them, if it does."""
    if text.count("[") + text.count("{") <= _MAX_OPEN:
        return None
    depth = 0
    for match in _BRACKETS.finditer(text):
        # (never below zero: closing brackets in earlier strings must not hide a deep run)
        depth = depth + 1 if match.group() in "[{" else max(depth - 1, 0)
        if depth > _MAX_OPEN:
            return _reader_mark(text, match.start())
    return None


def _reader_mark(text: str, index: int) -> Mark:
    line = text.count("\n", 0, index) + 1
    return (line, index - (text.rfind("\n", 0, index) + 1) + 1)


def decode(data: bytes, file: str) -> str:
    """Decode UTF-8 (with or without a BOM), or raise a :class:`SpecError` at the bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, col = _reader_mark(data[: exc.start].decode("utf-8", "replace"), exc.start)
        bad = data[exc.start]
        raise SpecError(
            [Problem(file, line, col, "(root)", f"not UTF-8 text (invalid byte 0x{bad:02x})")]
        ) from None


def _syntax_problem(exc: yaml.YAMLError, text: str, file: str) -> Problem:
    if isinstance(exc, reader.ReaderError):
        line, col = _reader_mark(text, exc.position)
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        return Problem(
            file, line, col, "(root)", f"unacceptable character {char!r} (binary data is not YAML)"
        )
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        what = exc.problem or "invalid YAML"
        if "'\\t'" in what:
            what = "tab character: YAML indentation must use spaces"
        elif exc.context:
            what = f"{exc.context}, {what}"
        return Problem(file, mark.line + 1, mark.column + 1, "(root)", f"YAML syntax error: {what}")
    return Problem(file, 1, 1, "(root)", f"YAML syntax error: {exc}")


def parse_yaml(text: str, file: str, *, max_values: int = MAX_VALUES) -> tuple[Any, Positions]:
    """Parse one YAML document into JSON-like values plus their positions.

    Args:
        text: The document.
        file: The name used in problems.
        max_values: Most values the document may expand to (aliases included).

    Returns:
        ``(value, positions)``; an empty document gives ``None``.

    Raises:
        SpecError: Syntax errors, duplicate keys, unsupported tags, alias bombs.
    """
    too_deep = _flow_too_deep(text)
    if too_deep is not None:
        raise SpecError([Problem(file, *too_deep, "(root)", _DEEP)])
    loader: _Composer | None = None
    try:
        loader = _Composer(text)
        node = loader.get_single_node()
    except yaml.YAMLError as exc:
        raise SpecError([_syntax_problem(exc, text, file)]) from None
    except RecursionError:
        raise SpecError([Problem(file, 1, 1, "(root)", "YAML nested too deeply")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    positions = Positions(file)
    if node is None:
        return None, positions
    problems = ProblemList()
    converter = _Converter(positions, problems, max_values)
    try:
        value = converter.convert(node, (), 0)
    except _Budget as exc:
        raise SpecError([Problem(file, *exc.mark, "(root)", str(exc))]) from None
    problems.raise_if_any()
    return value, positions
