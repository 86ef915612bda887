"""Expansion of a validated spec into a lazy, deterministic stream of jobs."""

from xai_pipelines.plan.expand import iter_jobs
from xai_pipelines.plan.jobs import ChatJob, ImageJob, Job, canonical_json, job_from_dict
from xai_pipelines.plan.seeds import job_seed

__all__ = ["ChatJob", "ImageJob", "Job", "canonical_json", "iter_jobs", "job_from_dict", "job_seed"]
