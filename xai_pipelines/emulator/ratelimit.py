"""Per-key rate limits as the hosted API applies them: requests per second, tokens per minute.

Sources (read 2026-11-29):

* https://docs.x.ai/developers/rate-limits: every team has per-model limits on
  "requests per second (RPS) and tokens per minute (TPM)"; "Your per-second limit is
  derived from your per-minute request budget (RPM / 60): you cannot spend a full
  minute's requests in a single second". Exceeding any limit returns 429 (gRPC
  RESOURCE_EXHAUSTED). The older page (https://docs.x.ai/docs/key-information/consumption-and-rate-limits)
  still says requests *per minute*; the newer wording is modelled.
* Neither that page nor https://docs.x.ai/developers/debugging (429: "Reduce your
  request rate") says that a refusal carries a retry-after hint (a ``Retry-After``
  header, trailing metadata or ``google.rpc.RetryInfo``); the docs' own example backs
  off exponentially. Some third-party tutorials claim a ``Retry-After`` header, without
  a source. So the emulator sends no hint by default (:class:`RetryAfterHint`).

**Requests: a token bucket per key.** It refills at ``rpm / 60`` requests per second
and holds at most :data:`BURST_S` seconds of that refill (at least one request); a
request takes one token or is refused. Sustained, it admits ``rpm / 60`` per second; at
once, at most one second's worth, never a minute's. The docs do not say how the API
counts within the second (fixed windows, a sliding window or a bucket); a bucket of one
second is the smoothest reading of "per second" that still lets a client that was idle
send one second's requests together, and it is the rule the client paces itself by
(``run/ratelimit.py``), so a client at the limit is never refused for the shape of its
traffic. A key's bucket starts full.

**Tokens: a sliding minute per key**, as documented ("tokens per minute"): the tokens of
answered calls in the last 60 s; a request is refused while they reach the limit.

**The refusal** is RESOURCE_EXHAUSTED with ``rate limit exceeded: N requests per minute
per API key`` (or ``N tokens per minute``): the emulator's own wording since it first
had limits (the docs give the HTTP status, 429, not the gRPC message). It names the
configured per-minute figure, never the key. :attr:`Refusal.retry_after_s` is the time
until the key's next request would be admitted, sent only when asked for
(:func:`hint_metadata`).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from xai_pipelines.emulator.config import RetryAfterHint

#: The token window: tokens per minute are counted over the last minute.
WINDOW_S = 60.0
#: The request bucket's capacity in seconds of refill (at least one request): the hosted
#: API's request limit is per second (see the module docstring).
BURST_S = 1.0
#: Trailing-metadata key of a ``retry-after`` hint, in seconds (decimal, so that a hint
#: under a second is not rounded up to one). The client reads this key
#: (``sdk/errors.py``); gRPC itself names none.
RETRY_AFTER_KEY = "retry-after"
#: Trailing-metadata key of a serialized ``google.rpc.Status`` (the gRPC richer error
#: model), which carries a ``google.rpc.RetryInfo`` detail.
STATUS_DETAILS_KEY = "grpc-status-details-bin"

Metadata = tuple[tuple[str, str | bytes], ...]


@dataclass(frozen=True)
class Refusal:
    """Why a request was refused, and when the key's next request would be admitted.

    Attributes:
        message: The status details (names the limit, never the key).
        retry_after_s: Seconds until a request of this key would be admitted, if nothing
            else is sent meanwhile (``math.inf`` under a limit of 0, which admits nothing).
    """

    message: str
    retry_after_s: float


@dataclass
class _Bucket:
    level: float
    stamp: float


class RateLimiter:
    """Requests per second (from a per-minute budget) and tokens per minute, per key.

    Args:
        clock: Monotonic clock (injectable for tests).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._tokens: dict[str, deque[tuple[float, int]]] = {}
        self._token_sums: dict[str, int] = {}

    def admit(self, key: str, rpm: int | None, tpm: int | None) -> Refusal | None:
        """Take one request of ``key`` if both limits allow it now.

        Args:
            key: The API key.
            rpm: Requests per minute, enforced as ``rpm / 60`` per second (None: no limit).
            tpm: Tokens per minute over a sliding minute (None: no limit).

        Returns:
            None when admitted, else the refusal (nothing is taken then).
        """
        now = self._clock()
        with self._lock:
            bucket = None
            if rpm is not None:
                message = f"rate limit exceeded: {rpm} requests per minute per API key"
                if rpm == 0:
                    return Refusal(message, math.inf)
                rate = rpm / 60
                capacity = max(1.0, rate * BURST_S)
                bucket = self._buckets.get(key)
                if bucket is None:
                    bucket = self._buckets[key] = _Bucket(capacity, now)
                else:
                    bucket.level = min(capacity, bucket.level + (now - bucket.stamp) * rate)
                    bucket.stamp = now
                if bucket.level < 1 - 1e-9:  # float slack: never refuse for a sub-ulp
                    return Refusal(message, (1 - bucket.level) / rate)
            if tpm is not None:
                used = self._expire_tokens(key, now)
                if used >= tpm:
                    wait = self._tokens_free_in(key, used, tpm, now) if tpm > 0 else math.inf
                    return Refusal(
                        f"rate limit exceeded: {tpm} tokens per minute per API key", wait
                    )
            if bucket is not None:
                bucket.level -= 1
            return None

    def record_tokens(self, key: str, count: int) -> None:
        """Add ``count`` tokens used by ``key`` now."""
        if count > 0:
            with self._lock:
                self._tokens.setdefault(key, deque()).append((self._clock(), count))
                self._token_sums[key] = self._token_sums.get(key, 0) + count

    def _expire_tokens(self, key: str, now: float) -> int:
        """Drop ``key``'s tokens older than the window; the tokens left in it."""
        window = self._tokens.get(key)
        if not window:
            return 0
        used = self._token_sums[key]
        while window and window[0][0] <= now - WINDOW_S:
            used -= window.popleft()[1]
        self._token_sums[key] = used
        return used

    def _tokens_free_in(self, key: str, used: int, tpm: int, now: float) -> float:
        """Seconds until fewer than ``tpm`` (> 0) of ``key``'s ``used`` tokens are in the window."""
        for stamp, count in self._tokens.get(key, ()):
            used -= count
            if used < tpm:
                return max(0.0, stamp + WINDOW_S - now)
        return 0.0


def hint_metadata(hint: RetryAfterHint, refusal: Refusal) -> Metadata:
    """The trailing metadata that carries ``refusal``'s retry-after hint in ``hint``'s form.

    ``OFF`` gives none (the hosted API documents none). ``METADATA``: ``retry-after`` with
    the seconds as a decimal, rounded up to the millisecond. ``RETRY_INFO``: a
    ``google.rpc.Status`` (code RESOURCE_EXHAUSTED, the refusal's message) holding a
    ``google.rpc.RetryInfo`` whose ``retry_delay`` is the wait, in
    ``grpc-status-details-bin``.
    """
    if hint is RetryAfterHint.OFF or math.isinf(refusal.retry_after_s):
        return ()
    millis = math.ceil(refusal.retry_after_s * 1000)
    if hint is RetryAfterHint.METADATA:
        return ((RETRY_AFTER_KEY, f"{millis / 1000:.3f}"),)
    from google.protobuf import duration_pb2
    from google.rpc import code_pb2, error_details_pb2, status_pb2

    delay = duration_pb2.Duration(seconds=millis // 1000, nanos=(millis % 1000) * 1_000_000)
    status = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=refusal.message)
    status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    return ((STATUS_DETAILS_KEY, status.SerializeToString()),)
