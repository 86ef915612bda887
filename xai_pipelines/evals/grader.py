"""Model-graded checks: ``llm_rubric`` asks a grader model whether an answer meets a rubric.

The grader is called through the run's own :class:`~xai_pipelines.sdk.Client`,
so it shares the retry policy, channels and rate limiter of the jobs. It asks
for structured output (``response_format`` json_schema) and expects the verdict
``{"pass": bool, "score": number 0..1, "reason": str}``. Grader usage is not
part of the job's usage: it is recorded under ``scores.grader`` of the result
line (see :mod:`xai_pipelines.evals.evaluate`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from xai_pipelines.evals.base import (
    Assertion,
    EvalConfigError,
    EvalContext,
    Target,
    Verdict,
    register,
)
from xai_pipelines.records import ResultLine
from xai_pipelines.report.lines import unset_or
from xai_pipelines.sdk import Client
from xai_pipelines.sdk.errors import XaiError

VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "pass": {"type": "boolean"},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "reason": {"type": "string", "maxLength": 400},
    },
    "required": ["pass", "score", "reason"],
    "additionalProperties": False,
}

GRADER_SYSTEM = (
    "You grade answers against a rubric. Judge only what the rubric asks. "
    "Reply with JSON: pass (true when the answer meets the rubric), score (0 to 1) "
    "and reason (one short sentence)."
)

#: Completion tokens a verdict may take.
VERDICT_MAX_TOKENS = 400


def grader_model(
    rubric_model: str | None, pipeline_grader: str | None, job_model: str | None
) -> str | None:
    """The model that grades one ``llm_rubric``: the one place this is decided.

    Args:
        rubric_model: The rubric's own ``model`` (wins when set).
        pipeline_grader: The pipeline's ``evals.grader`` (``spec.evals.grader``).
        job_model: The graded job's own model (the fallback without either).
    """
    return rubric_model or pipeline_grader or job_model


def grader_prompt(rubric: str, answer: str, question: str | None) -> str:
    """The user message sent to the grader (scripted emulator rules may match on it)."""
    parts = ["Grade the answer against the rubric.", f"<rubric>\n{rubric}\n</rubric>"]
    if question:
        parts.append(f"<question>\n{question}\n</question>")
    parts.append(f"<answer>\n{answer}\n</answer>")
    return "\n\n".join(parts)


@dataclass(frozen=True)
class GraderVerdict:
    """What the grader said (or why it could not say).

    Attributes:
        passed: The verdict's ``pass``.
        score: The verdict's ``score``.
        reason: The verdict's ``reason``, or the error when the call failed.
        usage: Usage of the grader call (empty when no answer came back).
        error: Set when the call failed or the answer was not a verdict.
    """

    passed: bool
    score: float
    reason: str
    usage: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class Grader:
    """Asks a model to grade answers.

    Args:
        client: The SDK client (the run's, for one retry policy and one rate limit).
        default_model: The pipeline's ``evals.grader``: the model of rubrics without
            their own ``model`` (None: each job's own model grades it).
        timeout_s: Deadline of each grader call (None: the client default).
        acquire: Called with a token estimate before each call (the run's rate limiter).
        reconcile: Called with ``(estimate, tokens used)`` after each call.
    """

    def __init__(
        self,
        client: Client,
        *,
        default_model: str | None = None,
        timeout_s: float | None = None,
        acquire: Callable[[int], None] | None = None,
        reconcile: Callable[[int, int], None] | None = None,
    ) -> None:
        self.client = client
        self.default_model = default_model
        self.timeout_s = timeout_s
        self.acquire = acquire
        self.reconcile = reconcile

    def grade(
        self, rubric: str, answer: str, *, model: str, question: str | None = None
    ) -> GraderVerdict:
        """Grade ``answer`` against ``rubric`` with ``model``.

        Never raises for an API error or a malformed verdict: those come back as a
        failing :class:`GraderVerdict` with ``error`` set.
        """
        prompt = grader_prompt(rubric, answer, question)
        estimate = (len(GRADER_SYSTEM) + len(prompt)) // 3 + VERDICT_MAX_TOKENS
        if self.acquire is not None:
            self.acquire(estimate)
        chat = self.client.chat.create(
            model,
            [{"role": "system", "content": GRADER_SYSTEM}, {"role": "user", "content": prompt}],
            temperature=0,
            max_tokens=VERDICT_MAX_TOKENS,
            response_format={"type": "json_schema", "schema": VERDICT_SCHEMA, "name": "verdict"},
        )
        try:
            response = chat.sample(timeout=self.timeout_s)
        except XaiError as exc:
            return GraderVerdict(
                False, 0.0, "", error=f"grader call failed ({exc.code}): {exc.message}"
            )
        usage = response.usage.to_dict()
        if self.reconcile is not None:
            u = response.usage
            used = u.prompt_tokens + u.completion_tokens + u.reasoning_tokens
            self.reconcile(estimate, used)
        try:
            data = response.parse(VERDICT_SCHEMA)
        except ValueError as exc:
            return GraderVerdict(
                False, 0.0, "", usage, error=f"grader answer is not a verdict: {exc}"
            )
        return GraderVerdict(bool(data["pass"]), float(data["score"]), str(data["reason"]), usage)


def _message_text(content: Any) -> str | None:
    if isinstance(content, list):
        return "\n".join(
            str(p.get("text"))
            for p in content
            if isinstance(p, Mapping) and p.get("type") == "text"
        )
    return None if content is None else str(content)


def last_user_text(line: ResultLine) -> str | None:
    """The last user message a chat job sent (its final turn's, for multi-turn jobs)."""
    turns = unset_or(line.turns, [])
    messages: list[Any] = [t.user for t in turns]
    if not messages:
        messages = line.request.get("messages") or []
    candidates: list[Mapping[str, Any]] = [
        m for m in messages if isinstance(m, Mapping) and m.get("role") == "user"
    ]
    if not candidates:
        return None
    return _message_text(candidates[-1].get("content"))


@register
class LlmRubric(Assertion):
    """A grader model judges the output against a rubric.

    Value: the rubric text, or ``{rubric, model?, threshold?}``. ``model`` defaults
    to the pipeline's ``evals.grader``, else the job's model (see :func:`grader_model`);
    with ``threshold`` the verdict must also score at least it.
    """

    type = "llm_rubric"

    def configure(self, value: Any) -> None:
        """A rubric string or ``{rubric, model, threshold}``."""
        if isinstance(value, str):
            value = {"rubric": value}
        if not isinstance(value, Mapping) or not isinstance(value.get("rubric"), str):
            raise EvalConfigError("llm_rubric: expected a rubric or {rubric, model, threshold}")
        self.rubric: str = value["rubric"]
        self.model: str | None = value.get("model")
        threshold = value.get("threshold")
        if threshold is not None and (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not 0 <= threshold <= 1
        ):
            raise EvalConfigError(f"llm_rubric: threshold must be in [0, 1], got {threshold!r}")
        self.threshold: float | None = threshold

    def check(self, target: Target, ctx: EvalContext) -> Verdict:
        """Ask the grader, record its usage, read its verdict."""
        if ctx.grader is None:
            return Verdict(False, "no grader (model-graded checks need an API client)")
        model = str(grader_model(self.model, ctx.grader.default_model, target.line.model or None))
        verdict: GraderVerdict = ctx.grader.grade(
            self.rubric, target.text, model=model, question=last_user_text(target.line)
        )
        if verdict.usage:
            ctx.record_grader_usage(verdict.usage)
        if verdict.error is not None:
            return Verdict(False, verdict.error)
        passed = verdict.passed
        reason = f"{verdict.reason} (grader {model}, score {verdict.score:g})"
        if passed and self.threshold is not None and verdict.score < self.threshold:
            passed = False
            reason += f" below threshold {self.threshold:g}"
        return Verdict(passed, reason, verdict.score)
