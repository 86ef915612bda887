"""``usage.json``'s ``evals`` and the summary's section, from result lines alone."""

from __future__ import annotations

from typing import Any

from xai_pipelines.evals import aggregate
from xai_pipelines.records import to_plain
from xai_pipelines.report import build_evals
from xai_pipelines.report.evals import MAX_FAILING_IDS, MAX_FAILURES, render_evals_md


def evals_doc(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """usage.json's evals section of these lines, as a reader of the file sees it."""
    return to_plain(build_evals(*args, **kwargs))


def _line(
    job_id: str,
    passed: bool,
    *,
    task: str = "t",
    model: str = "m",
    index: int = 0,
    reason: str = "nope",
    grader: dict[str, Any] | None = None,
    cell: dict[str, Any] | None = None,
) -> dict[str, Any]:
    records = [
        {"type": "contains", "output": 0, "pass": True, "score": 1.0, "reason": "ok"},
        {
            "type": "equals",
            "output": 0,
            "pass": passed,
            "score": 1.0 if passed else 0.0,
            "reason": reason,
        },
    ]
    scores = aggregate(records)
    if grader:
        scores["grader"] = grader
    return {
        "id": job_id,
        "task": task,
        "model": model,
        "index": index,
        "scores": scores,
        "meta": {"matrix": cell or {}},
    }


def test_rates_per_task_model_and_cell() -> None:
    lines = [
        _line("a1", True, task="a", model="x", index=0, cell={"model": "x"}),
        _line("a2", False, task="a", model="y", index=1, cell={"model": "y"}),
        _line("b1", True, task="b", model="x", index=2, cell={"model": "x"}),
        {"id": "plain", "task": "c", "model": "x", "scores": None},  # no expect: not counted
    ]
    evals = evals_doc(lines)
    assert (evals["jobs"], evals["passed"], evals["failed"], evals["pass_rate"]) == (
        3,
        2,
        1,
        0.6667,
    )
    assert evals["score"] == round((1 + 0.5 + 1) / 3, 4)
    assert evals["assertions"] == {"total": 6, "passed": 5, "pass_rate": 0.8333}
    assert {t["type"]: t["pass_rate"] for t in evals["by_type"]} == {
        "contains": 1.0,
        "equals": 0.6667,
    }
    tasks = {g["task"]: (g["jobs"], g["passed"], g["failing"]) for g in evals["by_task"]}
    assert tasks == {"a": (2, 1, ["a2"]), "b": (1, 1, [])}
    assert {g["model"]: g["pass_rate"] for g in evals["by_model"]} == {"x": 1.0, "y": 0.0}
    assert [(g["task"], g["cell"]) for g in evals["by_cell"]] == [
        ("a", "model=x"),
        ("a", "model=y"),
        ("b", "model=x"),
    ]
    assert evals["failures"] == [
        {"id": "a2", "task": "a", "model": "y", "type": "equals", "output": 0, "reason": "nope"}
    ]


def test_nothing_scored() -> None:
    evals = evals_doc([{"id": "a", "scores": None}])
    assert evals["jobs"] == 0 and evals["pass_rate"] is None
    assert render_evals_md(evals) == []


def test_the_last_line_of_a_job_wins() -> None:
    evals = evals_doc([_line("a", False), _line("a", True), _line("b", True), _line("b", False)])
    assert (evals["jobs"], evals["passed"]) == (2, 1)
    assert [f["id"] for f in evals["failures"]] == ["b"]
    assert evals["by_task"][0]["failing"] == ["b"]
    # a job re-run without expectations is no longer scored
    assert evals_doc([_line("a", False), {"id": "a", "scores": None}])["jobs"] == 0


def test_lists_are_bounded() -> None:
    lines = [_line(f"j{i:03d}", False, index=i, reason="x" * 1000) for i in range(120)]
    evals = evals_doc(lines)
    group = evals["by_task"][0]
    assert (
        len(group["failing"]) == MAX_FAILING_IDS and group["failing_more"] == 120 - MAX_FAILING_IDS
    )
    assert group["failing"][0] == "j000"  # in plan order
    assert len(evals["failures"]) == MAX_FAILURES and evals["failures_more"] == 120 - MAX_FAILURES
    assert all(len(f["reason"]) <= 300 for f in evals["failures"])
    text = "\n".join(render_evals_md(evals))
    assert "(+115 more)" in text and text.count("\n- `j") == 10


def test_grader_totals() -> None:
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "reasoning_tokens": 5,
        "cost_usd_ticks": 7000,
    }
    lines = [
        _line("a", True, grader={"calls": 2, "usage": usage}),
        _line("b", True, grader={"calls": 1, "usage": {**usage, "cost_usd_ticks": None}}),
    ]
    grader = evals_doc(lines)["grader"]
    assert grader["calls"] == 3 and grader["cost_usd_ticks"] == 7000
    assert grader["tokens"] == {"prompt": 200, "completion": 40, "reasoning": 10}
    assert grader["jobs_without_cost"] == 1


