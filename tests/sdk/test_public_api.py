"""The package's public surface: ``__all__`` complete, importable and documented.

The names themselves are checked where they are promised: docs/ARCHITECTURE.md's
"SDK public surface" imports (tests/docs/test_architecture_doc.py).
"""

from __future__ import annotations

import inspect

import xai_pipelines.sdk as sdk


def test_all_is_exactly_the_public_names_of_the_package():
    public = {
        name
        for name, value in ((n, getattr(sdk, n)) for n in dir(sdk))
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }
    assert set(sdk.__all__) == public


def test_public_api_has_docstrings():
    for name in sdk.__all__:
        assert getattr(sdk, name).__doc__, f"{name} has no docstring"
