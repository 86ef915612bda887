"""``llm_rubric``: a grader model on the emulator, scripted and unscripted, over real gRPC."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from xai_pipelines.emulator import Emulator, EmulatorConfig
from xai_pipelines.evals import Grader, grader_prompt, score_line
from xai_pipelines.sdk import Client, RetryPolicy

RULES = [
    # The verdict depends on the answer, and the question must reach the grader too.
    {
        "regex": r"(?s)^Grade the answer.*<question>\nQ\?\n</question>.*<answer>\s*Lima\s*</answer>",
        "json": {"pass": True, "score": 0.9, "reason": "Names Lima."},
    },
    {
        "regex": r"(?s)<answer>\s*Cusco\s*</answer>",
        "json": {"pass": True, "score": 0.6, "reason": "Close enough."},
    },
    {"regex": r"(?s)<answer>\s*shrug\s*</answer>", "content": "Looks fine to me!"},
    {
        "regex": r"(?s)^Grade the answer",
        "json": {"pass": False, "score": 0.1, "reason": "Wrong city."},
    },
]


@pytest.fixture
def scripted(tmp_path: Path, emulator_factory: Callable[..., Emulator]) -> Emulator:
    path = tmp_path / "grader.yaml"
    path.write_text(yaml.safe_dump(RULES))
    return emulator_factory(EmulatorConfig(responses_file=path))


@pytest.fixture
def connect() -> Iterator[Callable[[Emulator], Client]]:
    made: list[Client] = []

    def make(emu: Emulator) -> Client:
        policy = RetryPolicy(max_attempts=2, initial_backoff=0.001, max_backoff=0.01, jitter=0.0)
        client = Client(api_key=emu.api_key, api_host=emu.address, retry_policy=policy)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def _rubric(line: dict[str, Any], grader: Any) -> dict[str, Any]:
    scores = score_line(line, grader)
    assert scores is not None
    return scores


def test_scripted_verdicts_pass_and_fail(
    scripted: Emulator,
    connect: Callable[[Emulator], Client],
    chat_line: Callable[..., dict[str, Any]],
) -> None:
    grader = Grader(connect(scripted))
    expect = [{"llm_rubric": "Names the capital of Peru."}]
    good = _rubric(chat_line("Lima", expect=expect), grader)
    record = good["assertions"][0]
    assert record["pass"] is True and record["score"] == 0.9
    assert record["reason"] == "Names Lima. (grader grok-3-mini, score 0.9)"
    assert good["grader"]["calls"] == 1
    usage = good["grader"]["usage"]
    assert usage["prompt_tokens"] > 0 and usage["cost_usd_ticks"] > 0

    bad = _rubric(chat_line("Arequipa", expect=expect), grader)
    assert bad["assertions"][0]["pass"] is False and bad["assertions"][0]["score"] == 0.1
    assert bad["assertions"][0]["reason"].startswith("Wrong city.")


def test_each_output_is_graded(
    scripted: Emulator,
    connect: Callable[[Emulator], Client],
    chat_line: Callable[..., dict[str, Any]],
) -> None:
    line = chat_line("Lima", "Arequipa", expect=[{"llm_rubric": "Names the capital."}])
    scores = _rubric(line, Grader(connect(scripted)))
    assert [(a["output"], a["pass"]) for a in scores["assertions"]] == [(0, True), (1, False)]
    assert scores["grader"]["calls"] == 2 and scores["score"] == 0.5


def test_threshold_and_grader_model(
    scripted: Emulator,
    connect: Callable[[Emulator], Client],
    chat_line: Callable[..., dict[str, Any]],
) -> None:
    grader = Grader(connect(scripted))
    rubric = {"rubric": "Names the capital.", "model": "grok-4", "threshold": 0.8}
    record = _rubric(chat_line("Cusco", expect=[{"llm_rubric": rubric}]), grader)["assertions"][0]
    assert record["pass"] is False and record["score"] == 0.6
    assert "(grader grok-4, score 0.6) below threshold 0.8" in record["reason"]


def test_an_answer_that_is_no_verdict_fails_with_usage_kept(
    scripted: Emulator,
    connect: Callable[[Emulator], Client],
    chat_line: Callable[..., dict[str, Any]],
) -> None:
    scores = _rubric(chat_line("shrug", expect=[{"llm_rubric": "x"}]), Grader(connect(scripted)))
    record = scores["assertions"][0]
    assert record["pass"] is False and record["reason"].startswith("grader answer is not a verdict")
    assert scores["grader"]["calls"] == 1  # the call was made (and paid for)


def test_unscripted_grader_returns_a_schema_valid_verdict(
    emulator: Emulator,
    connect: Callable[[Emulator], Client],
    chat_line: Callable[..., dict[str, Any]],
) -> None:
    grader = Grader(connect(emulator))
    line = chat_line("Lima", expect=[{"llm_rubric": "Names the capital of Peru."}])
    first = _rubric(line, grader)["assertions"][0]
    assert isinstance(first["pass"], bool) and 0 <= first["score"] <= 1
    assert "(grader grok-3-mini, score " in first["reason"]
    assert _rubric(line, grader)["assertions"][0] == first  # temperature 0: deterministic


def test_a_failed_grader_call_fails_the_assertion_only(
    emulator: Emulator,
    connect: Callable[[Emulator], Client],
    chat_line: Callable[..., dict[str, Any]],
) -> None:
    expect = [{"llm_rubric": {"rubric": "x", "model": "grok-nonexistent"}}, {"contains": "Lima"}]
    scores = _rubric(chat_line("Lima", expect=expect), Grader(connect(emulator)))
    rubric, contains = scores["assertions"]
    assert rubric["pass"] is False and rubric["reason"].startswith("grader call failed (NOT_FOUND)")
    assert contains["pass"] is True
    assert "grader" not in scores  # nothing came back, nothing to count


def test_without_a_grader_the_check_fails_with_a_reason(
    chat_line: Callable[..., dict[str, Any]],
) -> None:
    record = _rubric(chat_line("Lima", expect=[{"llm_rubric": "x"}]), None)["assertions"][0]
    assert record["pass"] is False and record["reason"].startswith("no grader")


def test_the_grader_takes_rate_limit_tokens_and_reconciles(
    scripted: Emulator, connect: Callable[[Emulator], Client]
) -> None:
    taken: list[int] = []
    settled: list[tuple[int, int]] = []
    grader = Grader(
        connect(scripted), acquire=taken.append, reconcile=lambda e, u: settled.append((e, u))
    )
    verdict = grader.grade("Names the capital.", "Lima", model="grok-3-mini", question="Q?")
    assert verdict.passed and verdict.error is None
    assert len(taken) == 1 and taken[0] > 0
    assert settled == [
        (
            taken[0],
            verdict.usage["prompt_tokens"]
            + verdict.usage["completion_tokens"]
            + verdict.usage["reasoning_tokens"],
        )
    ]


def test_grader_prompt_layout() -> None:
    text = grader_prompt("R", "A", "Q")
    assert (
        text
        == "Grade the answer against the rubric.\n\n<rubric>\nR\n</rubric>\n\n<question>\nQ\n</question>\n\n<answer>\nA\n</answer>"
    )
    assert "<question>" not in grader_prompt("R", "A", None)
