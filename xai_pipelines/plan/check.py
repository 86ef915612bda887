"""A full pass over the plan before anything is sent: every row rendered, ids unique, totals."""

from __future__ import annotations

from dataclasses import dataclass, field

from xai_pipelines.plan.estimate import Estimate
from xai_pipelines.plan.expand import iter_jobs
from xai_pipelines.plan.jobs import Job
from xai_pipelines.plan.shard import Shard
from xai_pipelines.spec import PipelineSpec


@dataclass
class PlanSummary:
    """What a plan holds.

    Attributes:
        count: Number of jobs.
        by_task: Jobs per task name.
        first: The first jobs (as many as asked for).
        estimate: Token and cost totals.
    """

    count: int = 0
    by_task: dict[str, int] = field(default_factory=dict)
    first: list[Job] = field(default_factory=list)
    estimate: Estimate = field(default_factory=Estimate)


def check_plan(spec: PipelineSpec, keep: int = 10, shard: Shard | None = None) -> PlanSummary:
    """Walk the whole plan in bounded memory (jobs are not kept, except the first ``keep``).

    Args:
        spec: The pipeline.
        keep: How many of the first jobs to keep.
        shard: Count only this shard's jobs (the whole plan is still checked).

    Raises:
        SpecError: The first row that breaks a template, a bad id or a duplicate id.
    """
    summary = PlanSummary()
    for job in iter_jobs(spec):
        if shard is not None and not shard.contains(job.id):
            continue
        summary.count += 1
        summary.by_task[job.task] = summary.by_task.get(job.task, 0) + 1
        summary.estimate.add(job)
        if len(summary.first) < keep:
            summary.first.append(job)
    return summary
