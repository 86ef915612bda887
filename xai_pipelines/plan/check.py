"""A full pass over the plan before anything is sent: every row rendered, ids unique, totals.

With a :class:`~xai_pipelines.plan.models_check.ModelAuthority`, the model names and
request parameters are checked too (:func:`~xai_pipelines.plan.models_check.check_models`),
and their errors are reported together with the plan's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xai_pipelines.plan.estimate import Estimate
from xai_pipelines.plan.expand import iter_jobs
from xai_pipelines.plan.filters import empty_where
from xai_pipelines.plan.jobs import Job
from xai_pipelines.plan.models_check import ModelAuthority, ModelReport, check_models
from xai_pipelines.plan.shard import Shard
from xai_pipelines.spec import PipelineSpec, Problem, SpecError


@dataclass
class PlanSummary:
    """What a plan holds.

    Attributes:
        count: Number of jobs.
        by_task: Jobs per task name.
        first: The first jobs (as many as asked for).
        estimate: Token and cost totals.
        models: The model check's report (``None`` when no check was asked for).
    """

    count: int = 0
    by_task: dict[str, int] = field(default_factory=dict)
    first: list[Job] = field(default_factory=list)
    estimate: Estimate = field(default_factory=Estimate)
    models: ModelReport | None = None


def check_plan(
    spec: PipelineSpec,
    keep: int = 10,
    shard: Shard | None = None,
    models: ModelAuthority | None = None,
) -> PlanSummary:
    """Walk the whole plan in bounded memory (jobs are not kept, except the first ``keep``).

    Args:
        spec: The pipeline.
        keep: How many of the first jobs to keep.
        shard: Count only this shard's jobs (the whole plan is still checked).
        models: Also check model names and parameters against this authority.

    Raises:
        SpecError: The first row that breaks a template, a bad or duplicate id, a
            dataset ``where`` that keeps no row, and (with ``models``) every model
            name or parameter the authority refuses.
    """
    summary = PlanSummary(estimate=Estimate(grader=spec.evals.grader))
    problems: list[Problem] = []
    try:
        _walk(spec, keep, shard, summary)
        problems.extend(empty_where(spec))
    except SpecError as exc:
        problems.extend(exc.problems)
    if models is not None:
        try:
            summary.models = check_models(spec, models)
        except SpecError as exc:  # a templated model on a row the walk reported already
            problems.extend(exc.problems)
        else:
            problems.extend(f.problem for f in summary.models.errors)
    if problems:
        raise SpecError(problems)
    return summary


def _walk(spec: PipelineSpec, keep: int, shard: Shard | None, summary: PlanSummary) -> None:
    for job in iter_jobs(spec):
        if shard is not None and not shard.contains(job.id):
            continue
        summary.count += 1
        summary.by_task[job.task] = summary.by_task.get(job.task, 0) + 1
        summary.estimate.add(job)
        if len(summary.first) < keep:
            summary.first.append(job)
