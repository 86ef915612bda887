"""Filters that keep nothing: a dataset ``where`` or ``--only`` that would make an empty run.

A filter that matches nothing is almost always a typo (``continent: Eurpe``,
``--only capitl*``); running zero jobs and exiting 0 would hide it. Both checks
stop at the first row or job kept, so a filter that keeps something costs little.
Each finding is a warning that names the filter; the commands exit 2 on it
(``validate``, ``plan`` and ``run`` for ``where``; ``run`` for ``--only``).
"""

from __future__ import annotations

import fnmatch
import json

from xai_pipelines.plan.expand import iter_jobs
from xai_pipelines.spec import PipelineSpec, Problem


def empty_where(spec: PipelineSpec) -> list[Problem]:
    """A located warning for each dataset a task runs over whose ``where`` keeps no row.

    Raises:
        SpecError: A row of the dataset cannot be read.
    """
    users: dict[str, list[str]] = {}
    for task in spec.tasks:  # (a prompts_file is a dataset too, without where: skipped)
        if task.dataset is not None and task.dataset.name in spec.datasets:
            users.setdefault(task.dataset.name, []).append(task.name)
    out: list[Problem] = []
    for name, tasks in users.items():
        dataset = spec.datasets[name]
        total = dataset.where_keeps_nothing()
        if total is None:
            continue
        shown = json.dumps({k: v[0] if len(v) == 1 else list(v) for k, v in dataset.where.items()})
        runs = ", ".join(f"'{t}'" for t in tasks)
        out.append(
            spec.engine.positions.problem(
                ("datasets", name, "where"),
                f"warning: filter where {shown} matches none of the {total} rows of "
                f"{dataset.display}: task {runs} would run no job",
            )
        )
    return out


def only_matches_nothing(spec: PipelineSpec, only: str) -> str | None:
    """The warning when the ``--only`` glob matches no job id or task name of the plan; else None.

    The whole plan is searched (not a ``--shard``'s part of it: an empty shard is not
    a typo). Stops at the first match.
    """
    tasks: dict[str, None] = {}
    count = 0
    for job in iter_jobs(spec):
        if fnmatch.fnmatchcase(job.id, only) or fnmatch.fnmatchcase(job.task, only):
            return None
        tasks.setdefault(job.task, None)
        count += 1
    listing = ", ".join(tasks) or "none"
    return (
        f"warning: filter --only {only!r} matches no job id or task name of the plan "
        f"({count} jobs; tasks: {listing})"
    )
