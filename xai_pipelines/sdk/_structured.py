"""Structured output: JSON schemas from dicts, dataclasses or pydantic models, and parsing.

``json_schema_for`` turns the ``schema`` argument of ``Chat.parse`` into a JSON
schema; ``parse_content`` decodes an answer, validates it with ``jsonschema`` and
builds the dataclass or pydantic model instance when one was given. Pydantic is
used by duck typing (``model_json_schema`` / ``model_validate``), never imported.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from collections.abc import Mapping
from typing import Any

import jsonschema

from xai_pipelines.sdk.errors import RequestValidationError, StructuredOutputError

_PRIMITIVES: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    Any: {},
}


def _is_pydantic(schema: Any) -> bool:
    return isinstance(schema, type) and hasattr(schema, "model_json_schema")


def _type_schema(tp: Any) -> dict[str, Any]:
    if tp in _PRIMITIVES:
        return dict(_PRIMITIVES[tp])
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_type_schema(a) for a in args]}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (list, tuple, set, frozenset) or tp in (list, tuple):
        return {"type": "array", "items": _type_schema(args[0]) if args else {}}
    if origin is dict or tp is dict:
        return {"type": "object", "additionalProperties": _type_schema(args[1] if args else Any)}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [m.value for m in tp]}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _dataclass_schema(tp)
    if _is_pydantic(tp):
        return dict(tp.model_json_schema())
    raise RequestValidationError(f"cannot build a JSON schema for type {tp!r}")


def _dataclass_schema(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    props: dict[str, Any] = {}
    required: list[str] = []
    for f in dataclasses.fields(cls):
        props[f.name] = _type_schema(hints[f.name])
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    return {
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": False,
    }


def json_schema_for(schema: Any) -> dict[str, Any]:
    """The JSON schema of a schema dict, a dataclass type or a pydantic model class."""
    if isinstance(schema, Mapping):
        return dict(schema)
    if _is_pydantic(schema):
        return dict(schema.model_json_schema())
    if isinstance(schema, type) and dataclasses.is_dataclass(schema):
        return _dataclass_schema(schema)
    raise RequestValidationError(
        f"parse() needs a JSON schema dict, a dataclass or a pydantic model class, not {schema!r}"
    )


def _build(tp: Any, value: Any) -> Any:
    """Instantiate nested dataclasses/enums from validated JSON data."""
    if dataclasses.is_dataclass(tp) and isinstance(tp, type) and isinstance(value, dict):
        hints = typing.get_type_hints(tp)
        return tp(**{k: _build(hints[k], v) for k, v in value.items()})
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list and args and isinstance(value, list):
        return [_build(args[0], v) for v in value]
    if origin in (typing.Union, types.UnionType) and value is not None:
        real = [a for a in args if a is not type(None)]
        return _build(real[0], value) if len(real) == 1 else value
    return value


def parse_content(content: str, schema: Any) -> Any:
    """Decode ``content`` as JSON valid for ``schema``.

    Returns:
        A dict/list for a schema dict, an instance for a dataclass or pydantic model.

    Raises:
        StructuredOutputError: If the content is not JSON or does not match the schema.
    """
    try:
        data = json.loads(content)
    except json.JSONDecodeError as exc:
        raise StructuredOutputError(f"answer is not JSON: {exc}", content=content) from None
    if _is_pydantic(schema):
        try:
            return schema.model_validate(data)
        except ValueError as exc:  # pydantic.ValidationError is a ValueError
            raise StructuredOutputError(
                f"answer does not match the model: {exc}", content=content
            ) from None
    json_schema = json_schema_for(schema)
    errors = sorted(
        jsonschema.Draft202012Validator(json_schema).iter_errors(data), key=lambda e: list(e.path)
    )
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(root)"
        raise StructuredOutputError(
            f"answer does not match the schema at {where}: {errors[0].message}", content=content
        )
    return _build(schema, data) if isinstance(schema, type) else data
