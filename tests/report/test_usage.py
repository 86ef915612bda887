"""usage.json and summary.md from result and error lines."""

from __future__ import annotations

from typing import Any

from xai_pipelines.report import (
    ModelPrice,
    build_usage,
    percentile,
    price_table_from_dict,
    render_summary,
    resolve_cost,
)


def _chat(job_id: str, model: str = "grok-4", **over: Any) -> dict[str, Any]:
    line: dict[str, Any] = {
        "id": job_id,
        "kind": "chat",
        "model": model,
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "reasoning_tokens": 2,
            "cached_prompt_tokens": 4,
            "cost_usd_ticks": 1000,
        },
        "cost_usd_ticks": 1000,
        "latency_s": 0.5,
        "ttft_s": None,
        "attempts": 1,
        "calls": 1,
    }
    line.update(over)
    return line


def test_percentile_interpolates() -> None:
    assert percentile([], 50) is None
    assert percentile([1.0], 99) == 1.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([float(i) for i in range(101)], 90) == 90.0


def test_resolve_cost_prefers_response_then_price_table() -> None:
    price = ModelPrice(
        prompt_text_token_price=3,
        cached_prompt_token_price=1,
        completion_text_token_price=7,
        image_price=500,
    )
    usage = {
        "prompt_tokens": 10,
        "cached_prompt_tokens": 4,
        "completion_tokens": 5,
        "reasoning_tokens": 2,
    }
    assert resolve_cost("chat", "m", {**usage, "cost_usd_ticks": 9}, {"m": price}) == (
        9,
        "response",
    )
    # cached tokens are part of prompt_tokens: billed at the cached price instead
    assert resolve_cost("chat", "m", usage, {"m": price}) == (6 * 3 + 4 * 1 + 7 * 7, "price_table")
    assert resolve_cost("image", "m", {"images": 3}, {"m": price}) == (1500, "price_table")
    assert resolve_cost("chat", "other", usage, {"m": price}) == (None, None)


def test_build_usage_groups_by_model_and_kind() -> None:
    results = [
        _chat("a", latency_s=0.1, ttft_s=0.05),
        _chat("b", latency_s=0.3, attempts=3, ttft_s=0.07),
        _chat("c", model="grok-3-mini", latency_s=1.0),
        {
            "id": "img",
            "kind": "image",
            "model": "grok-2-image",
            "usage": {"images": 2},
            "cost_usd_ticks": None,
            "latency_s": 2.0,
            "attempts": 1,
            "calls": 1,
        },
    ]
    errors = [
        {"id": "b", "model": "grok-4", "kind": "chat", "code": "UNAVAILABLE", "final": False},
        {"id": "b", "model": "grok-4", "kind": "chat", "code": "UNAVAILABLE", "final": False},
        {"id": "z", "model": "grok-4", "kind": "chat", "code": "INVALID_ARGUMENT", "final": True},
    ]
    prices = price_table_from_dict({"grok-2-image": {"image_price": 700_000_000, "junk": 1}})
    usage = build_usage(results, errors, prices)
    by = {(g["model"], g["kind"]): g for g in usage["by_model"]}
    g4 = by[("grok-4", "chat")]
    # requests: 2 successful calls and 3 failed attempts (one error line each)
    assert g4["jobs"] == 2 and g4["requests"] == 5 and g4["retries"] == 2 and g4["failed"] == 1
    assert g4["tokens"] == {
        "prompt": 20,
        "completion": 10,
        "reasoning": 4,
        "cached_prompt": 8,
        "total": 34,
    }
    assert g4["latency_s"]["p50"] == 0.2 and g4["ttft_s"]["p50"] == 0.06
    assert g4["errors_by_code"] == {"INVALID_ARGUMENT": 1}
    assert g4["retried_errors_by_code"] == {"UNAVAILABLE": 2}
    assert by[("grok-2-image", "image")]["cost_usd"] == 0.14
    assert by[("grok-2-image", "image")]["images"] == 2
    totals = usage["totals"]
    assert totals["jobs"] == 4 and totals["failed"] == 1 and totals["images"] == 2
    assert totals["cost_usd_ticks"] == 3000 + 1_400_000_000
    assert totals["errors_by_code"] == {"INVALID_ARGUMENT": 1}


def test_job_that_failed_then_finished_counts_once_and_not_as_failed() -> None:
    results = [_chat("a", latency_s=9.0), _chat("a", latency_s=1.0)]
    errors = [
        {"id": "a", "model": "grok-4", "kind": "chat", "code": "DEADLINE_EXCEEDED", "final": True}
    ]
    usage = build_usage(results, errors)
    (g,) = usage["by_model"]
    assert g["jobs"] == 1 and g["failed"] == 0 and g["latency_s"]["p50"] == 1.0
    assert g["retried_errors_by_code"] == {"DEADLINE_EXCEEDED": 1}


def test_unknown_cost_is_reported_not_guessed() -> None:
    usage = build_usage([_chat("a", cost_usd_ticks=None, usage={"prompt_tokens": 3})])
    assert usage["totals"]["jobs_without_cost"] == 1 and usage["totals"]["cost_usd"] == 0


def test_summary_fits_a_ci_step_summary() -> None:
    usage = build_usage(
        [_chat("a"), _chat("b", model="grok-3-mini")],
        [{"id": "z", "model": "grok-4", "kind": "chat", "code": "INTERNAL", "final": True}],
    )
    md = render_summary(
        usage,
        {"spec": {"name": "capitals"}, "status": "completed", "elapsed_s": 3.2, "run_id": "r1"},
    )
    assert md.startswith("## xai-run: capitals")
    assert "**Status:** completed in 3.2 s" in md
    assert "| `grok-3-mini` | chat | 1 | 0 |" in md
    assert "| `INTERNAL` | 1 | `z` |" in md
    assert len(md.splitlines()) < 40
    assert render_summary(build_usage([])).startswith("## xai-run: pipeline run")


def test_cache_savings_per_model_and_in_totals_and_summary() -> None:
    price = ModelPrice(prompt_text_token_price=12_500, cached_prompt_token_price=2_000)
    hit = {"prompt_tokens": 1000, "cached_prompt_tokens": 800, "completion_tokens": 10}
    lines = [
        {"id": "a", "kind": "chat", "model": "m", "usage": hit, "cost_usd_ticks": 1},
        {"id": "b", "kind": "chat", "model": "m", "usage": {"prompt_tokens": 5}},
        {"id": "c", "kind": "chat", "model": "unpriced", "usage": hit, "cost_usd_ticks": 1},
    ]
    usage = build_usage(lines, prices={"m": price})
    by_model = {g["model"]: g for g in usage["by_model"]}
    assert by_model["m"]["cache_savings_usd_ticks"] == 800 * (12_500 - 2_000)
    assert by_model["unpriced"]["jobs_with_unknown_cache_savings"] == 1
    totals = usage["totals"]
    assert totals["tokens"]["cached_prompt"] == 1600
    assert totals["cache_savings_usd_ticks"] == 8_400_000
    assert totals["cache_savings_usd"] == 0.00084
    summary = render_summary(usage)
    assert "1,600 cached prompt tokens, $0.0008 saved by the prompt cache" in summary
    assert "(+1 jobs at unknown prices)" in summary
