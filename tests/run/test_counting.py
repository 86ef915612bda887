"""One truth: a run with injected faults and a grader shows the same figures everywhere.

The eval example runs through the CLI against an emulator that fails 30% of
chat and image calls (seeded, one job at a time, so the faults are the same
every run): some jobs are retried, some fail for good, and the llm_rubric
grader is called. The terminal summary, ``manifest.json``, ``usage.json``,
``summary.md`` and ``report.html`` must then agree with each other and with a
count made here from the raw lines; the pass rate must count the jobs that
failed at the API; and the errors must be grouped with their cause.
"""

from __future__ import annotations

import json
import socket
from collections import Counter
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from xai_pipelines.cli.app import app
from xai_pipelines.emulator import Emulator, EmulatorConfig, FaultConfig
from xai_pipelines.run.session import PipelineRun, RunOptions
from xai_pipelines.spec import load_pipeline
from xai_pipelines.store import read_jsonl

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT / "pipelines" / "eval.yaml"
RESPONSES = ROOT / "pipelines" / "responses" / "eval.yaml"


@dataclass
class FaultyRun:
    out: Path
    exit_code: int
    terminal: str
    injected: dict[str, int]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> FaultyRun:
    out = tmp_path_factory.mktemp("counting") / "out"
    faults = FaultConfig(seed=5, unavailable_rate=0.3)
    with Emulator(EmulatorConfig(faults=faults, responses_file=RESPONSES)) as emu:
        args = ["run", str(EVAL), "--endpoint", emu.address, "--out", str(out)]
        args += ["--concurrency", "1"]  # one call at a time: the same faults every run
        args += ["--set", "execution.retries.initial_backoff=1ms"]
        args += ["--set", "execution.retries.max_backoff=2ms"]
        env = {"XAI_API_KEY": emu.api_key, "COLUMNS": "250", "GITHUB_ACTIONS": "false"}
        result = CliRunner().invoke(app, args, env=env)
        injected = dict(emu.stats.errors_injected)
    return FaultyRun(out, result.exit_code, result.stdout, injected)


def _json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _terminal_rows(text: str) -> dict[str, str]:
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if line.startswith("│") and len(cells) == 2:
            rows[cells[0]] = cells[1]
    return rows


class _Cards(HTMLParser):
    """``label -> value`` of report.html's totals cards."""

    def __init__(self) -> None:
        super().__init__()
        self.cards: dict[str, str] = {}
        self._texts: list[str] | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "div" and ("class", "card") in attrs:
            self._texts, self._depth = [], 0
        elif tag == "div" and self._texts is not None:
            self._depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag != "div" or self._texts is None:
            return
        if self._depth:
            self._depth -= 1
            return
        value, label = [*self._texts, "", ""][:2]
        self.cards[label] = value
        self._texts = None

    def handle_data(self, data: str) -> None:
        if self._texts is not None and data.strip():
            self._texts.append(data.strip())


def _usd(ticks: int) -> str:
    return f"${ticks / 10**10:.4f}"


def test_the_run_failed_some_jobs_retried_others_and_called_the_grader(run: FaultyRun) -> None:
    errors = list(read_jsonl(run.out / "errors.jsonl"))
    assert run.exit_code == 1  # jobs failed at the API
    assert any(e["final"] for e in errors) and any(not e["final"] for e in errors)
    assert len(errors) == sum(run.injected.values())  # every injected fault is an error line
    assert _json(run.out / "usage.json")["totals"]["grader"]["requests"] > 0


