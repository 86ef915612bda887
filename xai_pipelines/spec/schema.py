"""JSON Schema validation that reports every error with a position and a plain message.

``jsonschema`` errors are turned into problems ``expected X, got Y`` pointing
at the offending value (or key, for unknown keys); ``oneOf`` / ``anyOf``
errors are narrowed to the branch the value was evidently meant for.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from xai_pipelines.spec.errors import PathT, Problem, did_you_mean
from xai_pipelines.spec.schema_parts import DURATION_PATTERN
from xai_pipelines.spec.yaml_source import Positions

_JSON_TYPES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


@cache
def pipeline_schema() -> dict[str, Any]:
    """The pipeline JSON Schema (the packaged copy of ``schemas/pipeline.schema.json``)."""
    text = resources.files("xai_pipelines").joinpath("schemas/pipeline.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def _is_integer(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


#: Draft 2020-12 with "integer" meaning an int: JSON Schema also counts ``2.0``, which
#: would reach ``range()``, ``islice()`` and the API's integer fields as a float.
_Validator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)


@cache
def _validator() -> Any:
    return _Validator(pipeline_schema())


def subschema(*pointer: str) -> dict[str, Any]:
    """A sub-schema by JSON pointer parts, e.g. ``subschema("$defs", "chat", "properties", "n")``."""
    node: Any = pipeline_schema()
    for part in pointer:
        node = node[part]
    return node  # type: ignore[no-any-return]


def type_name(value: Any) -> str:
    """How a YAML value's type reads in a message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


def _show(value: Any) -> str:
    if isinstance(value, dict | list):
        return type_name(value)
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _expected_types(schema: dict[str, Any]) -> list[str]:
    t = schema.get("type")
    if t is None and "enum" in schema:
        return ["one of " + ", ".join(_show(v) for v in schema["enum"])]
    if t is None and "const" in schema:
        return [_show(schema["const"])]
    types: list[str] = t if isinstance(t, list) else [t] if t else []
    return [_JSON_TYPES.get(x, x) for x in types]


_PATTERNS = {
    DURATION_PATTERN: "a duration such as 500ms, 30s, 2m, 1h (or seconds as a number)",
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$": "a date YYYY-MM-DD",
    r"^[A-Za-z0-9][A-Za-z0-9._-]*$": "a name of letters, digits, '.', '_', '-'",
}


