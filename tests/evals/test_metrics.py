"""Job-level assertions: max_tokens, finish_reason, image_count, latency and cost."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from xai_pipelines.evals import EvalConfigError, EvalContext, Target, build_assertion


def _job(entry: dict[str, Any], line: dict[str, Any]) -> dict[str, Any]:
    return build_assertion(entry).evaluate(Target(line), EvalContext())


def test_max_tokens_counts_completion_tokens_per_output(
    chat_line: Callable[..., dict[str, Any]],
) -> None:
    one = chat_line("a")  # 8 completion tokens
    assert _job({"max_tokens": 8}, one)["pass"] is True
    failed = _job({"max_tokens": 7}, one)
    assert failed["pass"] is False and failed["reason"] == "8 completion tokens (> 7)"
    three = chat_line("a", "b", "c")  # 24 tokens over 3 outputs
    result = _job({"max_tokens": 8}, three)
    assert result["pass"] is True and "per output" in result["reason"]
    assert result["output"] is None  # a job-level check


def test_finish_reason(chat_line: Callable[..., dict[str, Any]]) -> None:
    line = chat_line("cut sho")
    assert build_assertion({"finish_reason": "stop"}).evaluate(
        Target(line, line["outputs"][0]), EvalContext()
    )["pass"]
    line["outputs"][0]["finish_reason"] = "length"
    failed = build_assertion({"finish_reason": "stop"}).evaluate(
        Target(line, line["outputs"][0]), EvalContext()
    )
    assert (
        failed["pass"] is False
        and failed["reason"] == "expected finish_reason 'stop', got 'length'"
    )
    with pytest.raises(EvalConfigError):
        build_assertion({"finish_reason": "done"})


def test_image_count() -> None:
    line = {"id": "img", "kind": "image", "images": [{"index": 0}, {"index": 1}]}
    assert _job({"image_count": 2}, line)["pass"] is True
    failed = _job({"image_count": 4}, line)
    assert failed["pass"] is False and failed["reason"] == "expected 4 images, got 2"


def test_latency_below(chat_line: Callable[..., dict[str, Any]]) -> None:
    line = chat_line("x", latency_s=0.25)
    assert _job({"latency_ms_below": 300}, line)["reason"] == "250 ms (< 300 ms)"
    failed = _job({"latency_ms_below": 250}, line)
    assert failed["pass"] is False and failed["reason"] == "250 ms (>= 250 ms)"
    assert not _job({"latency_ms_below": 300}, chat_line("x", latency_s=None))["pass"]


def test_cost_below(chat_line: Callable[..., dict[str, Any]]) -> None:
    line = chat_line("x", cost_usd_ticks=5_000_000)  # $0.0005
    assert _job({"cost_below": 0.001}, line)["pass"] is True
    failed = _job({"cost_below": 0.0005}, line)
    assert failed["pass"] is False and "$0.000500 (>= $0.0005)" in failed["reason"]
    unknown = _job({"cost_below": 1}, chat_line("x", cost_usd_ticks=None))
    assert unknown["pass"] is False and unknown["reason"].startswith("cost unknown")


@pytest.mark.parametrize(
    "entry",
    [{"max_tokens": 1.5}, {"image_count": -1}, {"latency_ms_below": "fast"}, {"cost_below": None}],
)
def test_bad_numbers_are_config_errors(entry: dict[str, Any]) -> None:
    with pytest.raises(EvalConfigError):
        build_assertion(entry)
