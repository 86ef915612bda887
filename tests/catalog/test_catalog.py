"""The bundled model catalog: loader, sources, retired names, exact tick prices."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest
import yaml

import xai_pipelines.catalog as catalog_module
from xai_pipelines.catalog import (
    REASONING_EFFORTS,
    ImageModelInfo,
    LanguageModelInfo,
    ModelCatalog,
    load_catalog,
    parse_catalog,
    usd_per_million_to_ticks,
    usd_to_ticks,
)

READ_ON = "2026-11-29"


def raw() -> dict[str, Any]:
    """models.yaml as parsed YAML (a fresh copy)."""
    text = resources.files("xai_pipelines.catalog").joinpath("models.yaml").read_text("utf-8")
    return copy.deepcopy(yaml.safe_load(text))


def test_loader_reads_the_bundled_file_once():
    catalog = load_catalog()
    assert isinstance(catalog, ModelCatalog) and load_catalog() is catalog
    assert catalog.as_of == READ_ON
    names = {m.name for m in catalog.language_models}
    assert {
        "grok-4.3",
        "grok-4.5",
        "grok-4.6",
        "grok-4.7",
        "grok-4.20-0309-reasoning",
        "grok-4.20-0309-non-reasoning",
        "grok-4.20-multi-agent-0309",
        "grok-build-0.1",
    } == names
    assert {m.name for m in catalog.image_models} == {
        "grok-imagine-image",
        "grok-imagine-image-quality",
        "grok-imagine-image-2.0",
    }


def test_lookup_by_name_alias_and_retired_name():
    catalog = load_catalog()
    grok = catalog.language("grok-4.3")
    assert isinstance(grok, LanguageModelInfo)
    assert catalog.language("grok-4.3-latest") is grok
    assert catalog.language("grok-4.20-non-reasoning") is catalog.language(
        "grok-4.20-0309-non-reasoning"
    )
    assert catalog.language("grok-4") is grok and catalog.language("grok-3-mini") is grok
    retired = catalog.retirement("grok-4-0709")
    assert retired is not None and (retired.redirect, retired.retired, retired.effort) == (
        "grok-4.3",
        "2026-05-15",
        "low",
    )
    assert catalog.retirement("grok-3").effort == "none"  # type: ignore[union-attr]
    assert catalog.retirement("grok-4.3") is None
    image = catalog.image("grok-imagine-image-pro")
    assert isinstance(image, ImageModelInfo) and image.name == "grok-imagine-image-quality"
    assert catalog.image("grok-2-image").name == "grok-imagine-image"  # type: ignore[union-attr]
    assert catalog.language("grok-imagine-image") is None and catalog.image("grok-4.3") is None
    assert catalog.language("grok-99") is None
    assert "grok-4-0709" in catalog.retired_names("grok-4.3")


def test_suggest_and_names_cover_current_names_only():
    catalog = load_catalog()
    assert catalog.suggest("grok-4.33") == "grok-4.3"
    assert catalog.suggest("grok-imagine-imag", kind="image") == "grok-imagine-image"
    assert catalog.suggest("completely-different") is None
    assert "grok-4-0709" not in catalog.names()
    assert "grok-latest" in catalog.names("language")
    assert "grok-imagine-image" not in catalog.names("language")


def test_every_row_names_a_known_dated_source():
    catalog = load_catalog()
    keys = {s.key for s in catalog.sources}
    rows = [*catalog.language_models, *catalog.image_models, *catalog.retired]
    assert all(row.source in keys for row in rows)
    assert catalog.tool_prices_source in keys and catalog.region_multipliers_source in keys
    for source in catalog.sources:
        assert source.url.startswith(("https://", "file://")), source.key
        assert source.read == READ_ON, source.key
        assert catalog.source(source.key) is source
    used = {row.source for row in rows} | {
        catalog.tool_prices_source,
        catalog.region_multipliers_source,
    }
    docs = {s.key for s in catalog.sources if s.url.startswith("https://docs.x.ai/")}
    assert {"models", "reasoning", "migration", "images"} <= docs
    assert used <= keys


def test_every_retired_name_redirects_to_a_current_model_of_its_kind():
    catalog = load_catalog()
    current_language = {m.name for m in catalog.language_models}
    current_image = {m.name for m in catalog.image_models}
    current = set(catalog.names())
    assert catalog.retired
    for r in catalog.retired:
        assert r.name not in current
        assert r.redirect in current_language | current_image
        if r.redirect in current_language:
            target = catalog.language(r.redirect)
            assert target is not None
            # The effort the redirect applies is one the serving model takes.
            assert r.effort in target.reasoning_efforts
        else:
            assert r.effort is None
        assert r.retired is None or dt.date.fromisoformat(r.retired)
    for name in ("grok-4", "grok-4-latest", "grok-4-0709", "grok-3", "grok-3-mini", "grok-2-image"):
        assert catalog.retirement(name) is not None, name


def test_prices_convert_to_ticks_exactly():
    data = raw()
    catalog = load_catalog()
    per_token = 10_000  # ticks per token for $1 per 1M tokens
    for row, model in zip(data["language_models"], catalog.language_models, strict=True):
        prices = row["prices_usd_per_million_tokens"]
        for key, got in (
            ("input", model.prompt_text_token_price),
            ("cached_input", model.cached_prompt_token_price),
            ("output", model.completion_text_token_price),
        ):
            exact = Decimal(str(prices[key])) * per_token
            assert exact == exact.to_integral_value() and got == int(exact), (model.name, key)
        long = row["long_context"]
        for key, got in (
            ("input", model.long_context_prompt_text_token_price),
            ("cached_input", model.long_context_cached_prompt_token_price),
            ("output", model.long_context_completion_text_token_price),
        ):
            assert got == int(Decimal(str(long[key])) * per_token), (model.name, key)
    for row, image in zip(data["image_models"], catalog.image_models, strict=True):
        assert image.image_price == int(Decimal(str(row["price_usd_per_image"])) * 10**10)
    for tool, usd in data["tool_prices_usd_per_1000_calls"].items():
        assert catalog.tool_prices[tool] * 1000 == int(Decimal(str(usd)) * 10**10)
    assert usd_per_million_to_ticks(1.25) == 12_500 and usd_per_million_to_ticks("0.2") == 2_000
    assert usd_to_ticks(0.02) == 200_000_000
    with pytest.raises(ValueError, match="not a whole number of ticks"):
        usd_per_million_to_ticks(0.00001)
    with pytest.raises(ValueError, match="not a whole number of ticks"):
        usd_to_ticks("0.00000000001")


def test_documented_facts_are_in_the_catalog():
    catalog = load_catalog()
    grok = catalog.language("grok-4.3")
    assert grok is not None
    assert (grok.prompt_text_token_price, grok.cached_prompt_token_price) == (12_500, 2_000)
    assert grok.completion_text_token_price == 25_000 and grok.context_length == 1_000_000
    assert grok.reasoning_efforts == ("none", "low", "medium", "high")
    assert grok.default_reasoning_effort == "low"
    assert grok.long_context_threshold == 200_000 and grok.long_context_multiplier == 2.0
    for model in catalog.language_models:
        assert set(model.reasoning_efforts) <= set(REASONING_EFFORTS)
        if model.reasoning:
            assert {"stop", "presence_penalty", "frequency_penalty"} <= set(
                model.rejected_params
            ), model.name
    assert catalog.language("grok-4.7").reasoning_efforts[-1] == "xhigh"  # type: ignore[union-attr]
    assert catalog.tool_prices["web_search"] == 50_000_000  # $5 per 1,000 calls
    assert catalog.tool_prices["collections_search"] == 25_000_000
    assert catalog.region_multipliers == {"us": 1.1}
    for image in catalog.image_models:
        assert image.max_images == 10 and image.edit and image.max_input_images == 3


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["language_models"][0].update(source="nowhere"), "source 'nowhere'"),
        (lambda d: d["retired"][0].update(redirect="grok-0"), "which is not a current model"),
        (lambda d: d["retired"][0].update(name="grok-4.7"), "both retired and current"),
        (lambda d: d["retired"][0].update(effort="max"), "unknown reasoning effort 'max'"),
        (
            lambda d: d["language_models"][0].update(reasoning_efforts=["turbo"]),
            "unknown reasoning effort 'turbo'",
        ),
        (
            lambda d: d["image_models"][0].update(price_usd_per_image=0.000000000001),
            "not a whole number of ticks",
        ),
        (lambda d: d.update(tool_prices_source="gone"), "tool_prices: source 'gone'"),
    ],
)
def test_parse_refuses_a_broken_catalog(edit, message):
    data = raw()
    edit(data)
    with pytest.raises(ValueError, match=message):
        parse_catalog(data)


def test_public_names_are_exported():
    public = {n for n in vars(catalog_module) if not n.startswith("_") and n[0].isupper()}
    public |= {"load_catalog", "parse_catalog", "usd_per_million_to_ticks", "usd_to_ticks"}
    assert public - {"Any", "Decimal"} == set(catalog_module.__all__)