class _Reporter:
    def __init__(self, positions: Positions) -> None:
        self.positions = positions

    def problem(self, path: PathT, message: str, *, key: bool = False) -> Problem:
        return self.positions.problem(path, message, key=key)

    def explain(self, error: ValidationError, base: PathT = ()) -> Iterator[Problem]:
        path = (*base, *error.absolute_path)
        kind, value, schema = error.validator, error.instance, error.schema
        if "propertyNames" in error.absolute_schema_path:
            yield self.problem(
                (*path, str(value)),
                f"invalid name '{value}' (expected a letter or _, then letters, digits or _)",
                key=True,
            )
        elif kind == "additionalProperties":
            allowed = list(schema.get("properties", {}))
            for key in sorted(set(value) - set(allowed)) if isinstance(value, dict) else []:
                hint = did_you_mean(key, allowed)
                listing = (
                    f" (expected one of: {', '.join(allowed)})" if not hint and allowed else ""
                )
                yield self.problem((*path, key), f"unknown key '{key}'{hint}{listing}", key=True)
        elif kind == "type":
            yield self.problem(
                path, f"expected {' or '.join(_expected_types(schema))}, got {_show(value)}"
            )
        elif kind == "enum":
            options = [str(v) for v in error.validator_value]
            hint = did_you_mean(str(value), options) if isinstance(value, str) else ""
            yield self.problem(
                path, f"expected one of {', '.join(options)}, got {_show(value)}{hint}"
            )
        elif kind == "const":
            yield self.problem(path, f"expected {_show(error.validator_value)}, got {_show(value)}")
        elif kind == "required":
            missing = next(k for k in error.validator_value if k not in value)
            if not any(did_you_mean(k, [missing]) for k in value):  # reported as a typo instead
                yield self.problem(path, f"missing required key '{missing}'")
        elif kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            op = {
                "minimum": ">=",
                "maximum": "<=",
                "exclusiveMinimum": ">",
                "exclusiveMaximum": "<",
            }[kind]
            yield self.problem(
                path,
                f"out of range (expected a value {op} {error.validator_value}, got {_show(value)})",
            )
        elif kind in ("minItems", "maxItems", "minLength", "minProperties"):
            what = "items" if "Items" in kind else "characters" if "Length" in kind else "keys"
            op = "at least" if kind.startswith("min") else "at most"
            what = what[:-1] if error.validator_value == 1 else what
            yield self.problem(
                path, f"expected {op} {error.validator_value} {what}, got {len(value)}"
            )
        elif kind == "pattern":
            what = _PATTERNS.get(error.validator_value, f"a value matching {error.validator_value}")
            yield self.problem(path, f"expected {what}, got {_show(value)}")
        elif kind == "dependentRequired":
            yield from self._dependent(path, value, error.validator_value)
        elif kind in ("oneOf", "anyOf"):
            yield from self._one_of(error, path, base)
        else:
            yield self.problem(path, error.message)

    def _dependent(self, path: PathT, value: Any, rules: dict[str, list[str]]) -> Iterator[Problem]:
        for key, needed in rules.items():
            if key in value and any(n not in value for n in needed):
                yield self.problem(
                    (*path, key), f"'{key}' is only allowed together with '{needed[0]}'", key=True
                )

    def _one_of(self, error: ValidationError, path: PathT, base: PathT) -> Iterator[Problem]:
        value, branches = error.instance, error.validator_value
        keys = [b["required"][0] for b in branches if set(b) == {"required"}]
        if len(keys) == len(branches):  # "exactly one of these keys"
            if not isinstance(value, dict):
                return  # the object's type error is reported on its own
            present = [k for k in keys if isinstance(value, dict) and k in value]
            if present:
                yield self.problem(
                    path, f"expected only one of {', '.join(keys)}, got {', '.join(present)}"
                )
            elif not any(did_you_mean(k, keys) for k in value):
                # (a misspelt key is reported as unknown, with a suggestion, instead)
                yield self.problem(path, f"expected one of the keys {', '.join(keys)}")
            return
        by_branch: dict[int, list[ValidationError]] = {}
        for sub in error.context or []:
            by_branch.setdefault(sub.relative_schema_path[0], []).append(sub)  # type: ignore[arg-type]
        candidates = [
            errs
            for errs in by_branch.values()
            if not any(e.validator == "type" and not e.relative_path for e in errs)
            and not any(e.validator in ("enum", "const") and not e.relative_path for e in errs)
        ]
        if len(candidates) == 1:
            for sub in candidates[0]:
                yield from self.explain(sub, base)
            return
        expected: list[str] = []
        for branch in branches:
            expected += [t for t in _expected_types(branch) if t not in expected]
        if expected:
            yield self.problem(path, f"expected {' or '.join(expected)}, got {_show(value)}")
        else:
            yield self.problem(path, error.message)


def schema_problems(data: Any, positions: Positions) -> list[Problem]:
    """Validate ``data`` against the pipeline schema.

    Args:
        data: The loaded YAML document.
        positions: Where its values are.

    Returns:
        Every problem, in no particular order (:class:`SpecError` sorts them).
    """
    reporter = _Reporter(positions)
    out: list[Problem] = []
    for error in _validator().iter_errors(data):
        out.extend(reporter.explain(error))
    return out


def value_problems(
    value: Any, schema: dict[str, Any], path: PathT, positions: Positions
) -> list[Problem]:
    """Validate one value (e.g. a matrix entry) against a sub-schema of the pipeline schema."""
    validator = _Validator({**schema, "$defs": pipeline_schema()["$defs"]})
    reporter = _Reporter(positions)
    return [p for e in validator.iter_errors(value) for p in reporter.explain(e, path)]
