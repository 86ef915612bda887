"""Token heuristic and cost range, with a price table and no network."""

from __future__ import annotations

from types import SimpleNamespace

from xai_pipelines.plan import ChatJob, ChatPrice, Estimate, ImageJob, Prices
from xai_pipelines.plan.estimate import (
    TICKS_PER_USD,
    job_tokens,
    message_tokens,
    text_tokens,
    tokenizer_ratio,
    usd,
)


def _chat(content="x" * 40, max_tokens=10, n=1, turns=(), model="m"):
    request = {"model": model, "messages": [{"role": "user", "content": content}], "n": n}
    if max_tokens is not None:
        request["max_tokens"] = max_tokens
    return ChatJob(id="c", request=request, turns=tuple(turns))


def test_token_heuristic():
    assert [text_tokens(t) for t in ["", "a", "abcd", "abcde"]] == [0, 1, 1, 2]
    assert message_tokens({"role": "user", "content": "x" * 40}) == 14
    parts = [
        {"type": "text", "text": "x" * 8},
        {"type": "image_url", "image_url": "u"},
        {"type": "file", "file_id": "f"},
    ]
    assert message_tokens({"role": "user", "content": parts}) == 4 + 2 + 256


def test_multi_turn_bounds():
    turn = {"role": "user", "content": "y" * 8}  # 6 tokens
    t = job_tokens(_chat(max_tokens=10, n=2, turns=[turn, turn]))
    assert t.calls == 3
    assert t.prompt_min == 14 + (14 + 6) + (14 + 12)
    assert t.prompt_max == t.prompt_min + 1 * 14 + 2 * 14  # earlier replies (max_tokens + 4) resent
    assert t.completion_max == 10 * 2 * 3
    assert job_tokens(_chat(max_tokens=None)).completion_max is None


def test_cost_range_with_prices():
    prices = Prices(chat={"m": ChatPrice(prompt=100, completion=300)}, image={"img": 2_000_000})
    est = Estimate()
    est.add(_chat(max_tokens=10))
    est.add(_chat(max_tokens=10))
    est.add(ImageJob(id="i", request={"prompt": "p", "model": "img", "n": 3}))
    est.add(_chat(model="unknown"))
    assert est.prompt_tokens == 14 * 3
    low, high = est.cost_ticks(prices)
    assert low == 2 * 14 * 100 + 3 * 2_000_000
    assert high == low + 2 * 10 * 300
    assert est.unpriced(prices) == ["unknown"]
    assert usd(TICKS_PER_USD) == 1.0


def test_unbounded_maximum_without_max_tokens():
    est = Estimate()
    est.add(_chat(max_tokens=None))
    assert est.cost_ticks(Prices(chat={"m": ChatPrice(1, 1)})) == (14, None)


def test_prices_from_sdk_model_infos_include_aliases():
    lang = SimpleNamespace(
        name="grok-4",
        aliases=("grok-latest",),
        prompt_text_token_price=5,
        completion_text_token_price=7,
        cached_prompt_token_price=1,
    )
    img = SimpleNamespace(name="grok-2-image", aliases=("img",), image_price=9)
    prices = Prices.from_models([lang], [img])
    assert prices.chat["grok-latest"] == ChatPrice(5, 7, 1) and prices.image == {
        "grok-2-image": 9,
        "img": 9,
    }


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
    est = Estimate()
    est.add(_chat(max_tokens=10))
    prices = Prices(chat={"m": ChatPrice(prompt=100, completion=300)})
    assert est.cost_ticks(prices, prompt_scale=2.0) == (28 * 100, 28 * 100 + 10 * 300)
