"""Generate JSON values that validate against a JSON schema.

Covers the keywords structured outputs use: type (including lists), object
properties / required / additionalProperties / min/maxProperties, arrays with
items / prefixItems / min/maxItems / uniqueItems, enum, const, strings with
min/maxLength and common formats, numbers and integers with (exclusive)
minimum / maximum / multipleOf, string ``pattern`` (see ``patterngen``), booleans,
null, anyOf / oneOf (first non-null branch),
allOf (merged), and local ``$ref`` into ``$defs`` / ``definitions``.
"""

from __future__ import annotations

import math
import random
from typing import Any

from xai_pipelines.emulator.patterngen import string_matching
from xai_pipelines.emulator.textgen import short_phrase

_MAX_DEPTH = 8
_FORMATS = {
    "date": lambda r: f"2026-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
    "date-time": lambda r: f"2026-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T12:00:00Z",
    "time": lambda r: f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:00Z",
    "email": lambda r: f"user{r.randint(1, 999)}@example.com",
    "uri": lambda r: f"https://example.com/item/{r.randint(1, 9999)}",
    "uuid": lambda r: "-".join(
        "".join(r.choice("0123456789abcdef") for _ in range(k)) for k in (8, 4, 4, 4, 12)
    ),
}


class _Generator:
    def __init__(self, root: dict[str, Any], rng: random.Random) -> None:
        self.root = root
        self.rng = rng

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        seen = 0
        while "$ref" in schema and seen < 32:
            ref = schema["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#"):
                break
            target: Any = self.root
            for part in ref.lstrip("#/").split("/") if ref != "#" else []:
                target = target[part.replace("~1", "/").replace("~0", "~")]
            merged = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **merged}
            seen += 1
        if "allOf" in schema:
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for sub in schema["allOf"]:
                sub = self.resolve(sub) if isinstance(sub, dict) else {}
                for key, value in sub.items():
                    if key == "properties":
                        merged["properties"] = {**merged.get("properties", {}), **value}
                    elif key == "required":
                        merged["required"] = sorted({*merged.get("required", []), *value})
                    else:
                        merged.setdefault(key, value)
            schema = merged
        return schema

    def value(self, schema: Any, depth: int = 0) -> Any:
        if schema is True or schema == {}:
            return short_phrase(self.rng)
        if not isinstance(schema, dict):
            return None
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return self.rng.choice(schema["enum"])
        for key in ("anyOf", "oneOf"):
            if key in schema:
                branches = [self.resolve(b) for b in schema[key] if isinstance(b, dict)]
                non_null = [b for b in branches if b.get("type") != "null"]
                base = {k: v for k, v in schema.items() if k != key}
                return self.value({**base, **(non_null or branches)[0]}, depth)
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"] or kind
            kind = kinds[0] if kinds else None
        if kind is None:
            kind = (
                "object" if "properties" in schema else "array" if "items" in schema else "string"
            )
        return getattr(self, f"_{kind}", self._string)(schema, depth)

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        props: dict[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", []))
        names = list(props) if depth < _MAX_DEPTH else [n for n in props if n in required]
        out = {name: self.value(props[name], depth + 1) for name in names}
        for name in required - set(out):
            out[name] = self.value(props.get(name, {"type": "string"}), depth + 1)
        extra = schema.get("additionalProperties", True)
        i = 0
        while len(out) < schema.get("minProperties", 0):
            sub = extra if isinstance(extra, dict) else {"type": "string"}
            out[f"extra_{i}"] = self.value(sub, depth + 1)
            i += 1
        limit = schema.get("maxProperties")
        if limit is not None and len(out) > limit:
            keep = [n for n in out if n in required] + [n for n in out if n not in required]
            out = {n: out[n] for n in keep[:limit]}
        return out

    def _array(self, schema: dict[str, Any], depth: int) -> list[Any]:
        low = schema.get("minItems", 0)
        high = schema.get("maxItems", max(low, 3))
        prefix = schema.get("prefixItems", [])
        if depth >= _MAX_DEPTH:
            count = low
        else:
            first = max(low, 1 if high >= 1 else 0)
            count = self.rng.randint(first, max(first, min(high, 3)))
        count = min(count, high)
        items_schema = schema.get("items", {})
        out: list[Any] = []
        attempts = 0
        while len(out) < count and attempts < count * 20 + 20:
            i = len(out)
            sub = prefix[i] if i < len(prefix) else items_schema
            item = self.value(sub, depth + 1)
            attempts += 1
            if schema.get("uniqueItems") and item in out:
                continue
            out.append(item)
        return out

    def _string(self, schema: dict[str, Any], depth: int) -> str:
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            low, high = schema.get("minLength", 0), schema.get("maxLength", math.inf)
            for _ in range(8):
                candidate = string_matching(pattern, self.rng)
                if candidate is not None and low <= len(candidate) <= high:
                    return candidate
        fmt = schema.get("format")
        text = _FORMATS[fmt](self.rng) if fmt in _FORMATS else short_phrase(self.rng)
        low = schema.get("minLength", 0)
        high = schema.get("maxLength")
        while len(text) < low:
            text += " " + short_phrase(self.rng)
        if high is not None:
            text = text[:high]
        return text

    def _number_bounds(self, schema: dict[str, Any], step: float) -> tuple[float, float]:
        low = schema.get("minimum", -math.inf)
        high = schema.get("maximum", math.inf)
        if "exclusiveMinimum" in schema:
            low = max(low, schema["exclusiveMinimum"] + step)
        if "exclusiveMaximum" in schema:
            high = min(high, schema["exclusiveMaximum"] - step)
        if math.isinf(low) and math.isinf(high):
            low, high = 0, 100
        elif math.isinf(low):
            low = high - 100
        elif math.isinf(high):
            high = low + 100
        return low, high

    def _integer(self, schema: dict[str, Any], depth: int) -> int:
        low, high = self._number_bounds(schema, 1)
        low_i, high_i = math.ceil(low), math.floor(high)
        multiple = schema.get("multipleOf")
        if isinstance(multiple, int) and multiple > 0:
            first = math.ceil(low_i / multiple)
            last = math.floor(high_i / multiple)
            return self.rng.randint(first, max(first, last)) * multiple
        return self.rng.randint(low_i, max(low_i, high_i))

    def _number(self, schema: dict[str, Any], depth: int) -> float:
        low, high = self._number_bounds(schema, 1e-6)
        multiple = schema.get("multipleOf")
        if multiple:
            first, last = math.ceil(low / multiple), math.floor(high / multiple)
            return self.rng.randint(first, max(first, last)) * multiple
        low, high = self._number_bounds(schema, 1e-6)
        return round(self.rng.uniform(low, high), 3) if high - low > 0.01 else float(low)

    def _boolean(self, schema: dict[str, Any], depth: int) -> bool:
        return self.rng.random() < 0.5

    def _null(self, schema: dict[str, Any], depth: int) -> None:
        return None


def generate(schema: dict[str, Any], rng: random.Random) -> Any:
    """A value valid against ``schema`` chosen with ``rng``."""
    return _Generator(schema, rng).value(schema)
