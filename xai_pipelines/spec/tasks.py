"""Builds the chat and image tasks of a pipeline (normalized request templates)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from jinja2 import meta

from xai_pipelines.spec.build import CHAT_PARAMS, IMAGE_PARAMS, Builder
from xai_pipelines.spec.datasets import Dataset
from xai_pipelines.spec.errors import PathT, did_you_mean
from xai_pipelines.spec.files import FileProblem
from xai_pipelines.spec.limits import MAX_JOBS_PER_ROW
from xai_pipelines.spec.model import Task
from xai_pipelines.spec.schema import subschema, value_problems
from xai_pipelines.spec.templating import BUILTIN_NAMES, Tpl, mark_templates, tree_templates

# Parameters that shape the job rather than the request, so they cannot be crossed.
_NOT_MATRIX = {"mode"}
# An image request carries its input image(s) one way only.
_IMAGE_INPUTS = ("image_url", "image_file", "image_urls")


class TaskBuilder:
    """Turns ``chats:`` and ``images:`` entries into :class:`Task` objects.

    Args:
        builder: The pipeline builder (problems, datasets, vars, normalizer).
    """

    def __init__(self, builder: Builder) -> None:
        self.b = builder
        self.data = builder.data

    def build_all(self) -> list[Task]:
        """Every task, chats first; duplicate names and an empty pipeline are problems."""
        tasks: list[Task] = []
        for kind in ("chat", "image"):
            for i, raw in enumerate(self.data.get(f"{kind}s", [])):
                task = self.build(kind, raw, (f"{kind}s", i), i)
                if task is not None:
                    tasks.append(task)
        seen: set[str] = set()
        for task in tasks:
            if task.name in seen:
                self.b.problem((*task.at, "name"), f"duplicate task name '{task.name}'")
            seen.add(task.name)
        if not self.data.get("chats") and not self.data.get("images"):
            self.b.problem((), "the pipeline has no jobs (add chats or images)")
        return tasks

    def build(self, kind: str, raw: Mapping[str, Any], at: PathT, i: int) -> Task | None:
        """One task, or ``None`` when it has problems (already recorded)."""
        before = len(self.b.problems) + len(self.b.normalizer.problems)
        names = CHAT_PARAMS if kind == "chat" else IMAGE_PARAMS
        section = "defaults" if kind == "chat" else "image_defaults"
        defaults = self.data.get(section, {})
        params: dict[str, Any] = {}
        sources: dict[str, PathT] = {}
        for key in names:
            if key in raw:
                sources[key] = (*at, key)
            elif key in defaults:
                sources[key] = (section, key)
            else:
                continue
            params[key] = mark_templates(raw[key] if key in raw else defaults[key], sources[key])
        mode = params.pop("mode", "sample")
        dataset = self._dataset(raw, at)
        matrix, matrix_at, matrix_vars = self._matrix(kind, raw, at)
        per_row = math.prod(len(v) for v in matrix.values()) * raw.get("repeat", 1)
        if per_row > MAX_JOBS_PER_ROW:
            self.b.problem(
                (*at, "matrix") if "matrix" in raw else ("matrix",) if matrix else (*at, "repeat"),
                f"the matrix and repeat make {per_row:,} jobs of each row (at most "
                f"{MAX_JOBS_PER_ROW:,}; split the pipeline, or use a dataset)",
            )
        if "model" not in params and "model" not in matrix:
            self.b.problem(at, f"no model (set model here, in {section} or in the matrix)")
        if kind == "image":
            self._one_input(sources, matrix_at)
        if kind == "chat":
            request = self._chat_request(raw, at, params)
        else:
            request, dataset = self._image_request(raw, at, params, dataset)
        turns = tuple(
            self.b.normalizer.message(mark_templates(m, (*at, "turns", j)), (*at, "turns", j))
            for j, m in enumerate(raw.get("turns", []))
        )
        expect = tuple(
            self.b.normalizer.assertion(mark_templates(a, (*at, "expect", j)), (*at, "expect", j))
            for j, a in enumerate(raw.get("expect", []))
        )
        id_template = mark_templates(raw["id"], (*at, "id")) if "id" in raw else None
        known = set(self.b.vars) | set(BUILTIN_NAMES) | matrix_vars
        has_rows = dataset is not None or "for_each" in raw or "prompts_file" in raw
        self._check_templates((request, turns, expect, id_template), known, has_rows)
        if len(self.b.problems) + len(self.b.normalizer.problems) > before:
            return None
        return Task(
            kind=kind,  # type: ignore[arg-type]
            name=raw.get("name", f"{kind}-{i}"),
            at=at,
            request=request,
            id_template=id_template,
            dataset=dataset,
            repeat=raw.get("repeat", 1),
            matrix=matrix,
            matrix_vars=frozenset(matrix_vars),
            sources=sources,
            matrix_at=matrix_at,
            expect=expect,
            mode=mode,
            turns=turns,
            id_uses_repeat=isinstance(id_template, Tpl)
            and "repeat" in self._names(id_template.text),
        )

    def _names(self, text: str) -> set[str]:
        return set(meta.find_undeclared_variables(self.b.engine.env.parse(text)))

    def _dataset(self, raw: Mapping[str, Any], at: PathT) -> Dataset | None:
        name = raw.get("for_each")
        if name is None:
            return None
        dataset = self.b.datasets.get(name)
        if dataset is None and name not in self.data.get("datasets", {}):
            known = list(self.data.get("datasets", {}))
            listing = f" (datasets: {', '.join(known)})" if known else " (no datasets are declared)"
            self.b.problem(
                (*at, "for_each"), f"unknown dataset '{name}'{did_you_mean(name, known)}{listing}"
            )
        return dataset

    def _one_input(self, sources: Mapping[str, PathT], matrix_at: Mapping[str, Any]) -> None:
        """At most one of image_url, image_file and image_urls reaches an image request."""
        given = [k for k in _IMAGE_INPUTS if k in sources or k in matrix_at]
        for key in given[1:]:
            where = sources.get(key) or self._matrix_key_path(matrix_at[key])
            self.b.problem(
                where,
                f"use one of {', '.join(_IMAGE_INPUTS)} ('{given[0]}' is set too); "
                "image_urls takes several input images",
                key=True,
            )

    @staticmethod
    def _matrix_key_path(value_paths: tuple[PathT, ...]) -> PathT:
        return value_paths[0][:-1] if value_paths else ()

    def _matrix(
        self, kind: str, raw: Mapping[str, Any], at: PathT
    ) -> tuple[dict[str, tuple[Any, ...]], dict[str, tuple[PathT, ...]], set[str]]:
        sources: list[tuple[PathT, Mapping[str, Any]]] = []
        if kind == "chat":
            sources.append((("matrix",), self.data.get("matrix", {})))
        sources.append(((*at, "matrix"), raw.get("matrix", {})))
        names = [
            n for n in (CHAT_PARAMS if kind == "chat" else IMAGE_PARAMS) if n not in _NOT_MATRIX
        ]
        section = "defaults" if kind == "chat" else "image_defaults"
        matrix: dict[str, tuple[Any, ...]] = {}
        matrix_at: dict[str, tuple[PathT, ...]] = {}
        matrix_vars: set[str] = set()
        for base, spec in sources:
            for key, values in spec.items():
                path = (*base, key)
                is_var = key in self.b.vars or key in self.data.get("vars", {})
                if is_var and key not in names:  # a parameter name always means the parameter
                    matrix_vars.add(key)
                    matrix[key] = tuple(values)
                    continue
                if key not in names:
                    hint = did_you_mean(key, [*names, *self.data.get("vars", {})])
                    self.b.problem(
                        path,
                        f"matrix key '{key}' is neither a {kind} parameter nor a var{hint}",
                        key=True,
                    )
                    continue
                schema = subschema("properties", section, "properties", key)
                ok, ok_at = [], []
                for j, value in enumerate(values):
                    found = value_problems(value, schema, (*path, j), self.b.positions)
                    self.b.problems.extend(found)
                    if not found:
                        ok.append(self._param(kind, key, value, (*path, j)))
                        ok_at.append((*path, j))
                matrix[key] = tuple(ok)
                matrix_at[key] = tuple(ok_at)
        return matrix, matrix_at, matrix_vars

    def _param(self, kind: str, key: str, value: Any, at: PathT) -> Any:
        if kind == "chat":
            return self.b.normalizer.chat_param(key, value, at)
        return self.b.normalizer.image_param(key, value, at)[1]

    def _chat_request(
        self, raw: Mapping[str, Any], at: PathT, params: dict[str, Any]
    ) -> dict[str, Any]:
        messages = [
            self.b.normalizer.message(mark_templates(m, (*at, "messages", j)), (*at, "messages", j))
            for j, m in enumerate(raw["messages"])
        ]
        request: dict[str, Any] = {"messages": messages}
        for key, value in params.items():
            request[key] = self.b.normalizer.chat_param(key, value, (*at, key))
        if request.get("top_logprobs") and not request.get("logprobs"):
            self.b.problem((*at, "top_logprobs"), "top_logprobs needs logprobs: true")
        choice = request.get("tool_choice")
        if isinstance(choice, Mapping):
            functions = [
                t.get("name") for t in request.get("tools", []) if t.get("type") == "function"
            ]
            if choice["function"] not in functions:
                hint = did_you_mean(str(choice["function"]), [str(f) for f in functions])
                self.b.problem(
                    (*at, "tool_choice", "function"),
                    f"no function tool named '{choice['function']}'{hint}",
                )
        return request

    def _image_request(
        self, raw: Mapping[str, Any], at: PathT, params: dict[str, Any], dataset: Dataset | None
    ) -> tuple[dict[str, Any], Dataset | None]:
        if "prompts_file" in raw:
            if "for_each" in raw:
                self.b.problem(
                    (*at, "prompts_file"), "use either prompts_file or for_each, not both"
                )
            rendered = self.b.render_static(raw["prompts_file"], (*at, "prompts_file"))
            dataset = (
                None
                if rendered is None
                else self._prompts_dataset(str(rendered), (*at, "prompts_file"))
            )
            prompt = raw.get("prompt", "{{ row.text }}")
        elif "prompt" in raw:
            prompt = raw["prompt"]
        else:
            self.b.problem(at, "missing prompt (set prompt, or prompts_file for one job per line)")
            prompt = ""
        request: dict[str, Any] = {"prompt": mark_templates(prompt, (*at, "prompt"))}
        for key, value in params.items():
            name, converted = self.b.normalizer.image_param(key, value, (*at, key))
            request[name] = converted
        return request, dataset

    def _prompts_dataset(self, raw_path: str, at: PathT) -> Dataset | None:
        try:
            path = self.b.files.resolve(raw_path)
        except FileProblem as exc:
            self.b.problem(at, str(exc))
            return None
        return Dataset(
            f"{at[0]}[{at[1]}].prompts_file", path, self.b.files.display(raw_path), "lines"
        )

    def _check_templates(self, trees: tuple[Any, ...], known: set[str], has_rows: bool) -> None:
        for tpl in tree_templates(trees):
            problems = self.b.engine.check_syntax(tpl.text, tpl.path, known)
            self.b.problems.extend(problems)
            if not problems and not has_rows and "row" in self._names(tpl.text):
                self.b.problem(
                    tpl.path, "uses 'row' but the entry has no for_each (or prompts_file)"
                )
