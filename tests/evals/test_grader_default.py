"""The grader model: a rubric's own ``model``, else the pipeline's ``evals.grader``, else the job's."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from xai_pipelines.cli.app import app
from xai_pipelines.emulator import Emulator
from xai_pipelines.evals import Grader, grader_model, score_line
from xai_pipelines.sdk import Client, RetryPolicy


def test_the_order_is_rubric_then_pipeline_then_job() -> None:
    assert grader_model("a", "b", "c") == "a"
    assert grader_model(None, "b", "c") == "b"
    assert grader_model(None, None, "c") == "c"
    assert grader_model(None, None, None) is None


@pytest.fixture
def client(emulator: Emulator) -> Iterator[Client]:
    policy = RetryPolicy(max_attempts=2, initial_backoff=0.001, max_backoff=0.01, jitter=0.0)
    made = Client(api_key=emulator.api_key, api_host=emulator.address, retry_policy=policy)
    yield made
    made.close()


def _reason(line: dict[str, Any], grader: Grader) -> str:
    scores = score_line(line, grader)
    assert scores is not None
    return str(scores["assertions"][0]["reason"])


def test_the_grader_default_applies_to_rubrics_without_a_model(
    client: Client, chat_line: Callable[..., dict[str, Any]]
) -> None:
    line = chat_line("Lima", expect=[{"llm_rubric": "Names Lima."}])
    assert "(grader grok-4.3, score " in _reason(line, Grader(client, default_model="grok-4.3"))
    assert "(grader grok-3-mini, score " in _reason(line, Grader(client))  # the job's own model
    own = chat_line(
        "Lima",
        expect=[{"llm_rubric": {"rubric": "Names Lima.", "model": "grok-4.20-non-reasoning"}}],
    )
    reason = _reason(own, Grader(client, default_model="grok-4.3"))
    assert "(grader grok-4.20-non-reasoning, score " in reason


def test_a_run_grades_with_the_pipeline_grader(tmp_path: Path) -> None:
    data = {
        "version": 1,
        "name": "graded",
        "defaults": {"model": "grok-4.20-non-reasoning", "max_tokens": 16, "temperature": 0},
        "evals": {"grader": "grok-4.3"},
        "chats": [
            {
                "name": "q",
                "id": "q",
                "messages": [{"user": "Name a city."}],
                "expect": [
                    {"llm_rubric": "Names a city."},
                    {"llm_rubric": {"rubric": "Is short.", "model": "grok-4.20-non-reasoning"}},
                ],
            }
        ],
    }
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(path), "--local", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    (line,) = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    first, second = line["scores"]["assertions"]
    assert "(grader grok-4.3, score " in first["reason"]
    assert "(grader grok-4.20-non-reasoning, score " in second["reason"]
    assert line["scores"]["grader"]["calls"] == 2
