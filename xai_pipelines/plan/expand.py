"""``iter_jobs``: a validated spec expanded into a lazy, deterministic stream of jobs.

Order: tasks in file order (chats, then images); within a task, dataset rows in
order, then matrix cells (keys in file order, cartesian product), then repeats.
Templates see ``index`` = the job's 0-based position within its task; a job's
``index`` attribute is its position in the whole plan.

Ids: the rendered ``id`` template (with ``-r<k>`` appended when ``repeat > 1``
and the template does not use ``repeat`` itself); without one,
``<task>-<12 hex digits of the digest of the request, turns and mode>`` (and of
the repeat index when ``repeat > 1``: image requests carry no seed to tell them apart).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from types import MappingProxyType
from typing import Any

from xai_pipelines.plan.ids import IdSet, id_problem
from xai_pipelines.plan.jobs import ChatJob, ImageJob, Job
from xai_pipelines.plan.seeds import job_seed
from xai_pipelines.spec import PipelineSpec, SpecError, Task
from xai_pipelines.spec.canonical import digest
from xai_pipelines.spec.render import CompiledTask, Rendered, compile_task


def iter_jobs(spec: PipelineSpec) -> Iterator[Job]:
    """Yield every job of the plan, lazily and always in the same order.

    Raises:
        SpecError: A row that breaks a template, a bad or duplicate id (found as
            the plan is walked; ``check_plan`` walks it all before a run).
    """
    seen = IdSet()
    position = 0
    for task in spec.tasks:
        for job in _task_jobs(spec, task, position):
            if not seen.add(job.id):
                raise SpecError(
                    [_problem(spec, task, ("id",), f"duplicate job id '{job.id}'", job)]
                )
            position += 1
            yield job


def _task_jobs(spec: PipelineSpec, task: Task, start: int) -> Iterator[Job]:
    compiled = compile_task(spec, task)
    index = 0
    for row in task.rows():
        for cell in compiled.cells():
            for r in range(task.repeat):
                ctx = compiled.context(row, cell, r, index)
                rendered = compiled.render(ctx, cell)
                meta = {"row_index": row.index, "row": row.data, "matrix": cell, "repeat": r}
                if row.origin:
                    meta["origin"] = row.origin
                yield _job(spec, compiled, rendered, r, start + index, meta)
                index += 1


def _job(
    spec: PipelineSpec,
    compiled: CompiledTask,
    rendered: Rendered,
    r: int,
    position: int,
    meta: dict[str, Any],
) -> Job:
    task = compiled.task
    request = rendered.request
    if task.kind == "chat":
        seed = job_seed(request.get("seed"), r, task.repeat)
        if seed is not None:
            request["seed"] = seed
    _check_expect(spec, task, rendered.expect, meta)
    if task.kind == "image" and not str(request.get("prompt", "")).strip():
        raise SpecError([_problem(spec, task, ("prompt",), "the prompt renders empty", None, meta)])
    job_id = rendered.id
    if job_id is None:
        basis: dict[str, Any] = {"request": request, "turns": rendered.turns, "mode": task.mode}
        if task.repeat > 1:
            basis["repeat"] = r
        job_id = f"{task.name}-{digest(basis, 12)}"
    elif task.repeat > 1 and not task.id_uses_repeat:
        job_id = f"{job_id}-r{r}"
    problem = id_problem(job_id)
    if problem is not None:
        raise SpecError([_problem(spec, task, ("id",), problem, None, meta)])
    frozen_meta = MappingProxyType(meta)
    if task.kind == "chat":
        return ChatJob(
            id=job_id,
            request=request,
            mode=task.mode,
            turns=tuple(rendered.turns),
            expect=tuple(rendered.expect),
            task=task.name,
            index=position,
            meta=frozen_meta,
        )
    return ImageJob(
        id=job_id,
        request=request,
        expect=tuple(rendered.expect),
        task=task.name,
        index=position,
        meta=frozen_meta,
    )


def _check_expect(spec: PipelineSpec, task: Task, expect: list[Any], meta: dict[str, Any]) -> None:
    for j, assertion in enumerate(expect):
        pattern = assertion.get("regex")
        if pattern is None:
            continue
        try:
            re.compile(pattern)
        except re.error as exc:
            raise SpecError(
                [_problem(spec, task, ("expect", j, "regex"), f"invalid regex: {exc}", None, meta)]
            ) from None


def _problem(
    spec: PipelineSpec,
    task: Task,
    sub: tuple[Any, ...],
    message: str,
    job: Job | None,
    meta: dict[str, Any] | None = None,
) -> Any:
    origin = (job.meta if job is not None else meta or {}).get("origin")
    suffix = f" (row {origin})" if origin else ""
    return spec.engine.positions.problem((*task.at, *sub), message + suffix)
