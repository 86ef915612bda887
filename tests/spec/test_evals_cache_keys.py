"""The ``evals: {grader, fail_under}`` and ``execution.cache: {dir, ttl}`` keys: typed, defaulted, located."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from xai_pipelines.spec import Cache, Evals, SpecError, load_pipeline

CHAT = """
chats:
  - model: grok-4.3
    messages: [{user: hi}]
"""


def test_defaults_no_grader_no_threshold_no_cache(write):
    spec = load_pipeline(write(CHAT))
    assert spec.evals == Evals(None, None)
    assert spec.execution.cache is None


def test_evals_section_is_typed_and_the_grader_templated(write):
    spec = load_pipeline(
        write(
            CHAT
            + """
vars: {judge: grok-4.3}
evals: {grader: "{{ judge }}", fail_under: 0.9}
"""
        )
    )
    assert spec.evals == Evals(grader="grok-4.3", fail_under=0.9)


def test_cache_dir_is_absolute_against_the_current_directory(write, tmp_path, monkeypatch):
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    path = write(CHAT + 'execution: {cache: {dir: "cache/{{ name }}", ttl: 2h}}\n', "sub/p.yaml")
    cache = load_pipeline(path).execution.cache
    assert cache == Cache(dir=Path(os.path.abspath("cache/t")), ttl_s=7200.0)
    assert cache.dir.is_absolute() and cache.dir.parent.parent == elsewhere


def test_cache_without_ttl_never_expires(write):
    cache = load_pipeline(write(CHAT + "execution: {cache: {dir: /tmp/c}}\n")).execution.cache
    assert cache == Cache(Path("/tmp/c"), None)


def test_overrides_reach_the_new_keys(write):
    spec = load_pipeline(
        write(CHAT),
        overrides={"evals.grader": "grok-4.20-non-reasoning", "execution.cache.dir": "c"},
    )
    assert spec.evals.grader == "grok-4.20-non-reasoning"
    assert spec.execution.cache is not None and spec.execution.cache.dir == Path.cwd() / "c"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "evals: {fail_under: 1.5}\n",
            "evals.fail_under: out of range (expected a value <= 1, got 1.5)",
        ),
        (
            "evals: {fail_under: -0.1}\n",
            "evals.fail_under: out of range (expected a value >= 0, got -0.1)",
        ),
        ("evals: {grader: 3}\n", "evals.grader: expected a string, got 3"),
        ("evals: {grader: ''}\n", "evals.grader: expected at least 1 character, got 0"),
        ("evals: {gradr: grok-4.3}\n", "evals.gradr: unknown key 'gradr' (did you mean 'grader'?)"),
        ("execution: {cache: {ttl: 1h}}\n", "execution.cache: missing required key 'dir'"),
        (
            "execution: {cache: {dir: c, ttl: soon}}\n",
            'execution.cache.ttl: expected a duration such as 500ms, 30s, 2m, 1h (or seconds as a number), got "soon"',
        ),
        ("execution: {cache: c}\n", 'execution.cache: expected a mapping, got "c"'),
    ],
)
def test_bad_values_are_located(write, extra, expected):
    path = write(CHAT + extra)
    with pytest.raises(SpecError) as info:
        load_pipeline(path)
    lines = str(info.value).splitlines()
    assert any(line.startswith(f"{path}:") and line.endswith(expected) for line in lines), lines
    line = next(x for x in lines if x.endswith(expected))
    row, col = (int(x) for x in line[len(str(path)) + 1 :].split(":")[:2])
    assert row == 7 and col > 1


def test_a_grader_rendering_to_nothing_is_an_error(write):
    path = write(CHAT + "vars: {judge: '  '}\nevals: {grader: '{{ judge }}'}\n")
    with pytest.raises(SpecError, match=r"p.yaml:8:\d+: evals.grader: the grader model renders"):
        load_pipeline(path)
