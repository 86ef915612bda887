"""Conversation ids that make prompt-cache hits reliable across the jobs of a run.

xAI routes requests that carry the same ``x-grok-conv-id`` gRPC metadata to the
same server, where the prompt cache lives (docs.x.ai, "Prompt caching: maximizing
cache hits" and "best practices", read 2026-11-29). Jobs whose prompts begin the
same way should therefore send the same id. The id is derived, not random, so a
rerun or a resume routes the same prefix the same way, and it never carries
prompt text (only a digest of it).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from xai_pipelines.plan import canonical_json

__all__ = ["conversation_id"]

#: Prefix of every derived id, so they are recognisable in logs and traces.
ID_PREFIX = "xai-pipelines-"


def conversation_id(request: Mapping[str, Any], task: str) -> str:
    """The conversation id of a chat request.

    The shared prefix is every message before the last one (system prompt,
    few-shot examples, earlier turns) under the same model. A request with a
    single message has no such prefix; its jobs are grouped by task, because the
    jobs of one task are rendered from one template and so start alike.

    Args:
        request: The chat request in JSON request form.
        task: The name of the spec entry the job came from.
    """
    messages: Sequence[Any] = request.get("messages") or ()
    model = request.get("model")
    if len(messages) > 1:
        return _hashed({"model": model, "messages": list(messages[:-1])})
    if isinstance(model, str):
        return _task_id(model, task)
    return _hashed({"model": model, "task": task})


@functools.lru_cache(maxsize=1024)
def _task_id(model: str, task: str) -> str:
    """The id of a single-message request: one per model and task (hashed once per run)."""
    return _hashed({"model": model, "task": task})


def _hashed(prefix: dict[str, Any]) -> str:
    return ID_PREFIX + hashlib.sha256(canonical_json(prefix).encode()).hexdigest()[:32]
