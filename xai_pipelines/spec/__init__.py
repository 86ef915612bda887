"""The pipeline language: YAML with positions, schema and semantic checks, typed spec, templates, datasets.

Usage::

    from xai_pipelines.spec import load_pipeline, SpecError
    spec = load_pipeline("pipelines/eval.yaml", overrides={"vars.topic": "cats"})
"""

import typing

from xai_pipelines import _lazy

if typing.TYPE_CHECKING:
    from xai_pipelines.spec.datasets import Dataset, Row, Sample
    from xai_pipelines.spec.errors import Problem, SpecError
    from xai_pipelines.spec.loader import load_pipeline, load_pipeline_data, load_pipeline_text
    from xai_pipelines.spec.model import (
        Cache,
        Evals,
        Execution,
        Output,
        PipelineSpec,
        RateLimit,
        Retries,
        Task,
    )
    from xai_pipelines.spec.overrides import parse_assignment
    from xai_pipelines.spec.schema import pipeline_schema
else:  # imported on first use: see xai_pipelines._lazy
    __getattr__, __dir__ = _lazy.exports(__name__)

__all__ = [
    "Cache",
    "Dataset",
    "Evals",
    "Execution",
    "Output",
    "PipelineSpec",
    "Problem",
    "RateLimit",
    "Retries",
    "Row",
    "Sample",
    "SpecError",
    "Task",
    "load_pipeline",
    "load_pipeline_data",
    "load_pipeline_text",
    "parse_assignment",
    "pipeline_schema",
]
