"""Expansion of a validated spec into a lazy, deterministic stream of jobs."""

import typing

from xai_pipelines import _lazy

if typing.TYPE_CHECKING:
    from xai_pipelines.plan.check import PlanSummary, check_plan
    from xai_pipelines.plan.estimate import Estimate, Prices
    from xai_pipelines.plan.expand import iter_jobs
    from xai_pipelines.plan.jobs import ChatJob, ImageJob, Job, canonical_json, job_from_dict
    from xai_pipelines.plan.models_check import (
        LiveModels,
        ModelAuthority,
        ModelFinding,
        ModelReport,
        check_models,
    )
    from xai_pipelines.plan.seeds import job_seed
else:  # imported on first use: see xai_pipelines._lazy
    __getattr__, __dir__ = _lazy.exports(__name__)

__all__ = [
    "ChatJob",
    "Estimate",
    "ImageJob",
    "Job",
    "LiveModels",
    "ModelAuthority",
    "ModelFinding",
    "ModelReport",
    "PlanSummary",
    "Prices",
    "canonical_json",
    "check_models",
    "check_plan",
    "iter_jobs",
    "job_from_dict",
    "job_seed",
]
