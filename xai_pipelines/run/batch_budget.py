"""``budget_usd`` with ``mode: batch``: held by the plan's cost ceiling before submission.

An online run stops starting jobs once its spend reaches the budget. A batch
runs server-side and cannot be stopped part way, so batch mode creates a new
batch only when the cost ceiling of its jobs (:meth:`Estimate.cost_range` of
:mod:`xai_pipelines.plan.estimate`, grader calls included) is within the budget;
otherwise the run is refused (exit 2) and nothing is submitted.

The check walks the jobs once and keeps only per-model totals (:class:`Estimate`),
so batch mode hands it the jobs streamed from its on-disk spool: a plan of a million
jobs is checked without being held in memory.
"""

from __future__ import annotations

from collections.abc import Iterator

from xai_pipelines.plan import Job
from xai_pipelines.plan.estimate import Estimate, Prices, usd

__all__ = ["BatchBudgetError", "BatchRefusedError", "budget_refusal"]


class BatchRefusedError(Exception):
    """The batch was refused before anything was submitted (exit status 2)."""


class BatchBudgetError(BatchRefusedError):
    """``budget_usd`` cannot hold for the batch: nothing was submitted (exit status 2)."""


def budget_refusal(
    jobs: Iterator[Job], budget_usd: float, prices: Prices, grader: str | None = None
) -> str | None:
    """Why a batch of ``jobs`` may cost more than ``budget_usd``; None when its ceiling fits.

    Also refused: a ceiling that does not exist (a model without a context bound,
    server-side tools) and a model without a price, since either would make the
    check pass without holding the budget.
    """
    estimate = Estimate(grader=grader)
    count = 0
    for job in jobs:
        estimate.add(job)
        count += 1
    advice = "raise budget_usd, bound the jobs (max_tokens), or run fewer (--only, --limit)"
    unpriced = estimate.unpriced(prices)
    if unpriced:
        return (
            f"budget_usd ${budget_usd:g} cannot be held in batch mode: no price for "
            f"{', '.join(unpriced)}; nothing was submitted"
        )
    ceiling = estimate.cost_range(prices)
    if ceiling.high is None:
        why = "; ".join(f"{m}: {r}" for m, r in ceiling.unbounded.items())
        return (
            f"budget_usd ${budget_usd:g} cannot be held in batch mode: the cost of the "
            f"{count} jobs has no ceiling ({why}); {advice}; nothing was submitted"
        )
    if usd(ceiling.high) > budget_usd:
        return (
            f"budget_usd ${budget_usd:g} is below the cost ceiling of the batch's {count} "
            f"jobs, ${usd(ceiling.high):.4f} (a batch cannot be stopped part way); "
            f"{advice}; nothing was submitted"
        )
    return None
