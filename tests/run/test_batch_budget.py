"""``budget_usd`` in batch mode: held by the plan's cost ceiling before anything is submitted."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from xai_pipelines.catalog import ModelPrice
from xai_pipelines.emulator import Emulator
from xai_pipelines.plan import iter_jobs
from xai_pipelines.plan.estimate import Estimate, Prices, usd
from xai_pipelines.run.batch_budget import budget_refusal
from xai_pipelines.run.batch_mode import BatchSettings
from xai_pipelines.run.session import PipelineRun, RunInputError, RunOptions
from xai_pipelines.spec import PipelineSpec

MakeSpec = Callable[..., PipelineSpec]
FAST = BatchSettings(page_size=4, poll_initial_s=0.01, poll_max_s=0.05)
NON_REASONING = "grok-4.20-non-reasoning"
PRICES = Prices(
    {NON_REASONING: ModelPrice(prompt_text_token_price=20_000, completion_text_token_price=50_000)}
)


def _data(budget: float | None, **chat: Any) -> dict[str, Any]:
    execution: dict[str, Any] = {"mode": "batch"}
    if budget is not None:
        execution["budget_usd"] = budget
    return {
        "version": 1,
        "name": "budget",
        "defaults": {"model": NON_REASONING, "max_tokens": 100, "temperature": 0},
        "execution": execution,
        "chats": [
            {
                "name": "q",
                "id": "q-{{ repeat }}",
                "repeat": 4,
                "messages": [{"user": "A fact about {{ repeat }}."}],
                **chat,
            }
        ],
        "output": {"dir": "out"},
    }


def _ceiling_usd(spec: PipelineSpec, prices: Prices) -> float:
    estimate = Estimate()
    for job in iter_jobs(spec):
        estimate.add(job)
    high = estimate.cost_range(prices).high
    assert high is not None
    return usd(high)


def test_the_ceiling_decides(make_spec: MakeSpec) -> None:
    spec = make_spec(data=_data(None))
    ceiling = _ceiling_usd(spec, PRICES)
    assert ceiling > 0
    assert budget_refusal(iter_jobs(spec), ceiling * 1.01, PRICES) is None
    refusal = budget_refusal(iter_jobs(spec), ceiling / 2, PRICES)
    assert refusal is not None
    assert f"is below the cost ceiling of the batch's 4 jobs, ${ceiling:.4f}" in refusal
    assert refusal.endswith("nothing was submitted")


def test_an_unbounded_or_unpriced_plan_is_refused(make_spec: MakeSpec) -> None:
    agentic = make_spec(data=_data(None, tools=[{"type": "web_search"}]))
    refusal = budget_refusal(iter_jobs(agentic), 100.0, PRICES)
    assert refusal is not None and "has no ceiling" in refusal and "agentic loop" in refusal
    unpriced = make_spec(data=_data(None, model="grok-4.3"))
    refusal = budget_refusal(iter_jobs(unpriced), 100.0, PRICES)
    assert refusal is not None and "no price for grok-4.3" in refusal


def test_the_grader_counts_toward_the_ceiling(make_spec: MakeSpec) -> None:
    spec = make_spec(data=_data(None, expect=[{"llm_rubric": "States a fact."}]))
    estimate = Estimate()
    for job in iter_jobs(spec):
        estimate.add(job)
    ceiling = estimate.cost_range(PRICES)
    assert ceiling.high is not None and ceiling.grader_high
    jobs_only = ceiling.high - ceiling.grader_high
    assert budget_refusal(iter_jobs(spec), usd(jobs_only) * 1.001, PRICES) is not None
    assert budget_refusal(iter_jobs(spec), usd(ceiling.high) * 1.001, PRICES) is None


def _run(spec: PipelineSpec, out: Path, emu: Emulator) -> Any:
    opts = RunOptions(
        out_dir=out, api_key=emu.api_key, endpoint=emu.address, progress="quiet", batch=FAST
    )
    return PipelineRun(spec, opts).run()


def test_a_run_over_budget_submits_nothing(
    make_spec: MakeSpec, emulator_factory: Callable[..., Emulator], tmp_path: Path
) -> None:
    emu = emulator_factory()
    spec = make_spec(data=_data(0.000001))
    with pytest.raises(RunInputError, match=r"budget_usd \$1e-06 is below the cost ceiling"):
        _run(spec, tmp_path / "out", emu)
    batch_calls = {m: n for m, n in emu.stats.calls.items() if "Batch" in m or "File" in m}
    assert batch_calls == {}  # checked before the input file is written or uploaded
    assert not list((tmp_path / "out").glob(".batch-*"))
    assert emu.stats.total_calls > 0  # the Models service was asked for prices


def test_a_run_within_budget_completes(
    make_spec: MakeSpec, emulator_factory: Callable[..., Emulator], tmp_path: Path
) -> None:
    emu = emulator_factory()
    outcome = _run(make_spec(data=_data(100.0)), tmp_path / "out", emu)
    assert outcome.status == "completed" and outcome.stats["succeeded"] == 4


@pytest.mark.slow
def test_cli_exit_2_with_the_message(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    data = _data(0.000001)
    data["output"] = {"dir": str(tmp_path / "out")}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    proc = subprocess.run(
        [sys.executable, "-m", "xai_pipelines.cli.app", "run", str(path), "--local", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "error: budget_usd $1e-06 is below the cost ceiling" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_pipeline_grader_is_priced_too(make_spec: MakeSpec) -> None:
    spec = make_spec(data=_data(None, expect=[{"llm_rubric": "States a fact."}]))
    refusal = budget_refusal(iter_jobs(spec), 100.0, PRICES, grader="grok-4.3")
    assert refusal is not None and "no price for grok-4.3" in refusal
    assert budget_refusal(iter_jobs(spec), 100.0, PRICES, grader=NON_REASONING) is None
