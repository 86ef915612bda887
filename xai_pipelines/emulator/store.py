"""Server-side chat state: stored completions and deferred completions (thread-safe)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from xai_pipelines.emulator.errors import not_found
from xai_pipelines.proto import chat_pb2, deferred_pb2


@dataclass(frozen=True)
class StoredCompletion:
    """A completion kept for ``previous_response_id`` and GetStoredCompletion."""

    messages: tuple[chat_pb2.Message, ...]  # the conversation the response answered
    response: chat_pb2.GetChatCompletionResponse


@dataclass(frozen=True)
class _Deferred:
    ready_at: float
    expires_at: float
    response: chat_pb2.GetChatCompletionResponse


#: Stored completions kept; the oldest are forgotten first (a long-running server stays bounded).
MAX_STORED = 100_000


class CompletionStore:
    """Stored and deferred completions behind one lock.

    Args:
        pending_s: How long a deferred completion stays PENDING.
        retention_s: How long after that it can be fetched before it is EXPIRED.
        clock: Monotonic clock (injectable for tests of the state machine).
    """

    def __init__(
        self, pending_s: float, retention_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.pending_s = pending_s
        self.retention_s = retention_s
        self._clock = clock
        self._lock = threading.Lock()
        self._stored: dict[str, StoredCompletion] = {}
        self._deferred: dict[str, _Deferred] = {}

    def save(
        self, messages: list[chat_pb2.Message], response: chat_pb2.GetChatCompletionResponse
    ) -> None:
        """Keep ``response`` (and the conversation it answered) under its id."""
        entry = StoredCompletion(tuple(messages), response)
        with self._lock:
            self._stored[response.id] = entry
            while len(self._stored) > MAX_STORED:
                del self._stored[next(iter(self._stored))]

    def get(self, response_id: str) -> StoredCompletion:
        """The stored completion ``response_id``; NOT_FOUND otherwise."""
        with self._lock:
            entry = self._stored.get(response_id)
        if entry is None:
            raise not_found(f"No stored completion with response_id {response_id!r}")
        return entry

    def delete(self, response_id: str) -> None:
        """Forget ``response_id``; NOT_FOUND when it is not stored."""
        with self._lock:
            entry = self._stored.pop(response_id, None)
        if entry is None:
            raise not_found(f"No stored completion with response_id {response_id!r}")

    def history(self, response_id: str) -> list[chat_pb2.Message]:
        """The conversation up to and including the answer of ``response_id``."""
        entry = self.get(response_id)
        messages = list(entry.messages)
        outputs = entry.response.outputs
        answers = [o for o in outputs if o.message.role == chat_pb2.ROLE_ASSISTANT]
        if answers:
            # An agentic response ends with its final answer; earlier outputs are its tool calls.
            agentic = any(o.message.role == chat_pb2.ROLE_TOOL for o in outputs)
            out = (answers[-1] if agentic else answers[0]).message
            messages.append(
                chat_pb2.Message(
                    role=chat_pb2.ROLE_ASSISTANT,
                    content=[chat_pb2.Content(text=out.content)] if out.content else [],
                    tool_calls=out.tool_calls,
                )
            )
        return messages

    def defer(self, response: chat_pb2.GetChatCompletionResponse) -> str:
        """Hold ``response`` as a deferred completion; returns its request id."""
        request_id = str(uuid.uuid4())
        now = self._clock()
        job = _Deferred(now + self.pending_s, now + self.pending_s + self.retention_s, response)
        with self._lock:
            self._deferred[request_id] = job
            self._drop_expired(now)
        return request_id

    def fetch(self, request_id: str) -> tuple[int, chat_pb2.GetChatCompletionResponse | None]:
        """Status and (when DONE) response of deferred ``request_id``."""
        now = self._clock()
        with self._lock:
            job = self._deferred.get(request_id)
        if job is None:
            raise not_found(f"No deferred completion with request_id {request_id!r}")
        if now < job.ready_at:
            return deferred_pb2.PENDING, None
        if now >= job.expires_at:
            return deferred_pb2.EXPIRED, None
        return deferred_pb2.DONE, job.response

    def _drop_expired(self, now: float) -> None:
        # Expired jobs are kept one more retention window so polls see EXPIRED, not NOT_FOUND.
        horizon = now - self.retention_s
        stale = [k for k, j in self._deferred.items() if j.expires_at < horizon]
        for key in stale:
            del self._deferred[key]
