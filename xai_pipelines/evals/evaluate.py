"""Scoring a job: its ``expect`` entries checked against its result line.

Output-level assertions run once per chat output (``n > 1``: every output; a
multi-turn job: the final reply's outputs); job-level ones (tokens, images,
latency, cost) once per job. The result is the line's ``scores``::

    {"passed": bool,       # every assertion passed
     "score": float,       # mean of the assertion scores (0..1)
     "total": int, "failed": int,
     "assertions": [{"type", "name"?, "output", "pass", "score", "reason"}, ...],
     "grader": {"calls": int, "usage": {...}}}     # only when a grader was asked

An entry that cannot be built (unknown type, bad value) becomes a failing
assertion with the reason, so a job's scores always cover its whole ``expect``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from xai_pipelines.evals.base import (
    Assertion,
    EvalConfigError,
    EvalContext,
    Target,
    build_assertion,
)
from xai_pipelines.evals.grader import Grader
from xai_pipelines.records import (
    ChatOutput,
    ResultLine,
    Scores,
    UnsetType,
    as_record,
    to_plain,
)
from xai_pipelines.report.lines import as_result_line, unset_or


def _broken(entry: Mapping[str, Any], error: EvalConfigError) -> dict[str, Any]:
    keys = [k for k in entry if k != "name"]
    record: dict[str, Any] = {"type": keys[0] if len(keys) == 1 else "invalid"}
    if entry.get("name"):
        record["name"] = str(entry["name"])
    return record | {"output": None, "pass": False, "score": 0.0, "reason": f"invalid: {error}"}


def score_line(
    line: ResultLine | Mapping[str, Any], grader: Grader | None = None
) -> dict[str, Any] | None:
    """The ``scores`` of a result line from its ``expect`` (None when it has none).

    Args:
        line: A ``results.jsonl`` line (``expect`` as rendered by the plan); a plain
            dict is decoded into a :class:`~xai_pipelines.records.ResultLine`.
        grader: A :class:`~xai_pipelines.evals.grader.Grader` for ``llm_rubric``.
    """
    record = as_result_line(line)
    if not record.expect:
        return None
    ctx = EvalContext(grader=grader)
    outputs = unset_or(record.outputs, [])
    records: list[dict[str, Any]] = []
    for entry in record.expect:
        try:
            assertion = build_assertion(entry)
        except EvalConfigError as exc:
            records.append(_broken(entry, exc))
            continue
        records.extend(assertion.evaluate(t, ctx) for t in _targets(assertion, record, outputs))
    return aggregate(records, ctx)


def _targets(assertion: Assertion, line: ResultLine, outputs: list[ChatOutput]) -> Iterable[Target]:
    if assertion.scope == "job" or not outputs:
        return [Target(line)]
    return [Target(line, output) for output in outputs]


def aggregate(records: list[dict[str, Any]], ctx: EvalContext | None = None) -> dict[str, Any]:
    """The ``scores`` document of a job's assertion records."""
    failed = sum(1 for r in records if not r["pass"])
    scores: dict[str, Any] = {
        "passed": failed == 0,
        "score": round(sum(r["score"] for r in records) / len(records), 4) if records else 1.0,
        "total": len(records),
        "failed": failed,
        "assertions": records,
    }
    if ctx is not None and ctx.grader_calls:
        scores["grader"] = {"calls": ctx.grader_calls, "usage": to_plain(ctx.grader_usage)}
    return scores


class Evaluator:
    """Scores result lines; holds the grader shared by every job of a run.

    Args:
        grader: The grader for model-graded checks (None: they fail with a reason).
    """

    def __init__(self, grader: Grader | None = None) -> None:
        self.grader = grader

    def score(self, line: ResultLine | Mapping[str, Any]) -> dict[str, Any] | None:
        """See :func:`score_line`."""
        return score_line(line, self.grader)

    @staticmethod
    def grader_cost_ticks(scores: Scores | Mapping[str, Any] | None) -> int:
        """What the grader calls of one job cost (0 when none, or unknown).

        Raises:
            RecordError: ``scores`` is not a scores document.
        """
        if scores is None:
            return 0
        typed = as_record(scores, Scores, "scores document")
        if isinstance(typed.grader, UnsetType):
            return 0
        return typed.grader.usage.cost_usd_ticks or 0