def test_figures_equal_the_raw_lines_on_every_surface(run: FaultyRun) -> None:
    results = {line["id"]: line for line in read_jsonl(run.out / "results.jsonl")}
    errors = list(read_jsonl(run.out / "errors.jsonl"))
    graders = [line["scores"]["grader"] for line in results.values() if "grader" in line["scores"]]
    grader_ticks = sum(g["usage"]["cost_usd_ticks"] for g in graders)
    grader_tokens = sum(
        g["usage"][k]
        for g in graders
        for k in ("prompt_tokens", "completion_tokens", "reasoning_tokens")
    )
    tokens = grader_tokens + sum(
        line["usage"].get(k, 0)
        for line in results.values()
        for k in ("prompt_tokens", "completion_tokens", "reasoning_tokens")
    )
    # counted here from the raw lines
    want = {
        "succeeded": len(results),
        "failed": len({e["id"] for e in errors if e["final"]} - set(results)),
        "retries": sum(1 for e in errors if not e["final"]),
        "requests": sum(line["calls"] for line in results.values())
        + sum(g["calls"] for g in graders)
        + len(errors),
        "tokens": tokens,
        "cost_usd_ticks": sum(line["cost_usd_ticks"] for line in results.values()) + grader_ticks,
        "grader_ticks": grader_ticks,
        "grader_tokens": grader_tokens,
    }
    totals = _json(run.out / "usage.json")["totals"]
    assert {
        "succeeded": totals["jobs"],
        "failed": totals["failed"],
        "retries": totals["retries"],
        "requests": totals["requests"],
        "tokens": totals["tokens"]["total"],
        "cost_usd_ticks": totals["cost_usd_ticks"],
        "grader_ticks": totals["grader"]["cost_usd_ticks"],
        "grader_tokens": totals["grader"]["tokens"],
    } == want

    counts = _json(run.out / "manifest.json")["counts"]
    assert {
        "succeeded": counts["succeeded"],
        "failed": counts["failed"],
        "retries": counts["retries"],
        "requests": counts["requests"],
        "tokens": counts["tokens"],
        "cost_usd_ticks": counts["cost_usd_ticks"],
        "grader_ticks": counts["grader"]["cost_usd_ticks"],
        "grader_tokens": counts["grader"]["tokens"],
    } == want

    rows = _terminal_rows(run.terminal)
    assert rows["succeeded"] == f"{want['succeeded']:,}" and rows["failed"] == f"{want['failed']:,}"
    assert rows["retries"] == f"{want['retries']:,}"
    assert rows["requests"] == f"{want['requests']:,}"
    assert rows["tokens"] == f"{want['tokens']:,} (grader {want['grader_tokens']:,})"
    assert rows["cost"] == f"{_usd(want['cost_usd_ticks'])} (grader {_usd(grader_ticks)})"

    summary = (run.out / "summary.md").read_text()
    header = next(i for i, line in enumerate(summary.splitlines()) if line.startswith("| jobs ok"))
    cells = summary.splitlines()[header + 2].strip("|").split("|")
    table = dict(zip(summary.splitlines()[header].strip("|").split("|"), cells, strict=True))
    table = {k.strip(): v.strip() for k, v in table.items()}
    assert table["jobs ok"] == f"{want['succeeded']:,}" and table["failed"] == f"{want['failed']:,}"
    assert table["retries"] == f"{want['retries']:,}"
    assert table["requests"] == f"{want['requests']:,}"
    assert table["cost"] == _usd(want["cost_usd_ticks"])
    assert (
        f"**Grader** (llm_rubric, included in the totals above): {len(graders)} requests, "
        f"{grader_tokens:,} tokens, {_usd(grader_ticks)}." in summary
    )

    parser = _Cards()
    parser.feed((run.out / "report.html").read_text())
    cards = parser.cards
    assert cards["failed"] == f"{want['failed']:,}" and cards["retries"] == f"{want['retries']:,}"
    assert cards["requests"] == f"{want['requests']:,}"
    assert cards["tokens"] == f"{want['tokens']:,}"
    assert cards["cost"] == _usd(want["cost_usd_ticks"])
    assert any(v == _usd(grader_ticks) for k, v in cards.items() if "grader" in k)


