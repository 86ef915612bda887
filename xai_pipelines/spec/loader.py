"""``load_pipeline``: read, validate and type a pipeline file in one call."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from xai_pipelines.defaults import SETTINGS, seconds, setting
from xai_pipelines.spec.build import Builder
from xai_pipelines.spec.canonical import digest
from xai_pipelines.spec.errors import Problem, SpecError
from xai_pipelines.spec.files import PipelineFiles
from xai_pipelines.spec.limits import MAX_DURATION_S
from xai_pipelines.spec.model import PipelineSpec
from xai_pipelines.spec.overrides import apply_overrides
from xai_pipelines.spec.render import probe
from xai_pipelines.spec.schema import schema_problems, type_name
from xai_pipelines.spec.secrets import is_secret_name
from xai_pipelines.spec.tasks import TaskBuilder
from xai_pipelines.spec.yaml_source import Positions, decode, parse_yaml

MAX_FILE_BYTES = 4 * 1024 * 1024


def load_pipeline(
    path: str | Path, overrides: Mapping[str, Any] | None = None, allow_outside: bool = False
) -> PipelineSpec:
    """Load and validate a pipeline file.

    Args:
        path: The YAML file.
        overrides: Dotted path -> value, applied before validation; a key without
            a dot means ``vars.<key>``.
        allow_outside: Allow files outside the pipeline's directory tree.

    Returns:
        The typed spec.

    Raises:
        SpecError: Every problem found, each with file, line, column and path.
    """
    path = Path(path)
    display = str(path)
    try:
        data = path.read_bytes() if path.stat().st_size <= MAX_FILE_BYTES else None
    except OSError as exc:
        raise SpecError(
            [Problem(display, 1, 1, "(root)", f"cannot read the pipeline: {exc.strerror}")]
        ) from None
    if data is None:
        raise SpecError(
            [Problem(display, 1, 1, "(root)", f"file larger than {MAX_FILE_BYTES} bytes")]
        )
    return load_pipeline_text(decode(data, display), path, overrides, allow_outside)


def load_pipeline_text(
    text: str,
    path: str | Path,
    overrides: Mapping[str, Any] | None = None,
    allow_outside: bool = False,
) -> PipelineSpec:
    """Like :func:`load_pipeline` for text already read; ``path`` names it and anchors relative files."""
    path = Path(path)
    data, positions = parse_yaml(text, str(path))
    return load_pipeline_data(data, path, overrides, allow_outside, positions)


def load_pipeline_data(
    data: Any,
    path: str | Path,
    overrides: Mapping[str, Any] | None = None,
    allow_outside: bool = False,
    positions: Positions | None = None,
) -> PipelineSpec:
    """Validate an already-parsed document (positions, when known, locate problems)."""
    path = Path(path)
    positions = positions or Positions(str(path))
    if data is None:
        raise SpecError(
            [positions.problem((), "the file is empty (expected a mapping with version and name)")]
        )
    if not isinstance(data, dict):
        raise SpecError(
            [positions.problem((), f"expected a mapping at the top level, got {type_name(data)}")]
        )
    data = copy.deepcopy(data)
    apply_overrides(data, overrides or {}, positions)
    problems = schema_problems(data, positions)
    problems += _duration_problems(data, positions) if not problems else []
    if problems:
        raise SpecError(problems)
    return _build(data, positions, path, allow_outside)


def _build(
    data: dict[str, Any], positions: Positions, path: Path, allow_outside: bool
) -> PipelineSpec:
    files = PipelineFiles(path.parent if str(path.parent) else Path("."), allow_outside)
    b = Builder(data, positions, files)
    with b.engine.job():  # what vars and paths render counts toward one output limit
        b.build_env()
        b.build_vars(data["name"])
        b.build_datasets()
        base = b.base_context()
        tasks = TaskBuilder(b).build_all()
        execution = b.build_execution()
        evals = b.build_evals()
        output = b.build_output(base)
    if not b.problems and not b.normalizer.problems:
        for task in tasks:
            try:
                probe(b.engine, files, task, base)
            except SpecError as exc:
                b.problems.extend(exc.problems)
    if b.problems or b.normalizer.problems:
        raise SpecError([*b.problems, *b.normalizer.problems])
    resolved = _redact(_redact_secret_env(data))
    return PipelineSpec(
        name=data["name"],
        path=path,
        description=data.get("description", ""),
        digest=digest(resolved),
        vars=b.vars,
        env=b.env_vars(),
        datasets=b.datasets,
        tasks=tuple(tasks),
        execution=execution,
        output=output,
        engine=b.engine,
        files=files,
        resolved=resolved,
        evals=evals,
    )


def _duration_problems(data: dict[str, Any], positions: Positions) -> list[Problem]:
    """Durations written with a unit (``"9999999h"``) above :data:`MAX_DURATION_S`.

    The schema bounds a duration given in seconds; one with a unit is bounded here.
    """
    out = []
    for item in SETTINGS:
        value = setting(data, item.key)
        if isinstance(value, str) and _DURATION_KEY_RE.match(value):
            length = seconds(value)
            if length is not None and length > MAX_DURATION_S:
                out.append(
                    positions.problem(
                        tuple(item.key.split(".")),
                        f"out of range (expected a duration up to {MAX_DURATION_S:,} s, "
                        f"one year; got {value!r})",
                    )
                )
    return out


_DURATION_KEY_RE = re.compile(r"^[0-9.]+(ms|s|m|h)$")


def _redact_secret_env(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with the default of every ``env`` entry marked secret replaced by ``***``."""
    env = data.get("env")
    if not isinstance(env, dict):
        return data
    hidden = {
        name: {**entry, "default": "***"}
        if isinstance(entry, dict) and entry.get("secret") and entry.get("default") is not None
        else entry
        for name, entry in env.items()
    }
    return {**data, "env": hidden}


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: "***" if is_secret_name(k) and isinstance(v, str) else _redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value