def test_markdown_cells_cannot_break_the_table_or_inject_html() -> None:
    evals = evals_doc([_line("a|b", False, task="t|x", reason="<script>alert(1)</script> | `x`")])
    text = "\n".join(render_evals_md(evals))
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "`t\\|x`" in text and "`a\\|b`" in text
    assert "\\| 'x'" in text


def _failed_at_api(
    job_id: str, *, task: str = "t", index: int = 0, expects: int = 2
) -> dict[str, Any]:
    return {
        "id": job_id,
        "kind": "chat",
        "model": "m",
        "task": task,
        "index": index,
        "matrix": {"model": "m"},
        "expects": expects,
        "final": True,
        "code": "UNAVAILABLE",
        "message": "address lookup failed for api.x.ai",
    }


def test_jobs_that_failed_at_the_api_count_as_failed_in_the_pass_rate() -> None:
    lines = [_line(f"ok{i}", True, index=i, cell={"model": "m"}) for i in range(3)]
    errors = [
        _failed_at_api("gone", index=5),
        _failed_at_api("plain", expects=0),  # no expect: not an eval job
        {**_failed_at_api("later-ok", index=1), "id": "ok1"},  # failed once, then succeeded
        {**_failed_at_api("gone", index=5), "final": False},
    ]
    evals = evals_doc(lines, errors)
    assert (evals["jobs"], evals["passed"], evals["failed"], evals["errored"]) == (4, 3, 1, 1)
    assert evals["pass_rate"] == 0.75 and evals["score"] == 0.75
    assert evals["assertions"] == {"total": 6, "passed": 6, "pass_rate": 1.0}  # none were checked
    (task,) = evals["by_task"]
    assert task["failing"] == ["gone"] and task["errored"] == 1 and task["pass_rate"] == 0.75
    (cell,) = evals["by_cell"]
    assert cell["cell"] == "model=m" and cell["failing"] == ["gone"]
    assert evals["failures"] == [] and evals["failures_more"] == 0  # no assertion failed
    headline = render_evals_md(evals)[2]
    assert headline == (
        "**3/4 jobs passed every assertion (75.0%)** · 1 failed at the API (counted as failed)"
        " · 6/6 assertions (100.0%) · mean score 0.750"
    )
    assert evals_doc(lines)["pass_rate"] == 1.0  # without the error lines: the old, wrong 100%


def test_failing_ids_are_the_first_in_plan_order_whatever_the_line_order() -> None:
    # lines in reverse plan order (as concurrency may write them): the listed failing ids
    # are still the first MAX_FAILING_IDS by plan position, and the figures do not move
    lines = [_line(f"j{i:03}", i % 3 == 0, index=i) for i in range(300)]
    forward, backward = evals_doc(lines), evals_doc(list(reversed(lines)))
    assert forward == backward
    failing = [f"j{i:03}" for i in range(300) if i % 3][:MAX_FAILING_IDS]
    assert forward["by_task"][0]["failing"] == failing
    assert forward["by_task"][0]["failing_more"] == 200 - MAX_FAILING_IDS
    assert forward["by_task"][0]["score"] == round((100 + 200 * 0.5) / 300, 4)
