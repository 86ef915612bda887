"""``--set key=value`` overrides applied to the document before validation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xai_pipelines.spec.errors import PathT, Problem, SpecError
from xai_pipelines.spec.yaml_source import Positions, parse_yaml


def parse_assignment(text: str) -> tuple[str, Any]:
    """Split ``key=value``; the value is read as YAML (``8`` is a number, ``[a, b]`` a list).

    Raises:
        SpecError: No ``=`` or an empty key; a number with too many digits, or a
            value nested too deeply.
    """
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise SpecError([Problem(f"--set {text}", 1, 1, "(root)", "expected KEY=VALUE")])
    try:
        value, _ = parse_yaml(raw, f"--set {key}")
    except SpecError as exc:
        if any(p.message.startswith(_REFUSED) for p in exc.problems):
            raise  # valid YAML, but a number or a nesting no pipeline may hold
        value = raw  # not valid YAML: take the text as it is
    return key.strip(), value


#: Problems of a ``--set`` value that are not "this is not YAML" (which means: take the text).
_REFUSED = ("number ", "nesting deeper")


def override_path(key: str) -> PathT:
    """``topic`` -> ``("vars", "topic")``; ``chats.0.model`` -> ``("chats", 0, "model")``."""
    parts = key.split(".")
    if len(parts) == 1:
        return ("vars", key)
    return tuple(int(p) if p.isdigit() else p for p in parts)


def apply_overrides(
    data: dict[str, Any], overrides: Mapping[str, Any], positions: Positions
) -> None:
    """Set each dotted path in ``data`` (in place), recording where the values came from.

    Raises:
        SpecError: A path that goes through a value that is not a mapping or list.
    """
    problems = []
    for key, value in overrides.items():
        path = override_path(key)
        origin = f"--set {key}"
        node: Any = data
        for i, part in enumerate(path[:-1]):
            nxt = path[i + 1]
            if isinstance(node, dict) and isinstance(part, str):
                node = node.setdefault(part, [] if isinstance(nxt, int) else {})
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                node = node[part]
            else:
                problems.append(
                    Problem(origin, 1, 1, key, f"cannot set '{key}': '{part}' does not exist here")
                )
                break
        else:
            last = path[-1]
            settable = isinstance(node, dict) and isinstance(last, str)
            settable |= isinstance(node, list) and isinstance(last, int) and last < len(node)
            if settable:
                node[last] = value
            else:
                problems.append(Problem(origin, 1, 1, key, f"cannot set '{key}'"))
                continue
            positions.external[path] = origin
    if problems:
        raise SpecError(problems)
