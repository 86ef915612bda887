"""Token heuristic and cost range: a ceiling that holds for reasoning models, tools and graders."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from xai_pipelines.catalog import ModelPrice, load_catalog
from xai_pipelines.emulator import Emulator
from xai_pipelines.evals.grader import GRADER_SYSTEM, VERDICT_MAX_TOKENS, VERDICT_SCHEMA
from xai_pipelines.evals.grader import grader_prompt as real_grader_prompt
from xai_pipelines.plan import ChatJob, Estimate, ImageJob, Prices, check_plan, iter_jobs
from xai_pipelines.plan.estimate import (
    GRADER_MAX_TOKENS,
    GRADER_OVERHEAD_TOKENS,
    TICKS_PER_USD,
    ModelLimits,
    catalog_limits,
    chat_calls,
    job_tokens,
    message_tokens,
    text_tokens,
    tokenizer_ratio,
    usd,
)
from xai_pipelines.run.session import PipelineRun, RunOptions
from xai_pipelines.sdk import Client
from xai_pipelines.spec import load_pipeline

PLAIN = ModelLimits(context_length=1000, reasoning=False)
THINKS = ModelLimits(context_length=1000, reasoning=True)


def _chat(content="x" * 40, max_tokens=10, n=1, turns=(), model="m", **request):
    request = {
        "model": model,
        "messages": [{"role": "user", "content": content}],
        "n": n,
        **request,
    }
    if max_tokens is not None:
        request["max_tokens"] = max_tokens
    return ChatJob(id="c", request=request, turns=tuple(turns))


def _estimate(limits=PLAIN, **kwargs) -> Estimate:
    return Estimate(limits=lambda name: limits if name != "unknown" else None, **kwargs)


def test_token_heuristic():
    assert [text_tokens(t) for t in ["", "a", "abcd", "abcde"]] == [0, 1, 1, 2]
    assert message_tokens({"role": "user", "content": "x" * 40}) == 14
    parts = [
        {"type": "text", "text": "x" * 8},
        {"type": "image_url", "image_url": "u"},
        {"type": "file", "file_id": "f"},
    ]
    assert message_tokens({"role": "user", "content": parts}) == 4 + 2 + 256


def test_multi_turn_bounds_for_the_rate_limiter():
    turn = {"role": "user", "content": "y" * 8}  # 6 tokens
    t = job_tokens(_chat(max_tokens=10, n=2, turns=[turn, turn]))
    assert t.calls == 3
    assert t.prompt_min == 14 + (14 + 6) + (14 + 12)
    assert t.prompt_max == t.prompt_min + 1 * 14 + 2 * 14  # earlier replies (max_tokens + 4) resent
    assert t.completion_max == 10 * 2 * 3
    assert job_tokens(_chat(max_tokens=None)).completion_max is None


def test_cost_range_with_prices():
    prices = Prices(
        chat={"m": ModelPrice(prompt_text_token_price=100, completion_text_token_price=300)},
        image={"img": 2_000_000},
    )
    est = _estimate()
    est.add(_chat(max_tokens=10))
    est.add(_chat(max_tokens=10))
    est.add(ImageJob(id="i", request={"prompt": "p", "model": "img", "n": 3}))
    est.add(_chat(model="other"))
    assert est.prompt_tokens == 14 * 3
    low, high = est.cost_ticks(prices)
    assert low == 2 * 14 * 100 + 3 * 2_000_000
    assert high == low + 2 * 10 * 300  # a non-reasoning model: max_tokens bounds its output
    assert est.unpriced(prices) == ["other"]
    assert usd(TICKS_PER_USD) == 1.0


def test_a_reasoning_model_may_think_up_to_its_context_whatever_max_tokens_says():
    """xai-proto chat.proto: max_tokens bounds only the main content of a reasoning model."""
    prices = Prices(
        chat={"m": ModelPrice(prompt_text_token_price=100, completion_text_token_price=300)}
    )
    est = _estimate(THINKS)
    est.add(_chat(max_tokens=10, n=2))
    (call,) = chat_calls(_chat(max_tokens=10, n=2), lambda _: THINKS)
    assert (call.output_max, call.content_max) == (1000 - 14, 10)
    assert est.cost_ticks(prices) == (14 * 100, 14 * 100 + 2 * (1000 - 14) * 300)
    assert est.reasoning_models() == ["m"]


def test_without_max_tokens_the_context_bounds_the_output_and_unknown_models_have_no_maximum():
    prices = Prices(chat={"m": ModelPrice(1, 0, 1), "unknown": ModelPrice(1, 0, 1)})
    est = _estimate()
    est.add(_chat(max_tokens=None))
    assert est.cost_ticks(prices) == (14, 14 + (1000 - 14))
    est.add(_chat(max_tokens=10, model="unknown"))  # reasoning and context length unknown
    report = est.cost_report(prices)
    assert (
        report["max_ticks"] is None
        and "not in the bundled catalog" in report["unbounded"]["unknown"]
    )


def test_tools_function_calls_are_bounded_by_the_context_server_side_tools_not_at_all():
    function = {"type": "function", "name": "f", "parameters": {}}
    (call,) = chat_calls(_chat(max_tokens=10, tools=[function]), lambda _: PLAIN)
    assert call.output_max == 1000 - 14
    est = _estimate()
    est.add(_chat(max_tokens=10, tools=[{"type": "web_search"}]))
    report = est.cost_report(Prices(chat={"m": ModelPrice(1, 0, 1)}))
    assert report["max_usd"] is None and "agentic loop" in report["unbounded"]["m"]


def test_later_turns_resend_replies_up_to_their_bound_and_the_context_caps_the_prompt():
    turn = {"role": "user", "content": "y" * 8}  # 6 tokens
    calls = chat_calls(_chat(max_tokens=10, turns=[turn]), lambda _: PLAIN)
    assert [(c.prompt_min, c.prompt_max) for c in calls] == [(14, 14), (20, 20 + 10 + 4)]
    capped = chat_calls(_chat(max_tokens=None, turns=[turn]), lambda _: PLAIN)
    assert capped[1].prompt_max == 1000  # the first reply may fill the context


def test_a_long_prompt_is_billed_at_the_long_context_rate():
    limits = ModelLimits(context_length=100_000, reasoning=False, long_context_threshold=1000)
    price = ModelPrice(
        prompt_text_token_price=10,
        completion_text_token_price=30,
        long_context_prompt_text_token_price=20,
        long_context_completion_text_token_price=60,
    )
    est = _estimate(limits)
    est.add(_chat(content="x" * 8000, max_tokens=5))  # 2004 prompt tokens
    assert est.cost_ticks(Prices(chat={"m": price})) == (2004 * 20, 2004 * 20 + 5 * 60)


def test_grader_calls_are_in_the_range_with_the_answer_in_their_prompt():
    rubric = {"llm_rubric": "r" * 40}  # 10 tokens
    own = {"llm_rubric": {"rubric": "r" * 40, "model": "judge"}}
    job = ChatJob(
        id="c",
        request={
            "model": "m",
            "messages": [{"role": "user", "content": "q" * 40}],
            "n": 2,
            "max_tokens": 10,
        },
        expect=(rubric, own, {"contains": "x"}),
    )
    est = _estimate(grader="pipeline-grader")
    est.add(job)
    assert set(est.graders) == {"pipeline-grader", "judge"}  # rubric's own, else the pipeline's
    g = est.graders["judge"]
    prompt = GRADER_OVERHEAD_TOKENS + 10 + 10  # overhead, rubric, question
    assert g.calls == 2 and g.prompt_tokens == 2 * prompt  # one verdict per output
    assert g.prompt_tokens_max == 2 * (prompt + 10)  # ... reading an answer of max_tokens
    assert g.completion_tokens_max == 2 * GRADER_MAX_TOKENS
    price = ModelPrice(prompt_text_token_price=1, completion_text_token_price=1)
    prices = Prices(chat={"m": price, "judge": price, "pipeline-grader": price})
    r = est.cost_range(prices)
    assert r.grader_low == 4 * prompt and r.grader_high == 4 * (prompt + 10 + GRADER_MAX_TOKENS)
    assert r.low == 14 + r.grader_low and r.high == 14 + 2 * 10 + r.grader_high
    without = _estimate()
    without.add(ChatJob(id="c", request=job.request, expect=(rubric,)))
    assert set(without.graders) == {"m"}  # no evals.grader: the job's own model grades


def test_grader_constants_cover_the_grader_request():
    assert GRADER_MAX_TOKENS == VERDICT_MAX_TOKENS
    fixed = GRADER_SYSTEM + real_grader_prompt("", "", "q") + json.dumps(VERDICT_SCHEMA)
    assert text_tokens(fixed) + 2 * message_tokens({"content": ""}) <= GRADER_OVERHEAD_TOKENS


def test_catalog_prices_with_long_context_rates_when_the_models_service_is_not_asked():
    catalog = load_catalog()
    prices = Prices.from_catalog(catalog)
    info = catalog.language("grok-4.3")
    assert info is not None and prices.source == "catalog"
    price = prices.chat["grok-4.3"]
    assert price.rates(long=False) == (12_500, 25_000)  # $1.25 / $2.50 per 1M
    assert price.rates(long=True) == (25_000, 50_000)  # from 200k tokens
    assert prices.image["grok-imagine-image"] == 200_000_000  # $0.02
    assert catalog_limits("grok-4.3") == ModelLimits(1_000_000, True, 200_000)
    live = SimpleNamespace(
        name="grok-4.3",
        aliases=("grok-latest",),
        prompt_text_token_price=5,
        completion_text_token_price=7,
        cached_prompt_token_price=1,
    )
    img = SimpleNamespace(name="grok-imagine-image", aliases=("img",), image_price=9)
    live_prices = Prices.from_models([live], [img])
    assert live_prices.chat["grok-latest"] == ModelPrice(5, 1, 7, 0, 200_000, 25_000, 4_000, 50_000)
    assert live_prices.image == {"grok-imagine-image": 9, "img": 9}
    assert live_prices.image_input["img"] == 20_000_000  # $0.002 per input image (catalog)


def test_tokenizer_ratio_calibrates_the_heuristic():
    calls = []

    def count(text: str, model: str) -> int:
        calls.append((text, model))
        return len(text.split())

    turn = {
        "role": "user",
        "content": [{"type": "text", "text": "b c"}, {"type": "image_url", "image_url": "u"}],
    }
    jobs = [
        _chat(content="one two three four", turns=[turn]),
        ImageJob(id="i", request={"prompt": "p", "model": "x"}),
    ]
    ratio = tokenizer_ratio(jobs, count)
    assert calls == [("one two three four\nb c", "m")]
    assert ratio == 6 / text_tokens("one two three four\nb c")
    assert tokenizer_ratio([], count) is None
    est = _estimate()
    est.add(_chat(max_tokens=10))
    prices = Prices(
        chat={"m": ModelPrice(prompt_text_token_price=100, completion_text_token_price=300)}
    )
    assert est.cost_ticks(prices, prompt_scale=2.0) == (28 * 100, 28 * 100 + 10 * 300)


def _ceiling_pipeline(tmp_path: Path) -> Path:
    data: dict[str, Any] = {
        "version": 1,
        "name": "ceiling",
        "defaults": {"model": "grok-4.3", "max_tokens": 4, "seed": 5},
        "evals": {"grader": "grok-4.3"},
        "chats": [
            {
                "name": "q",
                "id": "q-{{ repeat }}",
                "repeat": 4,
                "messages": [{"user": "Explain step {{ repeat }} of long division."}],
                "turns": [{"user": "And the next step?"}],
                "expect": [{"llm_rubric": "Explains a step of long division."}],
            }
        ],
        "output": {"dir": str(tmp_path / "out")},
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_a_real_run_of_a_reasoning_model_and_its_grader_stays_under_the_plans_maximum(
    tmp_path: Path, emulator: Emulator
) -> None:
    spec = load_pipeline(_ceiling_pipeline(tmp_path))
    with Client(api_key=emulator.api_key, api_host=emulator.address) as client:
        prices = Prices.from_models(
            client.models.list_language_models(), client.models.list_image_generation_models()
        )
    plan = check_plan(spec).estimate.cost_range(prices)
    opts = RunOptions(api_key=emulator.api_key, endpoint=emulator.address, progress="quiet")
    outcome = PipelineRun(spec, opts).run()
    assert outcome.status == "completed"
    totals = outcome.usage["totals"]
    assert totals["grader"]["requests"] == 4 and totals["grader"]["cost_usd_ticks"] > 0
    assert plan.high is not None and plan.grader_high is not None
    assert totals["cost_usd_ticks"] <= plan.high
    assert totals["grader"]["cost_usd_ticks"] <= plan.grader_high
    # The emulator reasons past max_tokens, as the hosted API may: a ceiling built
    # from max_tokens alone would not hold.
    lines = [json.loads(x) for x in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert any(
        line["usage"]["completion_tokens"] + line["usage"]["reasoning_tokens"] > 4 * line["calls"]
        for line in lines
    )
    price = prices.chat["grok-4.3"]
    max_tokens_only = sum(  # prompts at their longest, outputs at max_tokens
        c.prompt_max * price.prompt_text_token_price
        + c.outputs * 4 * price.completion_text_token_price
        for job in iter_jobs(spec)
        for c in chat_calls(job)
        if isinstance(job, ChatJob) and c.prompt_max is not None
    )
    assert totals["cost_usd_ticks"] - totals["grader"]["cost_usd_ticks"] > max_tokens_only
