"""The package's public surface: ``__all__`` complete and importable."""

from __future__ import annotations

import xai_pipelines.sdk as sdk


def test_all_names_exist_and_public_classes_are_exported():
    for name in sdk.__all__:
        assert hasattr(sdk, name), name
    for name in ("Client", "Chat", "Response", "Chunk", "Usage", "ImageResponse", "RetryPolicy",
                 "XaiError", "system", "user", "assistant", "tool", "tool_result", "image", "file"):  # fmt: skip
        assert name in sdk.__all__, name


def test_public_api_has_docstrings():
    for name in sdk.__all__:
        assert getattr(sdk, name).__doc__, f"{name} has no docstring"
