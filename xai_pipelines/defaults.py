"""The pipeline's settings and their defaults: the one table.

Every default of a run setting (``execution``, ``evals``, ``output``) is written
here once, in the form a pipeline file would write it. The JSON Schema's
``default`` keywords (:mod:`xai_pipelines.spec.schema_build`), the typed spec's
defaults (:mod:`xai_pipelines.spec.model`, :mod:`xai_pipelines.spec.build`) and
the defaults table of docs/pipelines.md (:func:`markdown_table`) all read it.

Run ``python -m xai_pipelines.spec.schema_build`` after a change here: it
rewrites the schema files and the docs' table (a test fails while they are stale).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting of the pipeline file.

    Attributes:
        key: Dotted path in the pipeline file, e.g. ``execution.retries.max_attempts``.
        default: The default as a pipeline file writes it (``None``: unset).
        unset: What an unset value means (for the docs), when ``default`` is ``None``.
        flag: The command-line flag that overrides it for one run, if any.
    """

    key: str
    default: Any = None
    unset: str = ""
    flag: str = ""


SETTINGS: tuple[Setting, ...] = (
    Setting("execution.concurrency", 8, flag="--concurrency"),
    Setting("execution.processes", 1, flag="--processes"),
    Setting("execution.rate_limit.requests_per_minute", unset="unlimited"),
    Setting("execution.rate_limit.tokens_per_minute", unset="unlimited"),
    Setting("execution.retries.max_attempts", 5),
    Setting("execution.retries.initial_backoff", "0.5s"),
    Setting("execution.retries.max_backoff", "30s"),
    Setting("execution.timeout", "300s"),
    Setting("execution.job_timeout", unset="no deadline"),
    Setting("execution.on_error", "continue", flag="--fail-fast"),
    Setting("execution.budget_usd", unset="no budget"),
    Setting("execution.mode", "online"),
    Setting("execution.cache.dir", unset="no cache", flag="--cache DIR, --no-cache"),
    Setting("execution.cache.ttl", unset="no expiry"),
    Setting("evals.grader", unset="each job's own model"),
    Setting("evals.fail_under", unset="no threshold", flag="--fail-under"),
    Setting("output.dir", "runs/{{ name }}", flag="--out"),
)

#: Dotted key -> the default as written in a pipeline file.
DEFAULTS: Mapping[str, Any] = {s.key: s.default for s in SETTINGS}


def seconds(value: float | str | None) -> float | None:
    """A schema-valid duration (number of seconds or ``"500ms"``/``"30s"``/``"2m"``/``"1h"``)."""
    if value is None or isinstance(value, int | float):
        return None if value is None else float(value)
    match = _DURATION.match(value)
    assert match is not None  # guaranteed by the schema
    return float(match.group(1)) * _UNITS[match.group(2)]


def default_seconds(key: str) -> float:
    """The default of a duration setting, in seconds."""
    value = seconds(DEFAULTS[key])
    assert value is not None, key
    return value


def schema_default(key: str) -> dict[str, Any]:
    """``{"default": value}`` for the schema of ``key``, or nothing when it has no default."""
    value = DEFAULTS[key]
    return {} if value is None else {"default": value}


def setting(data: Mapping[str, Any], key: str) -> Any:
    """The value of ``key`` in a schema-valid document, else its default."""
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return DEFAULTS[key]
        node = node[part]
    return node


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table() -> str:
    """The defaults table of docs/pipelines.md (between its ``defaults`` marker comments)."""
    lines = ["| Setting | Default | Flag |", "| --- | --- | --- |"]
    for s in SETTINGS:
        shown = s.unset if s.default is None else f"`{s.default}`"
        flag = ", ".join(f"`{f.strip()}`" for f in s.flag.split(",")) if s.flag else ""
        lines.append(f"| `{s.key}` | {_cell(shown)} | {_cell(flag)} |")
    return "\n".join(lines) + "\n"
