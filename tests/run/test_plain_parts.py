"""A result line's copies of a job's request, expect and meta: one round trip, the same copies."""

from __future__ import annotations

import math
from collections import OrderedDict, UserDict
from types import MappingProxyType
from typing import Any

import pytest

from xai_pipelines.plan import ChatJob
from xai_pipelines.run.jobrun import plain, plain_parts

REQUEST = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "seed": 1}

CASES: list[tuple[Any, Any, Any]] = [
    (REQUEST, (), MappingProxyType({"row": {}, "matrix": {"part": 0}, "repeat": 1})),
    (REQUEST, ({"contains": "x"}, {"regex": "^a"}), MappingProxyType({"row": {"n": 1.5}})),
    ({**REQUEST, "temperature": 0.7, "stop": ("a", "b")}, [], {"plain": "dict"}),
    ({**REQUEST, "nan": math.nan, "big": 1e16}, (), MappingProxyType({})),
    ({**REQUEST, "tags": {"x"}}, (), MappingProxyType({})),  # a set: plain() walks it
    ({**REQUEST, 3: "int key"}, (), MappingProxyType({})),
    (REQUEST, (MappingProxyType({"nested": "proxy"}),), MappingProxyType({"row": ("t",)})),
    (REQUEST, (), MappingProxyType({"row": UserDict({"a": 1})})),  # a Mapping inside
    (OrderedDict(REQUEST), (), UserDict({"origin": "rows.csv:2"})),  # not plain()'s round trip
    (REQUEST, (), UserDict({"n": math.nan})),  # walked, NaN stays a float (JSON would say null)
    (MappingProxyType(REQUEST), ["list", "expect"], MappingProxyType({"row": {"deep": [1, 2]}})),
]


def shape(value: Any) -> Any:
    """The value with the type of every container, so that a list and a tuple differ."""
    if isinstance(value, dict):
        return ("dict", [(shape(k), shape(v)) for k, v in value.items()])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [shape(v) for v in value])
    if isinstance(value, float) and math.isnan(value):
        return ("nan",)
    return (type(value).__name__, value)


@pytest.mark.parametrize(("request_", "expect", "meta"), CASES)
def test_one_round_trip_gives_the_copies_plain_gives_one_by_one(request_, expect, meta) -> None:
    job = ChatJob(id="j", request=request_, expect=expect, meta=meta)
    together = plain_parts(job)
    one_by_one = (plain(job.request), plain(job.expect), plain(job.meta))
    assert shape(together) == shape(one_by_one)
    for copy, original in zip(together, (job.request, job.expect, job.meta), strict=True):
        assert copy is not original  # copies: the line never shares the job's objects
