"""Assertions on structured output: is_json, json_schema, json_path and tool_call.

Schemas arrive loaded: the spec layer reads ``json_schema: file.json`` and
``tool_call: {arguments: file.json}`` next to the pipeline before the plan runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from jsonschema import exceptions as schema_errors
from jsonschema import validators

from xai_pipelines.evals.base import (
    Assertion,
    EvalConfigError,
    EvalContext,
    Target,
    Verdict,
    quote,
    register,
)

_MISSING = object()
_SEGMENT = re.compile(r"\.?([A-Za-z_][\w-]*)|\[(\d+)\]|\[\"([^\"]*)\"\]|\['([^']*)'\]")


def parse_json(text: str) -> tuple[Any, str | None]:
    """``(value, None)`` when ``text`` is JSON, else ``(None, why not)``."""
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"


def schema_validator(schema: Any, where: str) -> Any:
    """A validator for ``schema`` (its ``$schema`` dialect, 2020-12 by default).

    Raises:
        EvalConfigError: When ``schema`` is not a valid JSON Schema.
    """
    if not isinstance(schema, Mapping):
        raise EvalConfigError(f"{where}: expected a schema object, got {type(schema).__name__}")
    cls = validators.validator_for(schema, default=validators.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except schema_errors.SchemaError as exc:
        raise EvalConfigError(f"{where}: invalid JSON Schema: {exc.message}") from None
    return cls(schema)


def schema_problem(validator: Any, value: Any) -> str | None:
    """The most relevant reason ``value`` breaks the validator's schema, or None."""
    error = schema_errors.best_match(validator.iter_errors(value))
    if error is None:
        return None
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return f"at ${where}: {error.message}"


def parse_path(path: str) -> list[str | int]:
    """``$.a.b[0]["c d"]`` (the ``$`` is optional) -> ``["a", "b", 0, "c d"]``.

    Raises:
        EvalConfigError: When the path does not parse.
    """
    rest = path.strip()
    rest = rest[1:] if rest.startswith("$") else rest
    out: list[str | int] = []
    pos = 0
    while pos < len(rest):
        m = _SEGMENT.match(rest, pos)
        if m is None or (pos == 0 and m.group(0).startswith(".") and not path.startswith("$")):
            raise EvalConfigError(f"json_path: cannot parse {path!r} at {rest[pos:]!r}")
        name, index, dq, sq = m.groups()
        out.append(
            int(index) if index is not None else next(x for x in (name, dq, sq) if x is not None)
        )
        pos = m.end()
    return out


def follow(value: Any, path: list[str | int]) -> Any:
    """The value at ``path`` inside ``value``, or ``_MISSING``."""
    for step in path:
        in_list = (
            isinstance(step, int) and isinstance(value, list) and -len(value) <= step < len(value)
        )
        in_map = isinstance(step, str) and isinstance(value, Mapping) and step in value
        if not (in_list or in_map):
            return _MISSING
        value = value[step]
    return value


@register
class IsJson(Assertion):
    """The output parses as JSON."""

    type = "is_json"

    def check(self, target: Target, ctx: EvalContext) -> Verdict:
        """Parse the output."""
        _, problem = parse_json(target.text)
        return Verdict(problem is None, problem or "valid JSON")


@register
class JsonSchema(Assertion):
    """The output is JSON valid against the schema."""

    type = "json_schema"

    def configure(self, value: Any) -> None:
        """Compile the (already loaded) schema."""
        self.validator = schema_validator(value, "json_schema")

    def check(self, target: Target, ctx: EvalContext) -> Verdict:
        """Parse, then validate."""
        value, problem = parse_json(target.text)
        if problem is None:
            problem = schema_problem(self.validator, value)
        return Verdict(problem is None, problem or "valid against the schema")


@register
class JsonPath(Assertion):
    """The output is JSON with a value at ``path`` (equal to ``equals`` when given)."""

    type = "json_path"

    def configure(self, value: Any) -> None:
        """``{path, equals?}``."""
        if not isinstance(value, Mapping) or not isinstance(value.get("path"), str):
            raise EvalConfigError("json_path: expected {path: ..., equals: ...}")
        self.path = value["path"]
        self.steps = parse_path(self.path)
        self.expected = value.get("equals", _MISSING)

    def check(self, target: Target, ctx: EvalContext) -> Verdict:
        """Follow the path, then compare."""
        data, problem = parse_json(target.text)
        if problem is not None:
            return Verdict(False, problem)
        found = follow(data, self.steps)
        if found is _MISSING:
            return Verdict(False, f"no value at {self.path}")
        shown = json.dumps(found, ensure_ascii=False)
        if self.expected is _MISSING:
            return Verdict(True, f"{self.path} = {quote(shown)}")
        if _same(found, self.expected):
            return Verdict(True, f"{self.path} = {quote(shown)}")
        return Verdict(False, f"{self.path}: expected {quote(self.expected)}, got {quote(shown)}")


def _same(found: Any, expected: Any) -> bool:
    if found == expected and type(found) is type(expected):
        return True
    # Templated expectations are text ("{{ row.population }}" renders "42"), so a
    # string also matches a JSON scalar that serialises to it.
    return (
        isinstance(expected, str)
        and not isinstance(found, str | list | dict)
        and json.dumps(found) == expected.strip()
    )


@register
class ToolCall(Assertion):
    """The output calls a tool: any, a named one, and/or with arguments valid for a schema.

    Value: a function name, or ``{name?, arguments?}`` with ``arguments`` a JSON Schema.
    """

    type = "tool_call"

    def configure(self, value: Any) -> None:
        """A name, or ``{name, arguments}``."""
        if isinstance(value, str):
            value = {"name": value}
        if not isinstance(value, Mapping):
            raise EvalConfigError("tool_call: expected a function name or {name, arguments}")
        self.function = value.get("name")
        schema = value.get("arguments")
        self.validator = None if schema is None else schema_validator(schema, "tool_call")

    def check(self, target: Target, ctx: EvalContext) -> Verdict:
        """Look for a matching call among the output's tool calls."""
        made = [] if target.output is None else target.output.tool_calls
        calls = [c.get("function") or {} for c in made]
        if not calls:
            return Verdict(False, f"no tool call (content {quote(target.text)})")
        named = [c for c in calls if self.function is None or c.get("name") == self.function]
        if not named:
            names = ", ".join(str(c.get("name")) for c in calls)
            return Verdict(False, f"no call to {self.function!r} (called: {names})")
        problems = []
        for call in named:
            shown = f"{call.get('name')}({call.get('arguments') or ''})"
            if self.validator is None:
                return Verdict(True, f"called {quote(shown)}")
            args, problem = parse_json(str(call.get("arguments") or "{}"))
            problem = problem or schema_problem(self.validator, args)
            if problem is None:
                return Verdict(True, f"called {quote(shown)}")
            problems.append(f"{call.get('name')} arguments {problem}")
        return Verdict(False, "; ".join(problems))
