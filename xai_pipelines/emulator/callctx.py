"""Who is calling, read from a call's metadata: the key's id and the conversation id.

``x-grok-conv-id`` is the metadata the hosted API uses to route requests of one
conversation to the same server, so that they hit the prompt cache (docs.x.ai,
"Prompt Caching / Maximizing Cache Hits",
https://docs.x.ai/developers/advanced-api-usage/prompt-caching/maximizing-cache-hits,
read 2026-11-29).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from xai_pipelines.emulator.auth import KeyPolicy

CONV_ID_HEADER = "x-grok-conv-id"
_ANY_KEY = KeyPolicy(None)


@dataclass(frozen=True)
class CallContext:
    """The caller of one request.

    Attributes:
        key_id: Short digest of the API key (files belong to it); never the key itself.
        conv_id: The ``x-grok-conv-id`` metadata value, if sent.
    """

    key_id: str
    conv_id: str | None = None


def from_metadata(metadata: Sequence[tuple[str, str | bytes]] | None) -> CallContext:
    """The caller described by gRPC invocation metadata."""
    key_id, _ = _ANY_KEY.check(metadata)
    conv_id = None
    for name, value in metadata or ():
        if name.lower() == CONV_ID_HEADER:
            text = value.decode() if isinstance(value, bytes) else value
            conv_id = text.strip() or None
    return CallContext(key_id=key_id or "", conv_id=conv_id)


def call_context(context: grpc.ServicerContext) -> CallContext:
    """The caller of the call ``context`` belongs to."""
    return from_metadata(context.invocation_metadata())  # type: ignore[arg-type]
