"""Text assertions: each type passes and fails, with a reason that says why."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from xai_pipelines.evals import EvalConfigError, EvalContext, Target, build_assertion

CASES = [
    # (entry, output that passes, output that fails, words in the failing reason)
    ({"equals": "Paris"}, "  Paris\n", "Paris, France", "equal 'Paris'"),
    ({"contains": "Paris"}, "It is Paris.", "It is paris.", "contain 'Paris'"),
    ({"icontains": "paris"}, "It is PARIS.", "It is Lyon.", "(any case)"),
    ({"not_contains": "Sydney"}, "Canberra", "Sydney, I think", "not contain 'Sydney'"),
    ({"starts_with": "Yes"}, "  Yes, it is.", "No. Yes.", "start with 'Yes'"),
    ({"regex": r"^\W*\w+\W*$"}, "Lima.", "It is Lima.", "match /"),
    ({"max_length": 5}, "Lima", "Canberra", "8 characters (> 5)"),
]


def _check(entry: dict[str, Any], line: dict[str, Any]) -> dict[str, Any]:
    return build_assertion(entry).evaluate(Target(line, line["outputs"][0]), EvalContext())


@pytest.mark.parametrize(
    ("entry", "good", "bad", "why"), CASES, ids=[next(iter(c[0])) for c in CASES]
)
def test_text_assertion_passes_and_fails(
    chat_line: Callable[..., dict[str, Any]], entry: dict[str, Any], good: str, bad: str, why: str
) -> None:
    passed = _check(entry, chat_line(good))
    assert passed["pass"] is True and passed["score"] == 1.0
    assert passed["type"] == next(iter(entry)) and passed["output"] == 0
    failed = _check(entry, chat_line(bad))
    assert failed["pass"] is False and failed["score"] == 0.0
    assert why in failed["reason"]
    if next(iter(entry)) != "max_length":
        assert repr(bad)[:20] in failed["reason"]  # the output is quoted


def test_long_outputs_are_cut_in_reasons(chat_line: Callable[..., dict[str, Any]]) -> None:
    result = _check({"contains": "needle"}, chat_line("hay " * 500))
    assert result["pass"] is False
    assert len(result["reason"]) < 200 and "…" in result["reason"]


def test_name_label_is_kept(chat_line: Callable[..., dict[str, Any]]) -> None:
    result = _check({"contains": "x", "name": "has x"}, chat_line("x"))
    assert result["name"] == "has x"


@pytest.mark.parametrize(
    "entry",
    [{"regex": "("}, {"contains": 3}, {"max_length": -1}, {"max_length": True}, {"equals": None}],
)
def test_bad_values_are_config_errors(entry: dict[str, Any]) -> None:
    with pytest.raises(EvalConfigError):
        build_assertion(entry)


def test_text_checks_do_not_apply_to_image_jobs() -> None:
    line = {"id": "img", "kind": "image", "images": [{"index": 0}]}
    result = build_assertion({"contains": "x"}).evaluate(Target(line), EvalContext())
    assert result["pass"] is False and "does not apply to image jobs" in result["reason"]
