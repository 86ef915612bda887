"""Helpers for eval tests: result lines shaped like the executor's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


def _chat_line(
    *contents: str, expect: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    """A chat result line with one output per content (``n = len(contents)``)."""
    outputs = [
        {
            "index": i,
            "content": c,
            "reasoning_content": None,
            "tool_calls": [],
            "finish_reason": "stop",
            "citations": [],
            "response_id": f"r{i}",
        }
        for i, c in enumerate(contents)
    ]
    line: dict[str, Any] = {
        "id": "job-1",
        "kind": "chat",
        "task": "t",
        "index": 0,
        "model": "grok-3-mini",
        "request": {"model": "grok-3-mini", "messages": [{"role": "user", "content": "Q?"}]},
        "mode": "sample",
        "content": contents[0] if contents else "",
        "outputs": outputs,
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 8 * len(contents),
            "cost_usd_ticks": 5000,
        },
        "cost_usd_ticks": 5000,
        "latency_s": 0.25,
        "expect": expect or [],
        "meta": {"matrix": {}},
    }
    line.update(extra)
    return line


@pytest.fixture
def chat_line() -> Callable[..., dict[str, Any]]:
    """Build a chat result line: ``chat_line("Paris", expect=[...], latency_s=...)``."""
    return _chat_line
