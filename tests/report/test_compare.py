"""``xai-run compare BASE NEW`` on two real runs of the eval example, and its rules.

BASE is ``pipelines/eval.yaml`` with its own scripted answers (41/43 jobs pass); NEW
answers with a second script that breaks three jobs and fixes one:

* grok-4.3 names Lyon as the capital of France (``capital-france-grok-4.3`` regresses);
* both models give Osaka as Japan's capital in the facts JSON (``facts-japan-*`` regress);
* grok-4.20-non-reasoning no longer says Sydney (``capital-australia-...`` is fixed).
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from xai_pipelines.cli.app import app
from xai_pipelines.report.compare import Job, Run, build_run, compare, render_markdown, wilson

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ROOT / "pipelines" / "eval.yaml"
RESPONSES = ROOT / "pipelines" / "responses" / "eval.yaml"
runner = CliRunner()

REGRESSIONS = [
    "capital-france-grok-4.3",
    "facts-japan-grok-4.20-non-reasoning",
    "facts-japan-grok-4.3",
]
FIXES = ["capital-australia-grok-4.20-non-reasoning"]


def _new_responses(tmp: Path) -> Path:
    rules = yaml.safe_load(RESPONSES.read_text())
    rules = [r for r in rules if r.get("content") != "Sydney."]
    osaka = {"country": "Japan", "capital": "Osaka", "population_millions": 124.5}
    rules[:0] = [
        {"match": "What is the capital of France?", "model": "grok-4.3", "content": "Lyon"},
        {"match": "Give facts about Japan as JSON.", "json": osaka},
    ]
    path = tmp / "new-responses.yaml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False, allow_unicode=True))
    return path


def _run(out: Path, responses: Path) -> None:
    args = ["run", str(PIPELINE), "--local", "--responses", str(responses), "--out", str(out)]
    result = runner.invoke(app, [*args, "-q"], env={"GITHUB_ACTIONS": "", "XAI_API_KEY": ""})
    assert result.exit_code == 0, result.stderr


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("compare")
    base, new = tmp / "base", tmp / "new"
    _run(base, RESPONSES)
    _run(new, _new_responses(tmp))
    return base, new


def _compare(*args: str) -> Any:
    return runner.invoke(app, ["compare", *args], env={"GITHUB_ACTIONS": ""})


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _row(markdown: str, first_cell: str) -> list[str]:
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == first_cell:
            return cells[1:]
    raise AssertionError(f"no row {first_cell!r} in:\n{markdown}")


def _section(markdown: str, title: str) -> str:
    start = markdown.index(f"### {title}")
    end = markdown.find("\n### ", start + 1)
    return markdown[start : end if end >= 0 else None]


def test_wilson_matches_published_and_hand_computed_values() -> None:
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion:
    # comparison of seven methods", Statistics in Medicine 17:857-872, worked examples,
    # score method without continuity correction.
    published = {(81, 263): (0.2553, 0.3662), (15, 148): (0.0624, 0.1605)}
    published |= {(0, 20): (0.0, 0.1611), (1, 29): (0.0061, 0.1718)}
    for (k, n), (lo, hi) in published.items():
        assert wilson(k, n) == pytest.approx((lo, hi), abs=5e-5)
    # By hand: the roots of (k/n - p)^2 = z^2 p (1 - p) / n with z = 1.959964.
    assert wilson(41, 43) == pytest.approx((0.8454, 0.9872), abs=5e-5)
    assert wilson(39, 43) == pytest.approx((0.7840, 0.9632), abs=5e-5)
    assert wilson(20, 20) == pytest.approx((0.8389, 1.0), abs=5e-5)
    assert wilson(18, 20) == pytest.approx((0.6990, 0.9721), abs=5e-5)
    assert wilson(0, 0) == (0.0, 1.0)


def test_regressions_fixes_and_rates_of_two_real_runs(runs: tuple[Path, Path]) -> None:
    base, new = runs
    result = _compare(str(base), str(new))
    assert result.exit_code == 0, result.stderr  # without --fail-on-regression
    md = result.stdout
    regressions = re.findall(
        r"^\| `([^`]+)` \| [^|]+ \| [^|]+ \| ", _section(md, "Regressions"), re.M
    )
    assert regressions == REGRESSIONS  # by task, then id
    assert re.findall(r"^\| `([^`]+)` ", _section(md, "Fixes"), re.M) == FIXES
    assert "3 regressions · 1 fix · 0 new jobs · 0 removed jobs" in md
    france = _row(_section(md, "Regressions"), "`capital-france-grok-4.3`")
    assert france == [
        "capital",
        "grok-4.3",
        "icontains: expected to contain 'Paris' (any case), got 'Lyon'",
    ]
    australia = _row(_section(md, "Fixes"), "`capital-australia-grok-4.20-non-reasoning`")
    assert australia[2].startswith("icontains: expected to contain 'Canberra'")
    assert "**Pass rate:** 41/43 95.3% [84.5–98.7] → 39/43 90.7% [78.4–96.3] (−4.7 pp)" in md
    tasks = _section(md, "Pass rate by task")
    assert _row(tasks, "`capital`") == [
        "19/20 95.0% [76.4–99.1]",
        "19/20 95.0% [76.4–99.1]",
        "±0.0 pp",
    ]
    assert _row(tasks, "`facts`") == [
        "20/20 100.0% [83.9–100.0]",
        "18/20 90.0% [69.9–97.2]",
        "−10.0 pp",
    ]
    models = _section(md, "Pass rate by model")
    assert _row(models, "`grok-4.3`")[:2] == [
        "21/21 100.0% [84.5–100.0]",
        "19/21 90.5% [71.1–97.3]",
    ]
    assert _row(models, "`grok-4.20-non-reasoning`")[2] == "±0.0 pp"
    cells = _section(md, "Pass rate by matrix cell")
    assert _row(cells, "`facts: model=grok-4.3`")[:2] == [
        "10/10 100.0% [72.2–100.0]",
        "9/10 90.0% [59.6–98.2]",
    ]
    assert "significant drop" not in md.replace("a significant drop is", "")


def test_cost_and_latency_deltas(runs: tuple[Path, Path]) -> None:
    base, new = runs
    md = _compare(str(base), str(new)).stdout
    usage = [json.loads((d / "usage.json").read_text())["totals"] for d in runs]
    costs = [f"${u['cost_usd_ticks'] / 1e10:.4f}" for u in usage]
    cost = _row(md, "cost")
    assert cost[:2] == costs
    diff = (usage[1]["cost_usd_ticks"] - usage[0]["cost_usd_ticks"]) / 1e10
    digits = 4 if abs(diff) >= 0.001 else 6
    sign = "+" if diff > 0 else "−"
    expected = "±$0" if diff == 0 else f"{sign}${abs(diff):.{digits}f}"
    assert cost[2].split(" ")[0] == expected
    for q, cells in ((50, _row(md, "latency p50")), (90, _row(md, "latency p90"))):
        for directory, cell in zip(runs, cells[:2], strict=True):
            values = [r["latency_s"] for r in _lines(directory / "results.jsonl")]
            expected = (
                statistics.median(values)
                if q == 50
                else statistics.quantiles(values, n=10, method="inclusive")[8]
            )
            assert cell == f"{expected:.3f} s"
    by_model = _section(md, "Cost and latency")
    for side, directory in enumerate(runs):
        for entry in json.loads((directory / "usage.json").read_text())["by_model"]:
            cell = _row(by_model, f"`{entry['model']}`")[side]
            assert cell == f"${entry['cost_usd_ticks'] / 1e10:.4f}"


def test_fail_on_regression_and_out_file(runs: tuple[Path, Path], tmp_path: Path) -> None:
    base, new = runs
    target = tmp_path / "comment.md"
    failed = _compare(str(base), str(new), "--fail-on-regression", "--out", str(target))
    assert failed.exit_code == 1
    assert "regressed: 3 jobs, 0 significant drops" in failed.stderr
    assert target.read_text() == failed.stdout
    same = _compare(str(base), str(base), "--fail-on-regression")
    assert same.exit_code == 0, same.stderr
    assert "**no regression** · 0 regressions · 0 fixes" in same.stdout
    fixes_only = _compare(str(new), str(base), "--fail-on-regression")
    assert fixes_only.exit_code == 1  # seen from NEW, the fix is a regression


def test_bad_input_exits_2_with_one_line(runs: tuple[Path, Path], tmp_path: Path) -> None:
    base, _ = runs
    (tmp_path / "empty").mkdir()
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "results.jsonl").write_text('{"id": "a"}\nnot json\n{"id": "b"}\n')
    cases = {
        str(tmp_path / "missing"): "NEW {}: no such directory",
        str(tmp_path / "empty"): "NEW {} is not an xai-run output directory",
        str(damaged): "NEW {}: {}/results.jsonl:2: damaged JSON line",
    }
    for directory, message in cases.items():
        result = _compare(str(base), directory)
        assert result.exit_code == 2
        assert result.stderr.startswith("error: " + message.format(directory, directory))
        assert result.stderr.count("\n") == 1 and result.stdout == ""


def _job(job_id: str, passed: bool, **kw: Any) -> Job:
    fields: dict[str, Any] = {"task": "t", "model": "m", "cell": "", "scored": True} | kw
    return Job(job_id, outcome="pass" if passed else "fail", **fields)


def test_a_significant_drop_fails_without_any_regression() -> None:
    base = Run("base", jobs={f"a{i}": _job(f"a{i}", True) for i in range(10)})
    new = Run("new", jobs={f"b{i}": _job(f"b{i}", i < 2) for i in range(10)})
    result = compare(base, new)
    assert result.regressions == [] and result.failed
    assert {(g.kind, g.name) for g in result.significant_drops} == {
        ("overall", ""),
        ("task", "t"),
        ("model", "m"),
    }
    assert len(result.added) == len(result.removed) == 10
    md = render_markdown(result)
    assert "**regressed** · 0 regressions" in md and "3 significant drops" in md
    assert "**New jobs** (10): `b0`, `b1`" in md
    # 10/10 [0.7225, 1] against 4/10 [0.1682, 0.6873]: apart; 6/10 [0.3127, 0.8318]: not.
    close = Run("new", jobs={f"a{i}": _job(f"a{i}", i < 6) for i in range(10)})
    assert not compare(base, close).significant_drops


def test_api_failures_are_regressions_and_unscored_jobs_are_not_rated() -> None:
    base = Run(
        "base",
        jobs={
            "x": _job("x", True),
            "plain": _job("plain", True, scored=False),
        },
    )
    new = Run(
        "new",
        jobs={
            "x": Job("x", "t", "m", "", "error", True, "UNAVAILABLE: gone"),
            "plain": Job("plain", "t", "m", "", "error", False, "INTERNAL: boom"),
        },
    )
    result = compare(base, new)
    assert [(c.id, c.outcome) for c in result.regressions] == [("plain", "error"), ("x", "error")]
    overall = next(g for g in result.groups if g.kind == "overall")
    assert (overall.base.passed, overall.base.total, overall.new.passed, overall.new.total) == (
        1,
        1,
        0,
        1,
    )
    assert "| `x` | t | m | API error: UNAVAILABLE: gone |" in render_markdown(result)


def test_build_run_reads_lines_last_wins_and_leaves_cache_hits_out_of_latency() -> None:
    def line(job_id: str, passed: bool | None, latency: float, **extra: Any) -> dict[str, Any]:
        scores = None if passed is None else {"passed": passed, "assertions": []}
        meta = {"matrix": {"model": "m"}}
        return {
            "id": job_id,
            "task": "t",
            "model": "m",
            "latency_s": latency,
            "scores": scores,
            "meta": meta,
        } | extra

    results = [
        line("a", False, 1.0),
        line("a", True, 2.0),  # a forced re-run: the last line wins
        line("b", None, 3.0),
        line("c", True, 0.0, cached=True),
    ]
    errors = [
        {"id": "a", "final": True, "code": "INTERNAL", "message": "x"},  # then it finished
        {"id": "d", "final": True, "code": "UNAVAILABLE", "message": "gone"},
        {"id": "e", "final": True, "code": "NOT_FOUND", "message": "no"},
        {"id": "f", "final": False, "code": "UNAVAILABLE", "message": "retried"},
        {"id": "g", "final": True, "code": "INTERNAL", "message": "boom", "task": "v"}
        | {"index": 4, "matrix": {"model": "n"}, "expects": 2},
    ]
    plan = [{"id": "d", "task": "u", "expect": [], "meta": {"matrix": {"model": "m"}}}]
    usage = {"totals": {"cost_usd_ticks": 7, "grader": {"cost_usd_ticks": 2}, "cache_hits": 1}}
    run = build_run("dir", results, errors, plan, usage, {"run_id": "r1", "spec": {"name": "p"}})
    outcomes = {j.id: (j.task, j.cell, j.outcome, j.scored) for j in run.jobs.values()}
    assert outcomes == {
        "a": ("t", "model=m", "pass", True),
        "b": ("t", "model=m", "pass", False),
        "c": ("t", "model=m", "pass", True),
        "d": ("u", "model=m", "error", False),
        "e": ("?", "", "error", True),
        "g": ("v", "model=n", "error", True),
    }
    assert run.jobs["e"].reason == "NOT_FOUND: no"
    assert run.latencies == [2.0, 3.0] and run.latencies_by_model == {"m": [2.0, 3.0]}
    assert (run.cost_ticks, run.grader_ticks, run.cache_hits) == (7, 2, 1)
    assert (run.name, run.run_id) == ("p", "r1")


def test_without_usage_json_the_cost_is_rebuilt_from_the_lines(
    runs: tuple[Path, Path], tmp_path: Path
) -> None:
    """A directory whose usage.json is gone compares as if it were there (same cost table)."""
    import shutil

    base, new = runs
    bare = tmp_path / "bare"
    shutil.copytree(new, bare)
    (bare / "usage.json").unlink()
    with_usage = _compare(str(base), str(new)).stdout
    rebuilt = _compare(str(base), str(bare)).stdout
    assert rebuilt.replace(str(bare), str(new)) == with_usage
    assert _row(rebuilt, "cost")[1] != "$0.0000"
