"""Configuration of the emulator: what it accepts, how it behaves, which faults it injects."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

#: Methods faults apply to by default (full gRPC method-path prefixes).
DEFAULT_FAULT_METHODS: tuple[str, ...] = ("/xai_api.Chat/", "/xai_api.Image/")


class RetryAfterHint(StrEnum):
    """How a rate-limit refusal says when to retry (``FaultConfig.retry_after_hint``).

    The hosted API documents no hint (https://docs.x.ai/developers/rate-limits and
    https://docs.x.ai/developers/debugging, read 2026-11-29), so ``OFF`` is the default;
    the others exist to test that a client honours one. Either carries the time until
    the key's next request would be admitted (``ratelimit.hint_metadata``).
    """

    #: No hint: the documented behaviour.
    OFF = "off"
    #: ``retry-after`` trailing metadata, in decimal seconds.
    METADATA = "metadata"
    #: A ``google.rpc.RetryInfo`` detail in ``grpc-status-details-bin``.
    RETRY_INFO = "retry-info"


@dataclass(frozen=True)
class FaultConfig:
    """Faults the emulator injects; all off by default.

    Random choices come from one generator seeded with ``seed``, so a test that
    issues the same calls in the same order sees the same faults.

    Attributes:
        seed: Seed of the fault generator.
        latency_s: Fixed delay added before every faulted call.
        jitter_s: Extra uniform random delay in ``[0, jitter_s]``.
        time_to_first_token_s: Delay before the first chunk of a stream.
        per_token_delay_s: Delay per generated token between stream chunks.
        unavailable_rate: Probability of failing a call with UNAVAILABLE.
        resource_exhausted_rate: Probability of failing a call with RESOURCE_EXHAUSTED.
        internal_rate: Probability of failing a call with INTERNAL.
        requests_per_minute: Per-key request budget per minute, enforced as
            ``requests_per_minute / 60`` requests per second, as the hosted API does (a token
            bucket holding one second; see ``ratelimit``). None: unlimited; 0 refuses all.
        tokens_per_minute: Per-key token limit over a sliding minute (None: unlimited).
        retry_after_hint: Whether and how a rate-limit refusal carries a retry-after hint
            (a :class:`RetryAfterHint` or its value; default none, as documented).
        cut_stream_after: Abort streams with UNAVAILABLE after this many chunks (None: never).
        methods: gRPC method-path prefixes the faults apply to.
    """

    seed: int = 0
    latency_s: float = 0.0
    jitter_s: float = 0.0
    time_to_first_token_s: float = 0.0
    per_token_delay_s: float = 0.0
    unavailable_rate: float = 0.0
    resource_exhausted_rate: float = 0.0
    internal_rate: float = 0.0
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    cut_stream_after: int | None = None
    methods: tuple[str, ...] = DEFAULT_FAULT_METHODS
    retry_after_hint: RetryAfterHint = RetryAfterHint.OFF

    def __post_init__(self) -> None:
        try:
            hint = RetryAfterHint(self.retry_after_hint)
        except ValueError:
            choices = ", ".join(h.value for h in RetryAfterHint)
            raise ValueError(
                f"retry_after_hint must be one of {choices}, got {self.retry_after_hint!r}"
            ) from None
        object.__setattr__(self, "retry_after_hint", hint)
        for name in ("unavailable_rate", "resource_exhausted_rate", "internal_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        total = self.unavailable_rate + self.resource_exhausted_rate + self.internal_rate
        if total > 1.0:
            raise ValueError(f"error rates add up to {total}, more than 1")
        for name in ("latency_s", "jitter_s", "time_to_first_token_s", "per_token_delay_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        for name in ("requests_per_minute", "tokens_per_minute", "cut_stream_after"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative")


@dataclass(frozen=True)
class EmulatorConfig:
    """How the emulator is served and behaves.

    Attributes:
        api_keys: Accepted API keys; None accepts any non-empty key.
        faults: Faults to inject (swappable at runtime with ``Emulator.set_faults``).
        responses_file: YAML or JSONL file of scripted answers (see ``scripted``).
        host: Interface to bind (loopback by default).
        port: gRPC port; 0 picks a free one.
        http_port: Port of the image HTTP host; 0 picks a free one.
        reasoning_models: Extra model names that produce reasoning content, on top of the
            catalog's reasoning models.
        deferred_pending_s: How long a deferred completion stays PENDING.
        deferred_retention_s: How long a finished deferred completion can be fetched
            before it is EXPIRED.
        batch_request_delay_s: Processing time per batch request (background worker).
        max_concurrent_rpcs: Calls in progress at once; calls beyond it are refused with
            RESOURCE_EXHAUSTED. Calls are served on one event loop, not a thread each, so
            this bounds memory only (a waiting call holds about 20 KB: 400 MB at the limit).
        max_streams_per_connection: HTTP/2 streams one connection may have open at once
            (the hosted API allows about 100); further calls queue in the client. None: no limit.
        files_quota_bytes: Most file content the Files service holds at once (uploads and
            stored images beyond it fail); keeps a long-running emulator's memory bounded.
    """

    api_keys: tuple[str, ...] | None = None
    faults: FaultConfig = field(default_factory=FaultConfig)
    responses_file: Path | str | None = None
    host: str = "127.0.0.1"
    port: int = 0
    http_port: int = 0
    reasoning_models: tuple[str, ...] = ()
    deferred_pending_s: float = 0.2
    deferred_retention_s: float = 600.0
    batch_request_delay_s: float = 0.0
    max_concurrent_rpcs: int = 20_000
    max_streams_per_connection: int | None = None
    files_quota_bytes: int = 512 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.api_keys is not None:
            keys = tuple(self.api_keys)
            if not keys or any(not k for k in keys):
                raise ValueError("api_keys must be None or a non-empty list of non-empty keys")
            object.__setattr__(self, "api_keys", keys)
        if self.deferred_pending_s < 0 or self.deferred_retention_s < 0:
            raise ValueError("deferred times must not be negative")
        if self.max_streams_per_connection is not None and self.max_streams_per_connection < 1:
            raise ValueError("max_streams_per_connection must be at least 1")
        if self.files_quota_bytes < 0:
            raise ValueError("files_quota_bytes must not be negative")
        if self.max_concurrent_rpcs < 1:
            raise ValueError("max_concurrent_rpcs must be positive")
