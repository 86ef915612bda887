"""Expansion of a validated spec into a lazy, deterministic stream of jobs."""

from xai_pipelines.plan.jobs import ChatJob, ImageJob, Job, canonical_json, job_from_dict

__all__ = ["ChatJob", "ImageJob", "Job", "canonical_json", "job_from_dict"]
