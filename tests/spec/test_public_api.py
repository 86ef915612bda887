"""The public names of spec/ and plan/ are complete and importable."""

from __future__ import annotations

import inspect

import pytest

import xai_pipelines.plan as plan
import xai_pipelines.spec as spec


@pytest.mark.parametrize("module", [spec, plan], ids=["spec", "plan"])
def test_all_is_complete_and_documented(module):
    public = {
        name
        for name, value in ((n, getattr(module, n)) for n in dir(module))
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }
    assert set(module.__all__) == public
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, f"{module.__name__}.{name} has no docstring"
