"""End to end: ``xai-run pipelines/eval.yaml --local --responses ...`` and its eval outputs.

The README's main command, run as a real process once per module; the tests
read what it wrote: scores in results.jsonl, pass rates in usage.json and
summary.md, the sections of report.html, and ``xai-run report`` re-rendering
them from the JSON lines alone.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from xai_pipelines.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
RESPONSES = ROOT / "pipelines" / "responses" / "eval.yaml"
XAI_RUN = [sys.executable, "-c", "from xai_pipelines.cli.app import main; main()"]
runner = CliRunner()


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("eval") / "run"
    command = ["pipelines/eval.yaml", "--local", "--responses", str(RESPONSES)]
    proc = subprocess.run(
        [*XAI_RUN, *command, "--out", str(directory)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "evals: 41/43 jobs passed every assertion (95.3%)" in proc.stdout
    return directory


def _results(out: Path) -> dict[str, dict[str, Any]]:
    return {
        line["id"]: line
        for line in map(json.loads, (out / "results.jsonl").read_text().splitlines())
    }


def _records(line: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a.get("name") or a["type"]: a for a in line["scores"]["assertions"]}


def test_every_job_is_scored_with_templated_expectations(out: Path) -> None:
    results = _results(out)
    assert len(results) == 43 and all(line["scores"] for line in results.values())
    france = _records(results["capital-france-grok-4.3"])
    assert france["icontains"] == {
        "type": "icontains",
        "output": 0,
        "pass": True,
        "score": 1.0,
        "reason": "contain 'Paris' (any case)",
    }
    assert results["capital-france-grok-4.3"]["expect"][0] == {"icontains": "Paris"}
    facts = _records(results["facts-peru-grok-4.20-non-reasoning"])
    assert facts["json_path"]["pass"] and facts["json_path"]["reason"] == "capital = '\"Lima\"'"
    assert facts["json_schema"]["pass"] and facts["is_json"]["pass"]
    assert _records(results["flag-france"])["image_count"]["reason"] == "2 images"


def test_failures_have_visible_reasons(out: Path) -> None:
    results = _results(out)
    sydney = results["capital-australia-grok-4.20-non-reasoning"]["scores"]
    assert sydney["passed"] is False and sydney["failed"] == 1 and sydney["score"] == 0.5
    assert _records(results["capital-australia-grok-4.20-non-reasoning"])["icontains"][
        "reason"
    ] == ("expected to contain 'Canberra' (any case), got 'Sydney.'")
    assert results["capital-australia-grok-4.3"]["scores"]["passed"] is True


def test_multi_turn_is_checked_on_the_final_reply_and_graded(out: Path) -> None:
    results = _results(out)
    good, bad = results["interview-grok-4.3"], results["interview-grok-4.20-non-reasoning"]
    assert good["turns"][-1]["outputs"][0]["content"] == "The capital of Peru is Lima."
    assert good["content"] == "Lima" and good["scores"]["passed"] is True
    rubric = _records(good)["llm_rubric"]
    assert rubric["score"] == 1.0 and rubric["reason"].startswith("Names Lima, the capital of Peru")
    assert _records(bad)["one word"]["pass"] is False
    assert _records(bad)["llm_rubric"] == {
        "type": "llm_rubric",
        "output": 0,
        "pass": False,
        "score": 0.5,
        "reason": "Names Lima, but in a sentence rather than one word. (grader grok-4.20-non-reasoning, score 0.5)",
    }
    # the grader's call is counted apart from the job's own three calls
    assert bad["calls"] == 3 and bad["scores"]["grader"]["calls"] == 1


def test_usage_json_pass_rates(out: Path) -> None:
    usage = json.loads((out / "usage.json").read_text())
    evals = usage["evals"]
    assert (evals["jobs"], evals["passed"], evals["pass_rate"]) == (43, 41, 0.9535)
    assert evals["assertions"] == {"total": 105, "passed": 102, "pass_rate": 0.9714}
    by_model = {g["model"]: g for g in evals["by_model"]}
    assert by_model["grok-4.3"]["pass_rate"] == 1.0
    assert by_model["grok-4.20-non-reasoning"]["failing"] == [
        "capital-australia-grok-4.20-non-reasoning",
        "interview-grok-4.20-non-reasoning",
    ]
    by_task = {g["task"]: g for g in evals["by_task"]}
    assert by_task["capital"]["passed"] == 19 and by_task["facts"]["pass_rate"] == 1.0
    cells = {(g["task"], g["cell"]): g["pass_rate"] for g in evals["by_cell"]}
    assert cells[("interview", "model=grok-4.20-non-reasoning")] == 0.0
    assert cells[("interview", "model=grok-4.3")] == 1.0
    assert [f["id"] for f in evals["failures"]] == [
        "capital-australia-grok-4.20-non-reasoning",
        "interview-grok-4.20-non-reasoning",
        "interview-grok-4.20-non-reasoning",
    ]
    assert evals["grader"]["calls"] == 2 and evals["grader"]["cost_usd_ticks"] > 0
    # 43 jobs + 2x2 further turns, and the grader's 2 (labelled apart, included in the totals)
    assert usage["totals"]["requests"] == 49 and usage["totals"]["grader"]["requests"] == 2


def test_summary_md_shows_pass_rates_and_failures(out: Path) -> None:
    text = (out / "summary.md").read_text()
    assert "### Evals" in text
    assert "**41/43 jobs passed every assertion (95.3%)**" in text
    assert "| `grok-4.20-non-reasoning` | 21 | 19 | 90.5% |" in text
    assert (
        "- `capital-australia-grok-4.20-non-reasoning` · icontains: expected to contain 'Canberra'"
        in text
    )
    assert "**Grader** (llm_rubric, included in the totals above): 2 requests" in text


class _Sections(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.tags: set[str] = set()
        self.scripts: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        found = dict(attrs)
        if tag == "section" and found.get("id"):
            self.ids.append(str(found["id"]))
        if tag == "img":
            self.images.append(found)
        if tag == "script":
            self.scripts.append(found.get("type"))


def test_report_html_sections_and_gallery(out: Path) -> None:
    text = (out / "report.html").read_text()
    parser = _Sections()
    parser.feed(text)
    parser.close()
    assert parser.ids == ["totals", "models", "latency", "evals", "failures", "cases", "gallery"]
    assert parser.scripts == ["application/json", "application/json", None] and "svg" in parser.tags
    srcs = [img["src"] for img in parser.images]
    assert srcs == ["images/flag-france/0.png", "images/flag-france/1.png"]
    assert all(img["loading"] == "lazy" for img in parser.images)
    assert all((out / str(src)).is_file() for src in srcs)
    assert "expected to contain &#39;Canberra&#39; (any case), got &#39;Sydney.&#39;" in text


def test_report_rerenders_from_the_lines_alone(out: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("results.jsonl", "errors.jsonl", "manifest.json"):
        shutil.copy(out / name, copy / name)
    shutil.copytree(out / "images", copy / "images")
    result = runner.invoke(app, ["report", str(copy)])
    assert result.exit_code == 0, result.output
    fresh = json.loads((copy / "usage.json").read_text())["evals"]
    assert fresh == json.loads((out / "usage.json").read_text())["evals"]
    assert "### Evals" in (copy / "summary.md").read_text()
    assert 'id="evals"' in (copy / "report.html").read_text()


def test_fail_under_on_report(out: Path, tmp_path: Path) -> None:
    shutil.copytree(out, tmp_path / "run")
    low = runner.invoke(app, ["report", str(tmp_path / "run"), "--fail-under", "0.95"])
    assert low.exit_code == 0, low.output
    high = runner.invoke(app, ["report", str(tmp_path / "run"), "--fail-under", "0.96"])
    assert high.exit_code == 1
    assert "eval pass rate 95.3% is below --fail-under 96%" in high.output
