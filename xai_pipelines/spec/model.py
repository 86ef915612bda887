"""The typed pipeline spec the rest of the code sees."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from xai_pipelines.defaults import DEFAULTS, default_seconds
from xai_pipelines.spec.datasets import Dataset, Row
from xai_pipelines.spec.errors import PathT
from xai_pipelines.spec.files import PipelineFiles
from xai_pipelines.spec.templating import TemplateEngine, Tpl

OnError = Literal["continue", "fail_fast"]
RunMode = Literal["online", "batch"]
ChatMode = Literal["sample", "stream", "defer"]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Client-side rate limits; ``None`` means unlimited."""

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None


@dataclass(frozen=True, slots=True)
class Retries:
    """Retry policy for transient API errors."""

    max_attempts: int = DEFAULTS["execution.retries.max_attempts"]
    initial_backoff_s: float = default_seconds("execution.retries.initial_backoff")
    max_backoff_s: float = default_seconds("execution.retries.max_backoff")


@dataclass(frozen=True, slots=True)
class Cache:
    """The response cache (``execution.cache``).

    Attributes:
        dir: The cache directory, absolute (a relative ``dir`` is resolved against
            the current directory when the pipeline is loaded, like ``output.dir``).
        ttl_s: Entries older than this many seconds are not reused; ``None``: no expiry.
    """

    dir: Path
    ttl_s: float | None = None


@dataclass(frozen=True, slots=True)
class Evals:
    """Pipeline-wide eval settings (``evals:``).

    Attributes:
        grader: The model of every ``llm_rubric`` without its own ``model``;
            ``None``: each job's own model grades it.
        fail_under: The run fails when the eval pass rate is below this rate (0..1);
            ``None``: no threshold.
    """

    grader: str | None = None
    fail_under: float | None = None


@dataclass(frozen=True, slots=True)
class Execution:
    """How the plan runs (see ``execution:`` in the schema)."""

    concurrency: int = DEFAULTS["execution.concurrency"]
    processes: int = DEFAULTS["execution.processes"]
    rate_limit: RateLimit = field(default_factory=RateLimit)
    retries: Retries = field(default_factory=Retries)
    timeout_s: float = default_seconds("execution.timeout")
    job_timeout_s: float | None = None
    on_error: OnError = DEFAULTS["execution.on_error"]
    budget_usd: float | None = None
    mode: RunMode = DEFAULTS["execution.mode"]
    cache: Cache | None = None


@dataclass(frozen=True, slots=True)
class Output:
    """Where results go; ``dir`` is rendered and relative to the current directory."""

    dir: str


@dataclass(frozen=True)
class Task:
    """One entry of ``chats:`` or ``images:``, ready to expand.

    ``request`` is the request in JSON request form (docs/ARCHITECTURE.md) with
    template leaves; ``matrix`` values are already in request form too.

    Attributes:
        kind: ``"chat"`` or ``"image"``.
        name: Task name (``task`` in templates).
        at: YAML path of the entry, e.g. ``("chats", 0)``.
        request: The request template.
        id_template: The ``id`` template, or ``None`` for digest ids.
        dataset: The dataset it runs over, or ``None`` for one row.
        repeat: Jobs per row and matrix cell.
        matrix: Request key or var name -> values to cross, in file order.
        matrix_vars: The matrix keys that are vars rather than request keys.
        expect: Assertion templates.
        mode: Chat call mode (``"sample"`` for images).
        turns: Further user turns (chat), request-form message templates.
        id_uses_repeat: Whether the id template mentions ``repeat`` itself.
        sources: Parameter name (as written in YAML) -> YAML path of the value the
            request takes (the entry's own key or its ``defaults`` key).
        matrix_at: Matrix key -> YAML path of each of its values (as in ``matrix``).
    """

    kind: Literal["chat", "image"]
    name: str
    at: PathT
    request: Mapping[str, Any]
    id_template: Tpl | str | None = None
    dataset: Dataset | None = None
    repeat: int = 1
    matrix: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    matrix_vars: frozenset[str] = frozenset()
    expect: tuple[Any, ...] = ()
    mode: ChatMode = "sample"
    turns: tuple[Any, ...] = ()
    id_uses_repeat: bool = False
    sources: Mapping[str, PathT] = field(default_factory=dict)
    matrix_at: Mapping[str, tuple[PathT, ...]] = field(default_factory=dict)

    def rows(self) -> Iterator[Row]:
        """The rows this task expands over (one empty row without a dataset)."""
        if self.dataset is None:
            yield Row(0, {}, "")
        else:
            yield from self.dataset.iter_rows()


@dataclass(frozen=True)
class PipelineSpec:
    """A loaded, validated pipeline.

    Attributes:
        name: Pipeline name.
        path: The pipeline file.
        description: Free text.
        digest: Digest of the resolved spec (overrides applied); resume refuses a changed one.
        vars: Rendered variables.
        env: The environment variables templates may read.
        datasets: Named datasets.
        tasks: Chat then image entries, in file order.
        execution: How to run.
        output: Where results go.
        engine: The template engine (compiled templates, positions for problems).
        files: File access rooted at the pipeline's directory.
        resolved: The resolved document, secrets redacted (see :meth:`to_dict`).
        evals: Pipeline-wide eval settings (grader model, pass-rate threshold).
    """

    name: str
    path: Path
    description: str
    digest: str
    vars: Mapping[str, Any]
    env: Mapping[str, str]
    datasets: Mapping[str, Dataset]
    tasks: tuple[Task, ...]
    execution: Execution
    output: Output
    engine: TemplateEngine = field(repr=False, compare=False)
    files: PipelineFiles = field(repr=False, compare=False)
    resolved: Mapping[str, Any] = field(repr=False, default_factory=dict)
    evals: Evals = field(default_factory=Evals)

    @property
    def chats(self) -> tuple[Task, ...]:
        """The chat tasks."""
        return tuple(t for t in self.tasks if t.kind == "chat")

    @property
    def images(self) -> tuple[Task, ...]:
        """The image tasks."""
        return tuple(t for t in self.tasks if t.kind == "image")

    def to_dict(self) -> dict[str, Any]:
        """The resolved spec as JSON-able data, secrets redacted (for ``manifest.json``)."""
        return {"path": str(self.path), "digest": self.digest, "spec": _copy(self.resolved)}

    def base_context(self) -> dict[str, Any]:
        """Names every template sees: vars, ``name`` and ``env``."""
        return {**self.vars, "name": self.name, "env": self.env}


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(v) for v in value]
    return value
