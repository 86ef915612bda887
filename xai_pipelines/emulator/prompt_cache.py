"""The emulator's prompt cache: cached prompt tokens per conversation id.

What the hosted API documents (docs.x.ai, read 2026-11-29):

* "When consecutive requests share the same starting messages, the xAI API
  automatically caches them. On the next request, messages at the beginning
  that match exactly are served from cache"
  (https://docs.x.ai/developers/advanced-api-usage/prompt-caching). So the
  granularity is whole messages from the start of the conversation; any edit,
  removal or reorder of an earlier message breaks the cache from there on
  (".../prompt-caching/multi-turn").
* ``x-grok-conv-id`` routes requests of one conversation to the same server,
  where the cache entries live (".../prompt-caching/maximizing-cache-hits").
* Cached tokens are part of the prompt tokens (``cached_tokens`` <= ``prompt_tokens``,
  equal on an exact repeat) and billed at the cached price
  (".../prompt-caching/usage-and-pricing").

The emulator's deterministic simplification: only requests that carry an
``x-grok-conv-id`` can hit (the hosted API may also hit without one, by chance
of routing); a hit needs the same conversation id and the same model; the
cached count is the text tokens of the longest run of leading messages equal to
those of a prompt served before in that conversation. Memory is bounded: the
least recently used conversations are forgotten first, and each keeps its last
few prompts.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass

#: Conversations remembered (least recently used forgotten first).
MAX_CONVERSATIONS = 4096
#: Prompts remembered per conversation (oldest forgotten first).
MAX_PROMPTS_PER_CONVERSATION = 8


@dataclass(frozen=True)
class CachedMessage:
    """One message of a served prompt: its digest and its text tokens."""

    digest: bytes
    text_tokens: int


class PromptCache:
    """Served prompts per (conversation id, model), LRU-bounded and thread-safe.

    Args:
        max_conversations: Conversations kept.
        max_prompts: Prompts kept per conversation.
    """

    def __init__(
        self,
        max_conversations: int = MAX_CONVERSATIONS,
        max_prompts: int = MAX_PROMPTS_PER_CONVERSATION,
    ) -> None:
        self._max_conversations = max_conversations
        self._max_prompts = max_prompts
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], deque[tuple[bytes, ...]]] = OrderedDict()

    def serve(self, conv_id: str | None, model: str, prompt: Sequence[CachedMessage]) -> int:
        """Record ``prompt`` as served and return how many of its text tokens were cached.

        Without a conversation id nothing is cached or recorded.
        """
        if not conv_id:
            return 0
        digests = tuple(m.digest for m in prompt)
        key = (conv_id, model)
        with self._lock:
            earlier = self._entries.get(key)
            matched = max((_common_prefix(digests, p) for p in earlier or ()), default=0)
            if earlier is None:
                earlier = deque(maxlen=self._max_prompts)
                self._entries[key] = earlier
            if digests not in earlier:
                earlier.append(digests)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_conversations:
                self._entries.popitem(last=False)
        return sum(m.text_tokens for m in prompt[:matched])

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


def _common_prefix(a: tuple[bytes, ...], b: tuple[bytes, ...]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
