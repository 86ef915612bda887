"""The YAML layer: YAML 1.2 core scalars, positions, merge keys, refusals."""

from __future__ import annotations

import pytest

from xai_pipelines.spec.errors import SpecError
from xai_pipelines.spec.yaml_source import parse_yaml


def test_core_schema_keeps_yaml11_surprises_as_strings():
    data, _ = parse_yaml(
        "a: no\nb: on\nc: 16:9\nd: 2026-01-01\ne: 0x1F\nf: 1e3\ng: ~\nh: true\n", "f"
    )
    assert data == {
        "a": "no",
        "b": "on",
        "c": "16:9",
        "d": "2026-01-01",
        "e": 31,
        "f": 1000.0,
        "g": None,
        "h": True,
    }


def test_positions_of_values_and_keys():
    data, pos = parse_yaml("top:\n  list:\n    - x\n    - {k: 1}\n", "f.yaml")
    assert data == {"top": {"list": ["x", {"k": 1}]}}
    assert pos.of(("top", "list", 1, "k")) == (4, 11)
    assert pos.of_key(("top", "list")) == (2, 3)
    assert pos.of(("top", "list", 7)) == (3, 5)  # unknown path: nearest ancestor
    assert str(pos.problem(("top", "list", 0), "m")) == "f.yaml:3:7: top.list[0]: m"


def test_anchors_aliases_and_merge_keys():
    text = (
        "base: &b {model: grok-4, temperature: 0}\nchat:\n  <<: *b\n  temperature: 1\nother: *b\n"
    )
    data, pos = parse_yaml(text, "f")
    assert data["chat"] == {"model": "grok-4", "temperature": 1}
    assert data["other"] == {"model": "grok-4", "temperature": 0}
    assert pos.of(("chat", "temperature")) == (4, 16)  # the explicit key wins, position too
    merged, _ = parse_yaml("a: &a {x: 1}\nb: &b {x: 2, y: 2}\nc:\n  <<: [*a, *b]\n", "f")
    assert merged["c"] == {"x": 1, "y": 2}  # earlier sources win


@pytest.mark.parametrize(
    ("text", "fragment", "mark"),
    [
        ("a: 1\nb: 2\na: 3\n", "duplicate key 'a' (first defined at line 1, column 1)", (3, 1)),
        ("a: !!binary aGk=\n", "unsupported YAML tag", (1, 4)),
        ("a: !!set {x, y}\n", "unsupported YAML tag", (1, 4)),
        ("a: !!int x\n", "'x' is not a valid int", (1, 4)),
        ("a: -.inf\n", "non-finite number", (1, 4)),
        ("a: 1e400\n", "out of range", (1, 4)),
        ("? [a, b]\n: 1\n", "mapping keys must be plain strings", (1, 3)),
        ("a: &x [*x]\n", "nesting deeper than 64 levels", (1, 4)),
        ("a:\n\t- b\n", "tab character", (2, 1)),
        ("a: [" * 3000, "nesting deeper than 64 levels", (1, 4 * 4 * 64 + 4)),  # refused unparsed
    ],
)
def test_refusals_are_located(text, fragment, mark):
    with pytest.raises(SpecError) as info:
        parse_yaml(text, "f.yaml")
    (problem,) = info.value.problems
    assert fragment in problem.message
    assert (problem.line, problem.column) == mark


def test_alias_bomb_is_refused_quickly_with_a_small_budget():
    text = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    text += "c: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
    data, _ = parse_yaml(text, "f", max_values=2000)
    assert len(data["c"]) == 10
    with pytest.raises(SpecError, match="more than 1000 values"):
        parse_yaml(text, "f", max_values=1000)


def test_flow_plain_scalars_stay_pyyaml_strict():
    """(libyaml accepts this; PyYAML does not, and the docs' checks rely on the refusal,
    so the composer stays PyYAML's own.)"""
    with pytest.raises(SpecError, match="YAML syntax error"):
        parse_yaml("turns: [{user: Are you sure?}]\n", "f")
