"""Rendering a task for one row, matrix cell and repeat: the context and the compiled templates."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from xai_pipelines.spec.datasets import Row
from xai_pipelines.spec.errors import SpecError
from xai_pipelines.spec.files import FileProblem, PipelineFiles, is_url
from xai_pipelines.spec.model import PipelineSpec, Task
from xai_pipelines.spec.templating import FileRef, Renderer, TemplateEngine
from xai_pipelines.spec.yaml_source import Positions


def file_resolver(files: PipelineFiles, positions: Positions) -> Callable[[FileRef, str], Any]:
    """A function turning a rendered :class:`FileRef` into its request form.

    ``image`` -> a data URL; ``attachment`` -> ``{"type": "file", "path", "sha256"}``;
    ``image_input`` -> a URL as is, or ``{"path", "sha256"}`` for a local file.
    Paths are absolute; the run layer uploads each file once per run by its sha256.
    """

    def resolve(ref: FileRef, where: str) -> Any:
        raw = str(ref.path)
        try:
            if ref.kind == "image":
                return files.image_data_url(raw)
            if ref.kind == "image_input" and is_url(raw):
                return raw
            path, sha256 = files.attachment(raw, image=ref.kind == "image_input")
            if ref.kind == "attachment":
                return {"type": "file", "path": str(path), "sha256": sha256}
            return {"path": str(path), "sha256": sha256}
        except FileProblem as exc:
            suffix = f" ({where})" if where else ""
            raise SpecError([positions.problem(ref.at, f"{exc}{suffix}")]) from None

    return resolve


def matrix_cells(matrix: Mapping[str, tuple[Any, ...]]) -> Iterator[dict[str, Any]]:
    """The cartesian product of the matrix, lazily, keys in file order (one empty cell without one)."""
    keys = list(matrix)
    for combo in itertools.product(*(matrix[k] for k in keys)):
        yield dict(zip(keys, combo, strict=True))


@dataclass(frozen=True)
class Rendered:
    """One job's rendered parts."""

    request: dict[str, Any]
    turns: list[Any]
    expect: list[Any]
    id: str | None


@dataclass(frozen=True)
class CompiledTask:
    """A task with its templates compiled, ready to render many jobs quickly.

    Attributes:
        task: The task (its matrix cells come from :meth:`cells`).
        base: Names every template of the pipeline sees.
    """

    task: Task
    base: Mapping[str, Any]
    _request: Renderer
    _turns: Renderer
    _expect: Renderer
    _id: Renderer | None
    _engine: TemplateEngine

    def cells(self) -> Iterator[dict[str, Any]]:
        """Matrix cells in expansion order (generated, never stored: a matrix can be large)."""
        return matrix_cells(self.task.matrix)

    def context(self, row: Row, cell: Mapping[str, Any], repeat: int, index: int) -> dict[str, Any]:
        """The template context of one job (``index`` is the job's position within its task)."""
        ctx = dict(self.base)
        for key in self.task.matrix_vars:
            ctx[key] = cell[key]
        ctx.update(
            row=row.data,
            row_index=row.index,
            index=index,
            repeat=repeat,
            matrix=cell,
            task=self.task.name,
            _origin=row.origin,
        )
        return ctx

    def render(self, ctx: Mapping[str, Any], cell: Mapping[str, Any]) -> Rendered:
        """Render the request (matrix parameters applied), turns, expectations and id."""
        with self._engine.job():
            return self._render(ctx, cell)

    def _render(self, ctx: Mapping[str, Any], cell: Mapping[str, Any]) -> Rendered:
        request = dict(self._request(ctx))
        for key, value in cell.items():
            if key not in self.task.matrix_vars:
                request[
                    "image_format" if key == "format" and self.task.kind == "image" else key
                ] = value
        turns = self._turns(ctx)
        expect = self._expect(ctx)
        job_id = None if self._id is None else str(self._id(ctx))
        return Rendered(request, turns, expect, job_id)


def compile_task(spec: PipelineSpec, task: Task) -> CompiledTask:
    """Compile a task's templates (cached per distinct template text by the engine)."""
    return _compile(spec.engine, spec.files, task, spec.base_context())


def _compile(
    engine: TemplateEngine, files: PipelineFiles, task: Task, base: Mapping[str, Any]
) -> CompiledTask:
    resolve = file_resolver(files, engine.positions)
    return CompiledTask(
        task=task,
        base=base,
        _request=engine.compile_tree(task.request, resolve),
        _turns=engine.compile_tree(list(task.turns), resolve),
        _expect=engine.compile_tree(list(task.expect), resolve),
        _id=None if task.id_template is None else engine.compile_tree(task.id_template, resolve),
        _engine=engine,
    )


def probe(
    engine: TemplateEngine, files: PipelineFiles, task: Task, base: Mapping[str, Any]
) -> None:
    """Render a task's first job (first source row, first matrix cell) to catch template errors early.

    Raises:
        SpecError: An undefined field, a missing file, a failing expression.
    """
    compiled = _compile(engine, files, task, base)
    row = task.dataset.first_row() if task.dataset is not None else Row(0, {}, "")
    cell = next(compiled.cells(), None)
    if row is None or cell is None:
        return
    compiled.render(compiled.context(row, cell, 0, 0), cell)
