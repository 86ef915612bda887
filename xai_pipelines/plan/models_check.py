"""Model names and request parameters checked before anything is paid for.

``validate``, ``plan`` and ``run`` call :func:`check_models` once the spec is
loaded. It checks every model a pipeline names (a chat's, an image job's, an
``llm_rubric`` grader's, the pipeline's ``evals.grader``) and every parameter sent with it against a
:class:`ModelAuthority`:

* **offline**, the bundled catalog (:mod:`xai_pipelines.catalog`), which is dated;
* **live**, the names the Models service lists (:class:`LiveModels`): it decides
  which names exist, while capabilities (rejected parameters, reasoning efforts,
  image input, image limits) still come from the catalog for the models it knows.

Findings are typed (:class:`ModelFinding`), located at the YAML node that set the
model or the parameter (the entry, ``defaults``, a matrix value, a ``--set``
override), and come in three severities: an ``error`` stops the command (exit 2);
a ``warning`` (a retired name the API still serves) and a ``note`` (a live model
the catalog does not know, whose parameters went unchecked) are printed only.

The check works per task, not per job: parameter names are fixed per task, and
only a templated model name needs the rows (rendered one name at a time).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from xai_pipelines.catalog import ImageModelInfo, LanguageModelInfo, ModelCatalog, load_catalog
from xai_pipelines.spec import PipelineSpec, Problem, SpecError, Task
from xai_pipelines.spec.errors import PathT, did_you_mean
from xai_pipelines.spec.render import compile_task, file_resolver
from xai_pipelines.spec.templating import Tpl
from xai_pipelines.spec.yaml_source import Positions

__all__ = [
    "LiveModels",
    "ModelAuthority",
    "ModelFinding",
    "ModelReport",
    "Severity",
    "check_models",
]

Severity = Literal["error", "warning", "note"]
Kind = Literal["language", "image"]
_INPUT_KEYS = ("image_url", "image_file", "image_urls")
_NOT_PARAMS = frozenset({"model", "mode", "messages"})
LIVE_HINT = "check live with XAI_API_KEY, --endpoint or --local"


class _Named(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def aliases(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class ModelFinding:
    """One thing the model check found, at the YAML node that caused it.

    Attributes:
        severity: ``error`` (stops the command), ``warning`` or ``note``.
        problem: File, position, JSON path and message.
        model: The model name as the pipeline gives it.
        param: The request parameter concerned, or ``None`` for the model name itself.
    """

    severity: Severity
    problem: Problem
    model: str
    param: str | None = None

    def __str__(self) -> str:
        p = self.problem
        label = "" if self.severity == "error" else f"{self.severity}: "
        return f"{p.file}:{p.line}:{p.column}: {p.path}: {label}{p.message}"


@dataclass(frozen=True)
class LiveModels:
    """The model names (and aliases) a live Models service serves.

    Attributes:
        where: The service, as shown in messages (``api.x.ai:443``, ``the local emulator``).
        language: Every language model name and alias.
        image: Every image generation model name and alias.
    """

    where: str
    language: frozenset[str]
    image: frozenset[str]

    @classmethod
    def from_lists(
        cls, where: str, language: Iterable[_Named], image: Iterable[_Named]
    ) -> LiveModels:
        """From ``client.models.list_language_models()`` and ``list_image_generation_models()``."""
        return cls(
            where,
            frozenset(n for m in language for n in (m.name, *m.aliases)),
            frozenset(n for m in image for n in (m.name, *m.aliases)),
        )

    def names(self, kind: Kind) -> frozenset[str]:
        """The names of one kind."""
        return self.language if kind == "language" else self.image


@dataclass(frozen=True)
class ModelAuthority:
    """What the check trusts: the catalog alone, or the live service for names.

    Attributes:
        catalog: Capabilities (and, offline, the names).
        live: The live service's names, or ``None`` for the offline check.
    """

    catalog: ModelCatalog = field(default_factory=load_catalog)
    live: LiveModels | None = None

    def describe(self) -> str:
        """How the check was made, for a summary line."""
        if self.live is not None:
            return f"model names checked against the live Models service ({self.live.where})"
        return f"model names checked against the bundled catalog (as of {self.catalog.as_of})"


@dataclass(frozen=True)
class ModelReport:
    """Everything the model check found.

    Attributes:
        authority: What the check trusted.
        findings: Errors, warnings and notes, in the order found (duplicates removed).
    """

    authority: ModelAuthority
    findings: tuple[ModelFinding, ...]

    def of(self, severity: Severity) -> tuple[ModelFinding, ...]:
        """The findings of one severity, sorted by position."""
        return tuple(sorted((f for f in self.findings if f.severity == severity), key=_order))

    @property
    def errors(self) -> tuple[ModelFinding, ...]:
        """Findings that stop the command."""
        return self.of("error")

    @property
    def advisories(self) -> tuple[ModelFinding, ...]:
        """Warnings and notes, sorted by position."""
        return tuple(sorted((f for f in self.findings if f.severity != "error"), key=_order))

    def error(self) -> SpecError | None:
        """The errors as one :class:`SpecError` (like every other spec problem), or ``None``."""
        errors = self.errors
        return SpecError(f.problem for f in errors) if errors else None


def _order(finding: ModelFinding) -> Problem:
    return finding.problem


def check_models(spec: PipelineSpec, authority: ModelAuthority | None = None) -> ModelReport:
    """Check every model name and request parameter of ``spec`` (no network here).

    Args:
        spec: The loaded pipeline.
        authority: The catalog and, for the live check, the service's names
            (default: the bundled catalog, offline).

    Raises:
        SpecError: Only when rendering a templated model name fails on a row
            (``check_plan`` reports the same problem).
    """
    authority = authority or ModelAuthority()
    checker = _Checker(spec, authority)
    for task in spec.tasks:
        checker.task(task)
    if spec.evals.grader is not None:
        checker.pipeline_grader(spec.evals.grader)
    return ModelReport(authority, tuple(checker.findings.values()))


@dataclass(frozen=True)
class _Slot:
    """One value a request may take for a parameter: the value and where it was set."""

    value: Any
    at: PathT | None
    key: bool = False  # locate at the key (a matrix key) rather than the value


@dataclass(frozen=True)
class _Model:
    name: str
    at: PathT
    row: str = ""  # the dataset row a templated name came from


class _Checker:
    def __init__(self, spec: PipelineSpec, authority: ModelAuthority) -> None:
        self.spec = spec
        self.positions = spec.engine.positions
        self.catalog = authority.catalog
        self.live = authority.live
        self.findings: dict[tuple[Severity, PathT, str], ModelFinding] = {}

    # -- reporting ------------------------------------------------------------

    def _add(
        self,
        severity: Severity,
        at: PathT,
        message: str,
        model: _Model,
        param: str | None = None,
        *,
        key: bool = False,
        hint: str = "",
    ) -> None:
        slot = (severity, at, message)
        if slot in self.findings:
            return  # one finding per node and message: the first row that caused it
        text = f"{message} (row {model.row}){hint}" if model.row else message + hint
        problem = self.positions.problem(at, text, key=key)
        self.findings[slot] = ModelFinding(severity, problem, model.name, param)

    def _catalog_note(self) -> str:
        dated = f"bundled catalog of {self.catalog.as_of}, may be out of date"
        return f"[{dated}]" if self.live is not None else f"[{dated}; {LIVE_HINT}]"

    def _rule(self, source_key: str) -> str:
        source = self.catalog.source(source_key)
        where = f"source: {source.url}, read {source.read}" if source else f"source: {source_key}"
        return f"({where}) {self._catalog_note()}"

    # -- names ----------------------------------------------------------------

    def _resolve(self, model: _Model, kind: Kind) -> LanguageModelInfo | ImageModelInfo | None:
        """Check the name; return the catalog entry whose rules apply (None: none known)."""
        name = model.name
        other: Kind = "image" if kind == "language" else "language"
        info = self.catalog.language(name) if kind == "language" else self.catalog.image(name)
        retired = self.catalog.retirement(name)
        if self.live is not None:
            served = name in self.live.names(kind)
            via_redirect = retired is not None and retired.redirect in self.live.names(kind)
            if not served and not via_redirect:
                self._unknown(model, kind, other, sorted(self.live.names(kind)), live=True)
                return None
            if info is None:
                self._add(
                    "note",
                    model.at,
                    f"'{name}' is served by {self.live.where} but is not in the bundled catalog "
                    f"(as of {self.catalog.as_of}): its parameters were not checked",
                    model,
                )
                return None
        elif info is None:
            self._unknown(model, kind, other, self.catalog.names(kind), live=False)
            return None
        if retired is not None:
            when = f"on {retired.retired}" if retired.retired else "(date not published)"
            effort = f" at reasoning effort {retired.effort}" if retired.effort else ""
            self._add(
                "warning",
                model.at,
                f"model '{name}' was retired {when}; the API still serves it with "
                f"'{retired.redirect}'{effort}: use that name {self._rule(retired.source)}",
                model,
            )
        return info

    def _unknown(
        self, model: _Model, kind: Kind, other: Kind, names: list[str], *, live: bool
    ) -> None:
        name = model.name
        if live and self.live is not None:
            where = f"[live Models service at {self.live.where}]"
            other_names: Iterable[str] = self.live.names(other)
        else:
            where, other_names = self._catalog_note(), self.catalog.names(other)
        if name in other_names:
            need = (
                "chats need a language model"
                if kind == "language"
                else "image jobs need an image model"
            )
            article = "an" if other == "image" else "a"
            message, hint = f"'{name}' is {article} {other} model; {need} {where}", ""
        else:
            message = f"unknown {kind} model '{name}' {where}"
            hint = did_you_mean(name, names)
        self._add("error", model.at, message, model, hint=hint)

    # -- tasks ----------------------------------------------------------------

    def _slots(self, task: Task, key: str) -> list[_Slot]:
        """The values ``key`` takes across the task's matrix (one absent slot if never set)."""
        if key in task.matrix and key not in task.matrix_vars:
            paths = task.matrix_at.get(key, ())
            return [_Slot(v, at) for v, at in zip(task.matrix[key], paths, strict=True)]
        if key in task.sources:
            request_key = "image_url" if key == "image_file" else key
            return [_Slot(task.request.get(request_key), task.sources[key])]
        return [_Slot(None, None)]

    def _presence(self, task: Task) -> dict[str, _Slot]:
        """Request parameters the task always sends, each with where it is set."""
        out = {k: _Slot(None, at) for k, at in task.sources.items() if k not in _NOT_PARAMS}
        for key, paths in task.matrix_at.items():
            if key not in _NOT_PARAMS and paths:
                out[key] = _Slot(None, paths[0][:-1], key=True)
        return out

    def task(self, task: Task) -> None:
        kind: Kind = "language" if task.kind == "chat" else "image"
        models: list[_Model] = []
        templated: list[tuple[Tpl, Kind, str]] = []
        for slot in self._slots(task, "model"):
            if isinstance(slot.value, Tpl):
                templated.append((slot.value, kind, "model"))
            elif slot.value is not None and slot.at is not None:
                models.append(_Model(str(slot.value), slot.at))
        for model in models:
            self._task_model(task, kind, model)
        for j, assertion in enumerate(task.expect):
            grader = assertion.get("llm_rubric") if isinstance(assertion, Mapping) else None
            value = grader.get("model") if isinstance(grader, Mapping) else None
            at: PathT = (*task.at, "expect", j, "llm_rubric", "model")
            if isinstance(value, Tpl):
                templated.append((value, "language", "grader"))
            elif value is not None:
                self._resolve(_Model(str(value), at), "language")
        if templated:
            for (_, tkind, role), model in self._rendered(task, templated):
                if role == "grader":
                    self._resolve(model, tkind)
                else:
                    self._task_model(task, tkind, model)

    def pipeline_grader(self, name: str) -> None:
        """The top-level ``evals.grader`` (already rendered: it sees only vars, name and env)."""
        self._resolve(_Model(name, ("evals", "grader")), "language")

    def _rendered(
        self, task: Task, templates: list[tuple[Tpl, Kind, str]]
    ) -> Iterator[tuple[tuple[Tpl, Kind, str], _Model]]:
        """Each distinct name a templated model renders to, with the first row giving it."""
        compiled = compile_task(self.spec, task)
        resolve = file_resolver(self.spec.files, self.positions)
        renderers = [self.spec.engine.compile_tree(t[0], resolve) for t in templates]
        seen: set[tuple[int, str]] = set()
        index = 0
        for row in task.rows():
            for cell in compiled.cells():
                for r in range(task.repeat):
                    ctx = compiled.context(row, cell, r, index)
                    index += 1
                    for i, render in enumerate(renderers):
                        name = str(render(ctx))
                        if (i, name) not in seen:
                            seen.add((i, name))
                            tpl = templates[i][0]
                            yield templates[i], _Model(name, tpl.path, row.origin)

    def _task_model(self, task: Task, kind: Kind, model: _Model) -> None:
        info = self._resolve(model, kind)
        if isinstance(info, LanguageModelInfo):
            self._chat_rules(task, model, info)
        elif isinstance(info, ImageModelInfo):
            self._image_rules(task, model, info)

    # -- rules ----------------------------------------------------------------

    def _label(self, model: _Model, info: LanguageModelInfo | ImageModelInfo) -> str:
        if model.name == info.name or model.name in info.aliases:
            return model.name
        return f"{model.name} (served by {info.name})"

    def _chat_rules(self, task: Task, model: _Model, info: LanguageModelInfo) -> None:
        label, rule = self._label(model, info), self._rule(info.source)
        for param, slot in self._presence(task).items():
            assert slot.at is not None
            rejected = param in info.rejected_params or (
                param == "reasoning_effort" and not info.reasoning_efforts
            )
            if rejected:
                self._add(
                    "error",
                    slot.at,
                    f"{label} rejects '{param}' {rule}",
                    model,
                    param,
                    key=slot.key,
                )
        for withdrawn in self.catalog.withdrawn_params:
            present = self._presence(task).get(withdrawn.name)
            if present is not None and present.at is not None:
                self._add(
                    "error",
                    present.at,
                    f"the API no longer accepts '{withdrawn.name}': use {withdrawn.instead} "
                    f"{self._rule(withdrawn.source)}",
                    model,
                    withdrawn.name,
                    key=present.key,
                )
        if info.reasoning_efforts and "reasoning_effort" not in info.rejected_params:
            for slot in self._slots(task, "reasoning_effort"):
                if slot.at is not None and slot.value not in info.reasoning_efforts:
                    accepted = ", ".join(info.reasoning_efforts)
                    self._add(
                        "error",
                        slot.at,
                        f"{label} does not accept reasoning_effort '{slot.value}' "
                        f"(it takes {accepted}) {rule}",
                        model,
                        "reasoning_effort",
                    )
        if not info.image_input:
            for at in _image_parts(task, self.positions):
                self._add(
                    "error",
                    at,
                    f"{label} does not take image input {rule}",
                    model,
                    "messages",
                )

    def _image_rules(self, task: Task, model: _Model, info: ImageModelInfo) -> None:
        label, rule = self._label(model, info), self._rule(info.source)
        for slot in self._slots(task, "n"):
            if slot.at is not None and isinstance(slot.value, int) and slot.value > info.max_images:
                self._add(
                    "error",
                    slot.at,
                    f"{label} makes at most {info.max_images} images per request, "
                    f"got n={slot.value} {rule}",
                    model,
                    "n",
                )
        for key in _INPUT_KEYS:
            for slot in self._slots(task, key):
                if slot.at is None:
                    continue
                count = len(slot.value) if key == "image_urls" and slot.value else 1
                if not info.edit:
                    message = f"{label} does not edit images (it takes no input image) {rule}"
                elif count > info.max_input_images:
                    message = (
                        f"{label} takes at most {info.max_input_images} input images, "
                        f"got {count} {rule}"
                    )
                else:
                    continue
                self._add("error", slot.at, message, model, key)


def _image_parts(task: Task, positions: Positions) -> Iterator[PathT]:
    """Where the task's messages and turns carry images (YAML paths of the parts)."""
    groups = (("messages", task.request.get("messages", ())), ("turns", task.turns))
    for section, messages in groups:
        for j, message in enumerate(messages):
            content = message.get("content") if isinstance(message, Mapping) else None
            if not isinstance(content, list):
                continue
            at: PathT = (*task.at, section, j)
            # written `user: [...]` or OpenAI-style `{role: user, content: [...]}`
            key = "content" if (*at, "content") in positions.values else message["role"]
            for i, part in enumerate(content):
                if isinstance(part, Mapping) and part.get("type") == "image_url":
                    yield (*at, key, i)