def test_the_pass_rate_counts_jobs_that_failed_at_the_api(run: FaultyRun) -> None:
    results = list(read_jsonl(run.out / "results.jsonl"))
    failed = {e["id"] for e in read_jsonl(run.out / "errors.jsonl") if e["final"]}
    failed -= {line["id"] for line in results}
    passed = sum(1 for line in results if line["scores"]["passed"])
    evals = _json(run.out / "usage.json")["evals"]
    assert failed and evals["errored"] == len(failed)
    assert evals["jobs"] == len(results) + len(failed) == 43  # every job of the plan has expect
    assert evals["passed"] == passed and evals["failed"] == 43 - passed
    assert evals["pass_rate"] == round(passed / 43, 4)
    rate = f"{passed}/43 jobs passed every assertion ({passed / 43 * 100:.1f}%)"
    api = f"{len(failed)} failed at the API (counted as failed)"
    assert f"evals: {rate} · {api}" in run.terminal
    assert f"**{rate}** · {api}" in (run.out / "summary.md").read_text()
    assert _json(run.out / "manifest.json")["counts"]["pass_rate"] == evals["pass_rate"]
    by_task = {g["task"]: g for g in evals["by_task"]}
    for job_id in failed:  # a failed job is a failing job of its task
        task = next(t for t in by_task if job_id.startswith(t))
        assert job_id in by_task[task]["failing"]


def test_errors_are_grouped_with_their_cause_counts_and_example_ids(run: FaultyRun) -> None:
    finals = [e for e in read_jsonl(run.out / "errors.jsonl") if e["final"]]
    failed_ids = sorted({e["id"] for e in finals})
    (group,) = _json(run.out / "usage.json")["totals"]["error_groups"]
    assert group["code"] == "UNAVAILABLE" and group["message"] == "injected fault: unavailable"
    assert group["count"] == len(failed_ids) and sorted(group["example_ids"]) == failed_ids[:5]
    n = len(failed_ids)
    assert f"Why {n} job{'s' if n > 1 else ''} failed at the API" in run.terminal
    assert f"{n}  UNAVAILABLE: injected fault: unavailable (e.g. {failed_ids[0]}" in run.terminal
    summary = (run.out / "summary.md").read_text()
    assert "### Why jobs failed" in summary
    assert f"| `UNAVAILABLE`: injected fault: unavailable | {n} | `{failed_ids[0]}`" in summary
    assert "injected fault: unavailable" in (run.out / "report.html").read_text()


def test_the_terminal_lists_the_failing_assertions_with_their_reasons(run: FaultyRun) -> None:
    assert "Failed assertions (" in run.terminal
    assert (
        "capital-australia-grok-4.20-non-reasoning · icontains: expected to contain 'Canberra' "
        "(any case), got 'Sydney.'" in run.terminal
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_api_fails_every_job_with_its_cause_and_prices_come_from_the_catalog(
    tmp_path: Path,
) -> None:
    data = {
        "version": 1,
        "name": "unreachable",
        "defaults": {"model": "grok-4.3", "max_tokens": 8},
        "execution": {
            "retries": {"max_attempts": 2, "initial_backoff": "1ms", "max_backoff": "2ms"}
        },
        "chats": [
            {
                "name": "q",
                "id": "q-{{ repeat }}",
                "repeat": 7,
                "messages": [{"user": "Hi {{ repeat }}"}],
                "expect": [{"contains": "x"}],
            }
        ],
        "output": {"dir": str(tmp_path / "out")},
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    options = RunOptions(
        api_key="xai-test", endpoint=f"127.0.0.1:{_closed_port()}", progress="quiet"
    )
    outcome = PipelineRun(load_pipeline(path), options).run()
    assert outcome.status == "failed"
    finals = [e for e in read_jsonl(tmp_path / "out" / "errors.jsonl") if e["final"]]
    messages = Counter(e["message"] for e in finals)
    (message, n), *_ = messages.most_common()
    totals = outcome.usage["totals"]
    (group,) = totals["error_groups"]
    assert group["count"] == n == 7 and group["code"] == "UNAVAILABLE"
    assert group["message"] == " ".join(message.split()) and group["message"]  # the real cause
    assert len(group["example_ids"]) == 5
    evals = outcome.usage["evals"]
    assert (evals["jobs"], evals["errored"], evals["pass_rate"]) == (7, 7, 0.0)
    prices = _json(tmp_path / "out" / "manifest.json")["prices"]["grok-4.3"]
    assert prices["prompt_text_token_price"] == 12_500  # the catalog's, the service being down
    assert prices["long_context_threshold"] == 200_000
    assert outcome.stats["failed"] == 7 and outcome.stats["errors_by_code"] == {"UNAVAILABLE": 7}
