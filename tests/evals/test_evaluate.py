"""Scoring a result line: the registry, per-output checks, aggregation, broken entries."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xai_pipelines.evals import (
    Assertion,
    EvalContext,
    Target,
    Verdict,
    assertion_types,
    score_line,
)

ROOT = Path(__file__).resolve().parents[2]


def test_every_schema_assertion_is_registered_and_vice_versa() -> None:
    schema = json.loads((ROOT / "schemas" / "pipeline.schema.json").read_text())
    keys = set(schema["$defs"]["assertion"]["properties"]) - {"name"}
    assert keys == set(assertion_types())


def test_no_expect_no_scores(chat_line: Callable[..., dict[str, Any]]) -> None:
    assert score_line(chat_line("x")) is None


def test_scores_aggregate_pass_and_mean(chat_line: Callable[..., dict[str, Any]]) -> None:
    line = chat_line(
        "Paris", expect=[{"icontains": "paris"}, {"equals": "Lyon"}, {"max_tokens": 64}]
    )
    scores = score_line(line)
    assert scores is not None
    assert scores["passed"] is False and scores["total"] == 3 and scores["failed"] == 1
    assert scores["score"] == round(2 / 3, 4)
    assert [a["type"] for a in scores["assertions"]] == ["icontains", "equals", "max_tokens"]
    assert all(
        set(a) >= {"type", "pass", "score", "reason", "output"} for a in scores["assertions"]
    )
    assert "grader" not in scores
    assert json.loads(json.dumps(scores)) == scores  # JSON-able, as the result line needs


def test_output_checks_run_per_output_job_checks_once(
    chat_line: Callable[..., dict[str, Any]],
) -> None:
    line = chat_line("Lima", "Cusco", "lima!", expect=[{"icontains": "lima"}, {"max_tokens": 100}])
    scores = score_line(line)
    assert scores is not None
    per_output = [
        (a["output"], a["pass"]) for a in scores["assertions"] if a["type"] == "icontains"
    ]
    assert per_output == [(0, True), (1, False), (2, True)]
    assert [a["output"] for a in scores["assertions"] if a["type"] == "max_tokens"] == [None]
    assert scores["total"] == 4 and scores["failed"] == 1 and not scores["passed"]


def test_entries_that_cannot_be_built_fail_with_the_reason(
    chat_line: Callable[..., dict[str, Any]],
) -> None:
    line = chat_line("x", expect=[{"sounds_good": True}, {"regex": "(", "name": "broken"}, {}])
    scores = score_line(line)
    assert scores is not None
    records = scores["assertions"]
    assert [r["type"] for r in records] == ["sounds_good", "regex", "invalid"]
    assert all(not r["pass"] and r["reason"].startswith("invalid: ") for r in records)
    assert "unknown assertion type 'sounds_good'" in records[0]["reason"]
    assert records[1]["name"] == "broken"


class _Boom(Assertion):
    type = "boom"

    def check(self, target: Target, ctx: EvalContext) -> Verdict:
        raise KeyError("missing")


class _Half(Assertion):
    type = "half"

    def check(self, target: Target, ctx: EvalContext) -> Verdict:
        return Verdict(True, "meh", score=float(self.value))


def test_a_failing_check_costs_one_assertion_not_the_job(
    chat_line: Callable[..., dict[str, Any]],
) -> None:
    line = chat_line("x")
    record = _Boom(None).evaluate(Target(line, line["outputs"][0]), EvalContext())
    assert record["pass"] is False and record["reason"] == "error: KeyError: 'missing'"


def test_scores_are_clamped_to_unit_range(chat_line: Callable[..., dict[str, Any]]) -> None:
    line = chat_line("x")
    target = Target(line, line["outputs"][0])
    assert _Half(7).evaluate(target, EvalContext())["score"] == 1.0
    assert _Half(-2).evaluate(target, EvalContext())["score"] == 0.0
    assert _Half(0.25).evaluate(target, EvalContext())["score"] == 0.25
    assert _Half(float("nan")).evaluate(target, EvalContext())["score"] == 1.0


def test_importing_evals_registers_exactly_the_documented_assertion_types() -> None:
    """Every type in docs/evals.md's table is registered by the package import, and no other."""
    import xai_pipelines.evals as evals

    documented: set[str] = set()
    for line in (ROOT / "docs" / "evals.md").read_text().splitlines():
        if line.startswith("| `"):
            documented |= set(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    assert documented == set(evals.assertion_types())
