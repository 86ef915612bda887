"""Helpers for executor tests: pipelines written as real files and loaded by the spec layer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from xai_pipelines.spec import PipelineSpec, load_pipeline


def _pipeline_data(
    jobs: int = 10,
    mode: str = "sample",
    execution: dict[str, Any] | None = None,
    extra_chats: list[dict[str, Any]] | None = None,
    images: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A pipeline of ``jobs`` chat jobs ``q-0`` ... (one repeated chat)."""
    data: dict[str, Any] = {
        "version": 1,
        "name": "exec-test",
        "defaults": {"model": "grok-3-mini", "max_tokens": 24, "temperature": 0, "seed": 3},
        "execution": {
            "concurrency": 8,
            "retries": {"max_attempts": 10, "initial_backoff": "5ms", "max_backoff": "40ms"},
            **(execution or {}),
        },
        "chats": [
            {
                "name": "q",
                "id": "q-{{ repeat }}",
                "repeat": jobs,
                "mode": mode,
                "messages": [{"user": "Tell me a fact about the number {{ repeat }}."}],
            },
            *(extra_chats or []),
        ],
        "output": {"dir": "out"},
    }
    if images:
        data["images"] = images
    return data


@pytest.fixture
def make_spec(tmp_path: Path) -> Callable[..., PipelineSpec]:
    """Write a pipeline (``pipeline_data`` keywords, or ``data=``) and load it."""

    def make(data: dict[str, Any] | None = None, **kwargs: Any) -> PipelineSpec:
        path = tmp_path / "pipeline.yaml"
        path.write_text(yaml.safe_dump(data or _pipeline_data(**kwargs), sort_keys=False))
        return load_pipeline(path)

    return make


@pytest.fixture
def pipeline_data() -> Callable[..., dict[str, Any]]:
    """Builds pipeline data to edit before ``make_spec(data=...)``."""
    return _pipeline_data
