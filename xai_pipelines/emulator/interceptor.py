"""One server interceptor for every call: auth, counting, faults and rate limits.

Order for a call: count it; check the bearer key (UNAUTHENTICATED); then, for
methods faults apply to, wait the drawn latency, fail with a drawn error, and
apply the per-key RPM/TPM limits (RESOURCE_EXHAUSTED). Streams also get time to
first token, per-token delays and a cut after k chunks (UNAVAILABLE). Tokens of
answered calls feed the TPM window.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from xai_pipelines.emulator.auth import KeyPolicy
from xai_pipelines.emulator.faults import CallFaults, FaultInjector
from xai_pipelines.emulator.ratelimit import RateLimiter
from xai_pipelines.emulator.stats import StatsRecorder
from xai_pipelines.emulator.tokenizer import count_tokens


def _chunk_tokens(chunk: Any) -> int:
    outputs = getattr(chunk, "outputs", ())
    return sum(
        count_tokens(o.delta.content) + count_tokens(o.delta.reasoning_content) for o in outputs
    )


def _used_tokens(message: Any) -> int:
    usage = getattr(message, "usage", None)
    return usage.total_tokens if usage is not None else 0


class EmulatorInterceptor(grpc.ServerInterceptor):
    """Wraps every handler of the emulator's server.

    Args:
        keys: Accepted keys.
        faults: Fault decisions.
        limiter: Per-key rate windows.
        stats: Counters.
        stopping: Set at shutdown; interrupts injected waits.
    """

    def __init__(
        self,
        keys: KeyPolicy,
        faults: FaultInjector,
        limiter: RateLimiter,
        stats: StatsRecorder,
        stopping: threading.Event,
    ) -> None:
        self.keys = keys
        self.faults = faults
        self.limiter = limiter
        self.stats = stats
        self.stopping = stopping

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = continuation(details)
        if handler is None:
            return None
        method: str = details.method  # type: ignore[attr-defined]
        metadata = details.invocation_metadata  # type: ignore[attr-defined]
        faulted = self.faults.applies_to(method)
        if handler.unary_unary is not None:
            inner = handler.unary_unary

            def unary(request: Any, context: grpc.ServicerContext) -> Any:
                key, faults = self._admit(method, metadata, faulted, context)
                response = inner(request, context)
                if faults is not None:
                    self.limiter.record_tokens(key, _used_tokens(response))
                return response

            return grpc.unary_unary_rpc_method_handler(
                unary, handler.request_deserializer, handler.response_serializer
            )
        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                key, faults = self._admit(method, metadata, faulted, context)
                chunks = inner_stream(request, context)
                if faults is None:
                    yield from chunks
                    return
                yield from self._faulty_stream(chunks, key, faults, context)

            return grpc.unary_stream_rpc_method_handler(
                stream, handler.request_deserializer, handler.response_serializer
            )
        return handler

    def _admit(
        self, method: str, metadata: Any, faulted: bool, context: grpc.ServicerContext
    ) -> tuple[str, CallFaults | None]:
        self.stats.call(method.rsplit("/", 1)[-1])
        key, reason = self.keys.check(metadata)
        if key is None:
            self.stats.bump("unauthenticated")
            context.abort(grpc.StatusCode.UNAUTHENTICATED, reason)
        assert key is not None
        if not faulted:
            return key, None
        faults = self.faults.draw()
        if faults.delay_s:
            self.stopping.wait(faults.delay_s)
        if faults.error is not None:
            self.stats.error(faults.error.name)
            context.abort(faults.error, f"injected fault: {faults.error.name.lower()}")
        config = faults.config
        refusal = self.limiter.admit(key, config.requests_per_minute, config.tokens_per_minute)
        if refusal is not None:
            self.stats.bump("rate_limited")
            self.stats.error(grpc.StatusCode.RESOURCE_EXHAUSTED.name)
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, refusal)
        return key, faults

    def _faulty_stream(
        self, chunks: Iterator[Any], key: str, faults: CallFaults, context: grpc.ServicerContext
    ) -> Iterator[Any]:
        config = faults.config
        for i, chunk in enumerate(chunks):
            if config.cut_stream_after is not None and i >= config.cut_stream_after:
                self.stats.bump("streams_cut")
                self.stats.error(grpc.StatusCode.UNAVAILABLE.name)
                context.abort(
                    grpc.StatusCode.UNAVAILABLE, f"injected fault: stream cut after {i} chunks"
                )
            if i == 0:  # the first chunk's wait is the time to first token
                if config.time_to_first_token_s:
                    self.stopping.wait(config.time_to_first_token_s)
            elif config.per_token_delay_s:
                self.stopping.wait(config.per_token_delay_s * _chunk_tokens(chunk))
            self.limiter.record_tokens(key, _used_tokens(chunk))
            yield chunk
