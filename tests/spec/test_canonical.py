"""``is_plain_json`` and the msgspec fast path of canonical JSON against their definitions."""

from __future__ import annotations

import enum
import json
from types import MappingProxyType
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from xai_pipelines.spec.canonical import canonical_json, is_plain_json, plain_json_bytes


class Level(enum.IntEnum):
    LOW = 1


def reference_is_plain(value: Any, proxies: bool) -> bool:
    """The definition, walked plainly: str, int, bool, None, lists, tuples, dicts with
    str keys (and mapping proxies with ``proxies``); any other type, or a subclass of
    these, is not plain."""
    kind = type(value)
    if kind in (str, int, bool) or value is None:
        return True
    if kind is dict or (proxies and kind is MappingProxyType):
        return all(type(k) is str for k in value) and all(
            reference_is_plain(v, proxies) for v in value.values()
        )
    if kind in (list, tuple):
        return all(reference_is_plain(v, proxies) for v in value)
    return False


leaves = st.one_of(
    st.text(max_size=4),
    st.integers(),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=True),  # not plain
    st.just(Level.LOW),  # an int subclass: not plain
    st.frozensets(st.integers(), max_size=2),  # not plain
)
keys = st.one_of(st.text(max_size=3), st.integers(0, 3))  # an int key: not plain
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(keys, inner, max_size=4),
        st.dictionaries(st.text(max_size=3), inner, max_size=4).map(MappingProxyType),
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(values, st.booleans())
def test_is_plain_json_is_its_definition(value: Any, proxies: bool) -> None:
    assert is_plain_json(value, proxies) is reference_is_plain(value, proxies)


@settings(max_examples=200, deadline=None)
@given(values)
def test_the_fast_bytes_are_json_dumps_bytes_whenever_given(value: Any) -> None:
    fast = plain_json_bytes(value, sort_keys=True)
    if fast is None:
        return
    assert (
        fast
        == json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )


def test_examples() -> None:
    plan_line = {
        "id": "q-0-1",
        "request": {"model": "m", "messages": [{"role": "user", "content": "hi"}], "seed": 1},
        "expect": [],
        "meta": MappingProxyType({"row": {}, "matrix": {"part": 0}, "repeat": 1}),
        "flags": (True, None, [1, [2, {"deep": "x"}]]),
    }
    assert is_plain_json(plan_line) and not is_plain_json(plan_line, proxies=False)
    assert canonical_json(plan_line).startswith('{"expect":[],"flags":[true,null,[1,[2,')
    for bad in (1.5, {"a": [1, {"b": 2.0}]}, {1: "x"}, [{"a": {3}}], Level.LOW, ["ok", b"x"]):
        assert not is_plain_json(bad)
    for good in ("x", 3, None, [], {}, [[[]]], {"a": {"b": {"c": [True]}}}):
        assert is_plain_json(good)
