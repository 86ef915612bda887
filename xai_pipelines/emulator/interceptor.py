"""One server interceptor for every call: auth, counting, faults and rate limits.

Order for a call: count it; attach an ``x-request-id`` (trailing metadata);
check the bearer key (UNAUTHENTICATED); then, for methods faults apply to, wait
the drawn latency, fail with a drawn error, and apply the per-key RPM/TPM
limits (RESOURCE_EXHAUSTED). Streams also get time to
first token, per-token delays and a cut after k chunks (UNAVAILABLE). Tokens of
answered calls feed the TPM window. Client-streaming calls (Files.UploadFile)
are counted and authenticated like the others.

Injected waits end early when the call ends (client cancel or deadline) or the
server stops, so a slow fault never pins a worker thread.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc

from xai_pipelines.emulator.auth import KeyPolicy
from xai_pipelines.emulator.faults import CallFaults, FaultInjector
from xai_pipelines.emulator.ratelimit import RateLimiter
from xai_pipelines.emulator.stats import StatsRecorder
from xai_pipelines.emulator.tokenizer import count_tokens

_WAIT_SLICE_S = 0.05
REQUEST_ID_HEADER = "x-request-id"
#: One INFO line per finished call (method, status, milliseconds); never the key.
call_log = logging.getLogger("xai_pipelines.emulator.calls")


def _chunk_tokens(chunk: Any) -> int:
    outputs = getattr(chunk, "outputs", ())
    return sum(
        count_tokens(o.delta.content) + count_tokens(o.delta.reasoning_content) for o in outputs
    )


def _used_tokens(message: Any) -> int:
    usage = getattr(message, "usage", None)
    return usage.total_tokens if usage is not None else 0


@dataclass
class _Call:
    key: str
    faults: CallFaults | None
    ended: threading.Event


class EmulatorInterceptor(grpc.ServerInterceptor):
    """Wraps every handler of the emulator's server.

    Args:
        keys: Accepted keys.
        faults: Fault decisions.
        limiter: Per-key rate windows.
        stats: Counters.
        stopping: Set at shutdown; ends injected waits.
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
                call = self._admit(method, metadata, faulted, context)
                response = inner(request, context)
                if call.faults is not None:
                    self.limiter.record_tokens(call.key, _used_tokens(response))
                return response

            return grpc.unary_unary_rpc_method_handler(
                unary, handler.request_deserializer, handler.response_serializer
            )
        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                call = self._admit(method, metadata, faulted, context)
                chunks = inner_stream(request, context)
                if call.faults is None:
                    yield from chunks
                    return
                yield from self._faulty_stream(chunks, call, context)

            return grpc.unary_stream_rpc_method_handler(
                stream, handler.request_deserializer, handler.response_serializer
            )
        if handler.stream_unary is not None:  # client streaming (Files.UploadFile)
            inner_upload = handler.stream_unary

            def upload(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
                self._admit(method, metadata, faulted, context)
                return inner_upload(requests, context)

            return grpc.stream_unary_rpc_method_handler(
                upload, handler.request_deserializer, handler.response_serializer
            )
        if handler.stream_stream is not None:
            inner_bidi = handler.stream_stream

            def bidi(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
                self._admit(method, metadata, faulted, context)
                yield from inner_bidi(requests, context)

            return grpc.stream_stream_rpc_method_handler(
                bidi, handler.request_deserializer, handler.response_serializer
            )
        return handler

    def _pause(self, call: _Call, seconds: float, context: grpc.ServicerContext) -> None:
        remaining = seconds
        while remaining > 0 and not call.ended.is_set() and not self.stopping.is_set():
            step = min(remaining, _WAIT_SLICE_S)
            call.ended.wait(step)
            remaining -= step
        if remaining > 0 and self.stopping.is_set():
            context.abort(grpc.StatusCode.UNAVAILABLE, "the emulator is shutting down")

    def _track(self, context: grpc.ServicerContext, method: str) -> threading.Event:
        ended = threading.Event()
        started = time.perf_counter()
        self.stats.enter()

        def finished() -> None:
            ended.set()
            self.stats.leave()
            if call_log.isEnabledFor(logging.INFO):
                code = context.code() or grpc.StatusCode.OK  # type: ignore[attr-defined]
                elapsed_ms = (time.perf_counter() - started) * 1000
                call_log.info("%s %s %.1f ms", method, code.name, elapsed_ms)

        if not context.add_callback(finished):
            finished()
        return ended

    def _admit(
        self, method: str, metadata: Any, faulted: bool, context: grpc.ServicerContext
    ) -> _Call:
        self.stats.call(method.rsplit("/", 1)[-1])
        # Like the hosted API: every answer, error or not, names its request.
        context.set_trailing_metadata(((REQUEST_ID_HEADER, f"req_{uuid.uuid4().hex}"),))
        ended = self._track(context, method)
        key, reason = self.keys.check(metadata)
        if key is None:
            self.stats.bump("unauthenticated")
            context.abort(grpc.StatusCode.UNAUTHENTICATED, reason)
        assert key is not None
        if not faulted:
            return _Call(key, None, ended)
        call = _Call(key, self.faults.draw(), ended)
        assert call.faults is not None
        self._pause(call, call.faults.delay_s, context)
        error = call.faults.error
        if error is not None:
            self.stats.error(error.name)
            context.abort(error, f"injected fault: {error.name.lower()}")
        config = call.faults.config
        refusal = self.limiter.admit(key, config.requests_per_minute, config.tokens_per_minute)
        if refusal is not None:
            self.stats.bump("rate_limited")
            self.stats.error(grpc.StatusCode.RESOURCE_EXHAUSTED.name)
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, refusal)
        return call

    def _faulty_stream(
        self, chunks: Iterator[Any], call: _Call, context: grpc.ServicerContext
    ) -> Iterator[Any]:
        assert call.faults is not None
        config = call.faults.config
        for i, chunk in enumerate(chunks):
            if config.cut_stream_after is not None and i >= config.cut_stream_after:
                self.stats.bump("streams_cut")
                self.stats.error(grpc.StatusCode.UNAVAILABLE.name)
                context.abort(
                    grpc.StatusCode.UNAVAILABLE, f"injected fault: stream cut after {i} chunks"
                )
            if i == 0:  # the first chunk's wait is the time to first token
                self._pause(call, config.time_to_first_token_s, context)
            else:
                self._pause(call, config.per_token_delay_s * _chunk_tokens(chunk), context)
            self.limiter.record_tokens(call.key, _used_tokens(chunk))
            yield chunk
