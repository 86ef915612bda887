"""usage.json and summary.md from result and error lines."""

from __future__ import annotations

from typing import Any

from xai_pipelines.records import to_plain
from xai_pipelines.report import (
    ModelPrice,
    build_usage,
    percentile,
    price_table_from_dict,
    render_summary,
    resolve_cost,
)
from xai_pipelines.run.reporting import with_catalog_prices


def usage_doc(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """The usage.json document of these lines, as a reader of the file sees it."""
    return to_plain(build_usage(*args, **kwargs))


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
    usage = usage_doc(results, errors, prices)
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
    usage = usage_doc(results, errors)
    (g,) = usage["by_model"]
    assert g["jobs"] == 1 and g["failed"] == 0 and g["latency_s"]["p50"] == 1.0
    assert g["retried_errors_by_code"] == {"DEADLINE_EXCEEDED": 1}


def test_unknown_cost_is_reported_not_guessed() -> None:
    usage = usage_doc([_chat("a", cost_usd_ticks=None, usage={"prompt_tokens": 3})])
    assert usage["totals"]["jobs_without_cost"] == 1 and usage["totals"]["cost_usd"] == 0


def test_summary_fits_a_ci_step_summary() -> None:
    usage = usage_doc(
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
    assert render_summary(usage_doc([])).startswith("## xai-run: pipeline run")


def test_cache_savings_per_model_and_in_totals_and_summary() -> None:
    price = ModelPrice(prompt_text_token_price=12_500, cached_prompt_token_price=2_000)
    hit = {"prompt_tokens": 1000, "cached_prompt_tokens": 800, "completion_tokens": 10}
    lines = [
        {"id": "a", "kind": "chat", "model": "m", "usage": hit, "cost_usd_ticks": 1},
        {"id": "b", "kind": "chat", "model": "m", "usage": {"prompt_tokens": 5}},
        {"id": "c", "kind": "chat", "model": "unpriced", "usage": hit, "cost_usd_ticks": 1},
    ]
    usage = usage_doc(lines, prices={"m": price})
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


def _final(job_id: str, message: str, code: str = "UNAVAILABLE", **extra: Any) -> dict[str, Any]:
    line = {"id": job_id, "model": "grok-4", "kind": "chat", "code": code, "final": True}
    return line | {"message": message} | extra


def test_error_groups_keep_the_cause_fold_ids_and_numbers_and_list_examples() -> None:
    dns = (
        "errors resolving api.x.ai:443: [field:hostname lookup error:address lookup failed "
        "for api.x.ai:443: Domain name not found]"
    )
    errors = [
        *(_final(f"d{i}", dns) for i in range(7)),
        _final(
            "t1",
            "deadline after 30.2s (request 8046a9f8-f2f8-4b75-a8b6-8444126b9f9a)",
            "DEADLINE_EXCEEDED",
        ),
        _final(
            "t2",
            "deadline after 31.0s (request 1d7ff7cb-6625-4b8f-a8b6-8444126b9f9b)",
            "DEADLINE_EXCEEDED",
        ),
        _final("m", "model grok-4.3 not found", "NOT_FOUND"),
        _final("n", "model grok-4.20 not found", "NOT_FOUND"),
        _final("ok", "transient", "INTERNAL"),  # ... then it succeeded: not a failed job
        {"id": "d0", "model": "grok-4", "kind": "chat", "code": "INTERNAL", "final": False},
    ]
    usage = usage_doc([_chat("ok")], errors)
    groups = usage["totals"]["error_groups"]
    assert groups[0] == {
        "code": "UNAVAILABLE",
        "message": dns,  # all alike: shown verbatim, the cause visible
        "count": 7,
        "example_ids": ["d0", "d1", "d2", "d3", "d4"],
    }
    assert groups[1] == {
        "code": "DEADLINE_EXCEEDED",
        "message": "deadline after <n> (request <id>)",  # what varied is folded
        "count": 2,
        "example_ids": ["t1", "t2"],
    }
    # model names are not numbers: two causes, two groups
    assert [(g["code"], g["message"]) for g in groups[2:]] == [
        ("NOT_FOUND", "model grok-4.20 not found"),
        ("NOT_FOUND", "model grok-4.3 not found"),
    ]
    assert usage["totals"]["failed"] == 11 and usage["totals"]["errors_by_code"] == {
        "DEADLINE_EXCEEDED": 2,
        "NOT_FOUND": 2,
        "UNAVAILABLE": 7,
    }
    md = render_summary(usage)
    assert "### Why jobs failed" in md and "11 jobs failed at the API" in md
    assert f"| `UNAVAILABLE`: {dns} | 7 | `d0`, `d1`, `d2`, `d3`, `d4` (+2 more) |" in md


def test_summary_lists_at_most_ten_error_groups_and_counts_the_rest() -> None:
    errors = [_final(f"j{i}", f"cause number {chr(97 + i)}") for i in range(13)]
    md = render_summary(usage_doc([], errors))
    assert md.count("| `UNAVAILABLE`: cause number") == 10
    assert "| … 3 more errors (usage.json) | 3 | |" in md


def test_cache_hits_cost_nothing_and_are_counted_apart() -> None:
    hit = _chat("h", cached=True, cost_usd_ticks=0, cost_source="cache", latency_s=0.001)
    usage = usage_doc([_chat("a"), hit])
    totals = usage["totals"]
    assert totals["jobs"] == 2 and totals["cache_hits"] == 1
    assert totals["requests"] == 1 and totals["cost_usd_ticks"] == 1000
    assert totals["tokens"]["prompt"] == 10  # the hit's copied usage is no new spend
    (g,) = usage["by_model"]
    assert g["cache_hits"] == 1 and g["latency_s"]["p50"] == 0.5
    assert "**Response cache:** 1 jobs served from the cache" in render_summary(usage)


def test_the_graders_share_is_in_the_totals_and_labelled() -> None:
    grader = {
        "calls": 2,
        "usage": {"prompt_tokens": 30, "completion_tokens": 6, "cost_usd_ticks": 4_000_000},
    }
    hits = {
        "calls": 1,
        "usage": {
            "prompt_tokens": 30,
            "completion_tokens": 6,
            "cost_usd_ticks": 0,
            "cache_hits": 1,
        },
    }
    lines = [_chat("a", scores={"grader": grader}), _chat("b", scores={"grader": hits})]
    totals = usage_doc(lines)["totals"]
    assert totals["grader"] | {"tokens_by_kind": None} == {
        "requests": 2,  # the verdict served from the response cache is no request
        "tokens": 36,
        "tokens_by_kind": None,
        "cost_usd_ticks": 4_000_000,
        "cost_usd": 0.0004,
        "calls_without_cost": 0,
        "cache_hits": 1,
    }
    assert totals["requests"] == 2 + 2 and totals["cost_usd_ticks"] == 2 * 1000 + 4_000_000
    assert totals["tokens"]["total"] == 2 * 17 + 36
    by_model = usage_doc(lines)["by_model"][0]
    assert by_model["cost_usd_ticks"] == 2000  # the jobs' own calls
    assert "**Grader** (llm_rubric, included in the totals above): 2 requests, 36 tokens" in (
        render_summary(usage_doc(lines))
    )


def test_a_long_prompt_is_priced_at_the_long_context_rate() -> None:
    price = ModelPrice(
        prompt_text_token_price=10,
        cached_prompt_token_price=2,
        completion_text_token_price=30,
        long_context_threshold=1000,
        long_context_prompt_text_token_price=20,
        long_context_cached_prompt_token_price=4,
        long_context_completion_text_token_price=60,
    )
    short = {"prompt_tokens": 999, "cached_prompt_tokens": 100, "completion_tokens": 5}
    long = {**short, "prompt_tokens": 1000}
    assert resolve_cost("chat", "m", short, {"m": price}) == (
        899 * 10 + 100 * 2 + 5 * 30,
        "price_table",
    )
    assert resolve_cost("chat", "m", long, {"m": price}) == (
        900 * 20 + 100 * 4 + 5 * 60,
        "price_table",
    )
    again = price_table_from_dict({"m": price.to_dict(), "old": {"prompt_text_token_price": 3}})
    assert again["m"] == price and again["old"].long_context_threshold is None


def test_run_prices_fall_back_to_the_catalog_and_gain_its_long_context_rate() -> None:
    catalog = with_catalog_prices({})
    assert catalog["grok-4.3"].prompt_text_token_price == 12_500
    assert catalog["grok-4.3"].long_context_prompt_text_token_price == 25_000
    assert catalog["grok-imagine-image"].image_price == 200_000_000
    live = with_catalog_prices({"grok-4.3": ModelPrice(10_000, 1_000, 20_000)})
    assert live["grok-4.3"] == ModelPrice(10_000, 1_000, 20_000, 0, 200_000, 20_000, 2_000, 40_000)
    assert set(live) == {"grok-4.3"}  # the service's list stays the authority
