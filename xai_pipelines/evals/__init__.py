"""Evals: the ``expect:`` assertions of a job and model-graded checks.

``score_line(line, grader)`` turns a result line's ``expect`` into its
``scores``; assertion types are registered by name (``register``) and built
from ``expect`` entries (``build_assertion``). Importing this package
registers every built-in type.
"""

from xai_pipelines.evals import metrics, structured, text  # noqa: F401 - registers the types
from xai_pipelines.evals.base import (
    Assertion,
    EvalConfigError,
    EvalContext,
    Target,
    Verdict,
    assertion_types,
    build_assertion,
    register,
)
from xai_pipelines.evals.evaluate import Evaluator, aggregate, score_line
from xai_pipelines.evals.grader import (
    VERDICT_SCHEMA,
    Grader,
    GraderVerdict,
    grader_model,
    grader_prompt,
)

__all__ = [
    "VERDICT_SCHEMA",
    "Assertion",
    "EvalConfigError",
    "EvalContext",
    "Evaluator",
    "Grader",
    "GraderVerdict",
    "Target",
    "Verdict",
    "aggregate",
    "assertion_types",
    "build_assertion",
    "grader_model",
    "grader_prompt",
    "register",
    "score_line",
]
