"""From a schema-valid document to a typed :class:`PipelineSpec`, with the semantic checks.

Checks here need more than the schema can say: names that must refer to
something (datasets, vars, template variables, matrix keys), files that must
exist inside the pipeline's directory, and values that only make sense together.
Every problem found is collected; the loader raises them all at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from xai_pipelines.defaults import seconds, setting
from xai_pipelines.spec.datasets import FORMATS_BY_SUFFIX, Dataset, Sample
from xai_pipelines.spec.errors import PathT, Problem, SpecError
from xai_pipelines.spec.files import FileProblem, PipelineFiles
from xai_pipelines.spec.model import Cache, Evals, Execution, Output, RateLimit, Retries
from xai_pipelines.spec.normalize import Normalizer
from xai_pipelines.spec.render import file_resolver
from xai_pipelines.spec.schema import subschema
from xai_pipelines.spec.secrets import ALWAYS_SECRET_ENV
from xai_pipelines.spec.templating import (
    BUILTIN_NAMES,
    EnvVars,
    TemplateEngine,
    is_template,
    mark_templates,
    tree_templates,
)
from xai_pipelines.spec.yaml_source import Positions

CHAT_PARAMS = tuple(subschema("properties", "defaults", "properties"))
IMAGE_PARAMS = tuple(subschema("properties", "image_defaults", "properties"))


def _csv_text(value: Any) -> str:
    """How a YAML scalar is written in a CSV cell (``true``, ``3``, ``2.5``, empty for null)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Builder:
    """Builds the typed parts of one pipeline; problems accumulate in :attr:`problems`."""

    def __init__(self, data: Mapping[str, Any], positions: Positions, files: PipelineFiles) -> None:
        self.data = data
        self.positions = positions
        self.files = files
        self.engine = TemplateEngine(positions)
        self.normalizer = Normalizer(files, positions, self.render_static)
        self.problems: list[Problem] = []
        self.env: dict[str, str] = {}
        self.vars: dict[str, Any] = {}
        self.datasets: dict[str, Dataset] = {}

    def problem(self, path: PathT, message: str, *, key: bool = False) -> None:
        """Record a problem at ``path``."""
        self.problems.append(self.positions.problem(path, message, key=key))

    def _render_here(self, value: Any, path: PathT, context: Mapping[str, Any]) -> Any:
        tree = mark_templates(value, path)
        bad = [
            p
            for t in tree_templates(tree)
            for p in self.engine.check_syntax(t.text, t.path, context.keys())
        ]
        if bad:
            self.problems.extend(bad)
            return value
        try:
            return self.engine.compile_tree(tree, file_resolver(self.files, self.positions))(
                context
            )
        except SpecError as exc:
            self.problems.extend(exc.problems)
            return value

    def env_vars(self) -> EnvVars:
        """The ``env`` every template sees (secret entries listed, their values left out)."""
        return EnvVars(self.env, self.engine.secret_env)

    def base_context(self) -> dict[str, Any]:
        """Names every template sees: vars, ``name``, ``env``."""
        return {**self.vars, "name": self.data["name"], "env": self.env_vars()}

    def render_static(self, value: Any, path: PathT) -> Any:
        """Render a value fixed for the whole pipeline (file paths, filters); ``None`` on problems."""
        before = len(self.problems)
        rendered = self._render_here(value, path, self.base_context())
        return None if len(self.problems) > before else rendered

    # -- top-level sections -------------------------------------------------

    def build_env(self) -> None:
        """Read the allowed environment variables; a secret one's value is never kept."""
        spec = self.data.get("env", [])
        entries = {name: None for name in spec} if isinstance(spec, list) else dict(spec)
        secret = set(ALWAYS_SECRET_ENV)
        for name, entry in entries.items():
            default = entry
            if isinstance(entry, Mapping):  # {default: ..., secret: true}
                default = entry.get("default")
                if entry.get("secret"):
                    secret.add(name)
            if name in secret:
                continue
            value = os.environ.get(name, default)
            if value is None:
                at = ("env", spec.index(name)) if isinstance(spec, list) else ("env", name)
                self.problem(at, f"environment variable '{name}' is not set (and has no default)")
            else:
                self.env[name] = value
        self.engine.secret_env = frozenset(secret)

    def build_vars(self, name: str) -> None:
        """Render vars in order; each may use the ones before it.

        One context grows as vars are rendered (linear in their number); a var
        named like a builtin is refused, so it never hides ``name`` or ``env``.
        """
        context: dict[str, Any] = {"name": name, "env": self.env_vars()}
        for key, value in self.data.get("vars", {}).items():
            if key in BUILTIN_NAMES:
                self.problem(("vars", key), f"'{key}' is a reserved template name", key=True)
                continue
            plain = (
                value is None
                or isinstance(value, bool | int | float)
                or (isinstance(value, str) and not is_template(value))
            )
            rendered = value if plain else self._render_here(value, ("vars", key), context)
            self.vars[key] = rendered
            context[key] = rendered

    def build_datasets(self) -> None:
        """Resolve dataset files and options."""
        for name, spec in self.data.get("datasets", {}).items():
            at: PathT = ("datasets", name)
            where = {
                k: tuple(v) if isinstance(v, list) else (v,)
                for k, v in (
                    self.render_static(spec.get("where", {}), (*at, "where")) or {}
                ).items()
            }
            sample = spec.get("sample")
            common: dict[str, Any] = {
                "where": where,
                "sample": Sample(sample)
                if isinstance(sample, int)
                else Sample(**sample)
                if sample
                else None,
                "limit": spec.get("limit"),
            }
            if "rows" in spec:
                self.datasets[name] = Dataset(
                    name, None, f"datasets.{name}.rows", rows=tuple(spec["rows"]), **common
                )
                continue
            rendered = self.render_static(spec["path"], (*at, "path"))
            if rendered is None:
                continue
            raw_path = str(rendered)
            fmt = spec.get("format") or FORMATS_BY_SUFFIX.get(Path(raw_path).suffix.lower())
            if fmt is None:
                self.problem(
                    (*at, "path"),
                    f"cannot tell the format of '{raw_path}' from its extension "
                    f"(set format: {', '.join(sorted(set(FORMATS_BY_SUFFIX.values())))})",
                )
                continue
            try:
                path = self.files.resolve(raw_path)
            except FileProblem as exc:
                self.problem((*at, "path"), str(exc))
                continue
            if fmt in ("csv", "lines"):  # every field read is a string: compare as strings
                common["where"] = {
                    k: tuple(v if isinstance(v, str) else _csv_text(v) for v in values)
                    for k, values in common["where"].items()
                }
            self.datasets[name] = Dataset(name, path, self.files.display(raw_path), fmt, **common)

    def build_cache(self) -> Cache | None:
        """``execution.cache``: its directory rendered and made absolute against the current directory."""
        if self.data.get("execution", {}).get("cache") is None:
            return None
        raw = setting(self.data, "execution.cache.dir")
        rendered = self.render_static(raw, ("execution", "cache", "dir"))
        if rendered is None:
            return None
        ttl = seconds(setting(self.data, "execution.cache.ttl"))
        return Cache(Path(os.path.abspath(str(rendered))), ttl)

    def build_evals(self) -> Evals:
        """The ``evals`` section (the grader name rendered with vars, ``name`` and ``env``)."""
        grader = setting(self.data, "evals.grader")
        if grader is not None:
            grader = self.render_static(grader, ("evals", "grader"))
            if grader is not None and not str(grader).strip():
                self.problem(("evals", "grader"), "the grader model renders to an empty name")
        return Evals(
            grader=None if grader is None else str(grader).strip(),
            fail_under=setting(self.data, "evals.fail_under"),
        )

    def build_execution(self) -> Execution:
        """The execution section, with durations in seconds (defaults from :mod:`.defaults`)."""

        def get(key: str) -> Any:
            return setting(self.data, f"execution.{key}")

        def duration(key: str) -> float:
            value = seconds(get(key))
            assert value is not None  # every duration here has a default
            return value

        return Execution(
            concurrency=get("concurrency"),
            processes=get("processes"),
            rate_limit=RateLimit(
                get("rate_limit.requests_per_minute"), get("rate_limit.tokens_per_minute")
            ),
            retries=Retries(
                get("retries.max_attempts"),
                duration("retries.initial_backoff"),
                duration("retries.max_backoff"),
            ),
            timeout_s=duration("timeout"),
            job_timeout_s=seconds(get("job_timeout")),
            on_error=get("on_error"),
            budget_usd=get("budget_usd"),
            mode=get("mode"),
            cache=self.build_cache(),
        )

    def build_output(self, context: Mapping[str, Any]) -> Output:
        """The output section, its directory rendered."""
        raw = setting(self.data, "output.dir")
        rendered = self._render_here(raw, ("output", "dir"), context)
        return Output(str(rendered))
