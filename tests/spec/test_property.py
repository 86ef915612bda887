"""Property: whatever the input, the loader returns a spec or raises SpecError, nothing else."""

from __future__ import annotations

from collections import deque
from itertools import islice
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xai_pipelines.plan import iter_jobs
from xai_pipelines.spec import PipelineSpec, SpecError, load_pipeline_data, load_pipeline_text

HERE = Path(__file__).parent / "bad" / "property.yaml"  # only names the file; never written

KEYS = [
    "version",
    "name",
    "chats",
    "images",
    "messages",
    "model",
    "user",
    "system",
    "vars",
    "datasets",
    "matrix",
    "for_each",
    "id",
    "prompt",
    "n",
    "temperature",
    "expect",
    "execution",
    "rows",
    "path",
    "repeat",
    "defaults",
    "turns",
    "tools",
    "type",
    "response_format",
    "<<",
    "env",
    "output",
    "dir",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["{{ row.x }}", "{{ name }}", "{%", "grok-4", "1", "data/x.jsonl"]),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), children, max_size=5
        ),
    ),
    max_leaves=25,
)
valid_chat = st.fixed_dictionaries(
    {"model": st.just("grok-4"), "messages": st.just([{"user": "hi {{ name }}"}])},
    optional={
        k: values
        for k in [
            "temperature",
            "n",
            "id",
            "repeat",
            "matrix",
            "expect",
            "stop",
            "tools",
            "turns",
            "mode",
            "seed",
        ]
    },
)
near_valid = st.fixed_dictionaries(
    {"version": st.sampled_from([1, 1, 2, "1"]), "name": st.sampled_from(["p", "a b", ""])},
    optional={
        "chats": st.lists(
            st.one_of(valid_chat, st.dictionaries(st.sampled_from(KEYS), values, max_size=5)),
            max_size=3,
        ),
        "images": st.lists(st.dictionaries(st.sampled_from(KEYS), values, max_size=5), max_size=2),
        "vars": st.dictionaries(st.text(max_size=6), values, max_size=3),
        "matrix": st.dictionaries(st.sampled_from(KEYS), values, max_size=2),
        "datasets": st.dictionaries(st.text(max_size=6), values, max_size=2),
    },
)

mostly_valid = st.fixed_dictionaries(
    {
        "version": st.just(1),
        "name": st.just("p"),
        "chats": st.lists(valid_chat, min_size=1, max_size=3),
    },
    optional={"vars": st.dictionaries(st.sampled_from(["a", "b", "name"]), values, max_size=2)},
)
documents = st.one_of(values, near_valid, mostly_valid)


def _check(result: object) -> None:
    assert isinstance(result, PipelineSpec)
    deque(islice(iter_jobs(result), 200), maxlen=0)  # a loaded spec plans, or raises SpecError


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_objects_give_a_spec_or_spec_error(data):
    try:
        _check(load_pipeline_data(data, HERE))
    except SpecError as exc:
        assert exc.problems and all(p.line >= 1 and p.column >= 1 for p in exc.problems)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.text(max_size=200), near_valid.map(lambda d: yaml.safe_dump(d, allow_unicode=True))
    )
)
def test_text_gives_a_spec_or_spec_error(text):
    try:
        _check(load_pipeline_text(text, HERE))
    except SpecError as exc:
        assert str(exc).startswith(str(HERE)) or str(exc).startswith("--set")
