"""One server interceptor for every call: auth, counting, faults and rate limits.

Order for a call: count it; attach an ``x-request-id`` (trailing metadata);
check the bearer key (UNAUTHENTICATED); then, for methods faults apply to, wait
the drawn latency, fail with a drawn error, and apply the per-key RPM/TPM
limits (RESOURCE_EXHAUSTED). Streams also get time to
first token, per-token delays and a cut after k chunks (UNAVAILABLE). Tokens of
answered calls feed the TPM window. Client-streaming calls (Files.UploadFile)
are counted and authenticated like the others.

The server is a ``grpc.aio`` server: an injected wait is an asyncio timer, not
a sleeping thread, so thousands of delayed calls cost no thread each. A wait
ends early when the call ends (the client cancels or its deadline passes: gRPC
cancels the handler's task) or the server stops (:class:`Waits`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import grpc

from xai_pipelines.emulator import ids
from xai_pipelines.emulator.auth import KeyPolicy
from xai_pipelines.emulator.faults import CallFaults, FaultInjector
from xai_pipelines.emulator.ratelimit import RateLimiter, hint_metadata
from xai_pipelines.emulator.stats import StatsRecorder
from xai_pipelines.emulator.tokenizer import count_tokens

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


def _resolve(done: asyncio.Future[bool], stopped: bool) -> None:
    if not done.done():
        done.set_result(stopped)


class Waits:
    """The injected waits in progress on the server's event loop.

    Used on the loop only. :meth:`stop` ends every wait at once, so a stopping
    server answers delayed calls at once instead of holding them to the end of
    their latency.
    """

    def __init__(self) -> None:
        self._pending: set[asyncio.Future[bool]] = set()
        self._stopped = False

    async def sleep(self, seconds: float) -> bool:
        """Wait ``seconds``; True when the wait ended because the server is stopping."""
        if self._stopped:
            return True
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()
        timer = loop.call_later(seconds, _resolve, done, False)
        self._pending.add(done)
        try:
            return await done
        finally:
            timer.cancel()
            self._pending.discard(done)

    def stop(self) -> None:
        """End every wait, now and later."""
        self._stopped = True
        for done in self._pending:
            _resolve(done, True)


class EmulatorInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every handler of the emulator's server (handlers are ``async``).

    Args:
        keys: Accepted keys.
        faults: Fault decisions.
        limiter: Per-key rate windows.
        stats: Counters.
        waits: The server's injected waits (ended at shutdown).
    """

    def __init__(
        self,
        keys: KeyPolicy,
        faults: FaultInjector,
        limiter: RateLimiter,
        stats: StatsRecorder,
        waits: Waits,
    ) -> None:
        self.keys = keys
        self.faults = faults
        self.limiter = limiter
        self.stats = stats
        self.waits = waits
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method: str = details.method  # type: ignore[attr-defined]
        # The wrapped handler of a method is made once: a call reads what it needs
        # (metadata, whether faults apply) from its context when it starts.
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            handler = await continuation(details)
            if handler is None:
                return None
            wrapped = self._wrapped[method] = self._wrap(method, handler)
        return wrapped

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        if handler.unary_unary is not None:
            inner = handler.unary_unary

            async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                call = await self._admit(method, context)
                response = await inner(request, context)
                if call.faults is not None:
                    self.limiter.record_tokens(call.key, _used_tokens(response))
                return response

            return grpc.unary_unary_rpc_method_handler(
                unary, handler.request_deserializer, handler.response_serializer
            )
        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                call = await self._admit(method, context)
                async with aclosing(inner_stream(request, context)) as chunks:
                    if call.faults is None:
                        async for chunk in chunks:
                            yield chunk
                        return
                    async with aclosing(self._faulty_stream(chunks, call, context)) as faulty:
                        async for chunk in faulty:
                            yield chunk

            return grpc.unary_stream_rpc_method_handler(
                stream, handler.request_deserializer, handler.response_serializer
            )
        if handler.stream_unary is not None:  # client streaming (Files.UploadFile)
            inner_upload = handler.stream_unary

            async def upload(
                requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
            ) -> Any:
                await self._admit(method, context)
                return await inner_upload(requests, context)

            return grpc.stream_unary_rpc_method_handler(
                upload, handler.request_deserializer, handler.response_serializer
            )
        if handler.stream_stream is not None:
            inner_bidi = handler.stream_stream

            async def bidi(
                requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
            ) -> AsyncIterator[Any]:
                await self._admit(method, context)
                async with aclosing(inner_bidi(requests, context)) as replies:
                    async for reply in replies:
                        yield reply

            return grpc.stream_stream_rpc_method_handler(
                bidi, handler.request_deserializer, handler.response_serializer
            )
        return handler

    async def _pause(self, seconds: float, context: grpc.aio.ServicerContext) -> None:
        if seconds > 0 and await self.waits.sleep(seconds):
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the emulator is shutting down")

    def _track(self, context: grpc.aio.ServicerContext, method: str) -> None:
        started = time.perf_counter()
        self.stats.enter()

        def finished(_: object) -> None:
            self.stats.leave()
            if call_log.isEnabledFor(logging.INFO):
                code = context.code() or grpc.StatusCode.OK
                elapsed_ms = (time.perf_counter() - started) * 1000
                call_log.info("%s %s %.1f ms", method, code.name, elapsed_ms)

        context.add_done_callback(finished)

    async def _admit(self, method: str, context: grpc.aio.ServicerContext) -> _Call:
        self.stats.call(method.rsplit("/", 1)[-1])
        # Like the hosted API: every answer, error or not, names its request.
        context.set_trailing_metadata(((REQUEST_ID_HEADER, f"req_{ids.new_hex_id()}"),))
        self._track(context, method)
        key, reason = self.keys.check(context.invocation_metadata())
        if key is None:
            self.stats.bump("unauthenticated")
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, reason)
        assert key is not None
        if not self.faults.applies_to(method):
            return _Call(key, None)
        call = _Call(key, self.faults.draw())
        assert call.faults is not None
        await self._pause(call.faults.delay_s, context)
        error = call.faults.error
        if error is not None:
            self.stats.error(error.name)
            await context.abort(error, f"injected fault: {error.name.lower()}")
        config = call.faults.config
        refusal = self.limiter.admit(key, config.requests_per_minute, config.tokens_per_minute)
        if refusal is not None:
            self.stats.bump("rate_limited")
            self.stats.error(grpc.StatusCode.RESOURCE_EXHAUSTED.name)
            # abort's trailing metadata replaces what was set: keep the request id.
            hint = hint_metadata(config.retry_after_hint, refusal)
            trailing = (*context.trailing_metadata(), *hint) if hint else ()
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, refusal.message, trailing)
        return call

    async def _faulty_stream(
        self, chunks: AsyncIterator[Any], call: _Call, context: grpc.aio.ServicerContext
    ) -> AsyncGenerator[Any, None]:
        assert call.faults is not None
        config = call.faults.config
        i = 0
        async for chunk in chunks:
            if config.cut_stream_after is not None and i >= config.cut_stream_after:
                self.stats.bump("streams_cut")
                self.stats.error(grpc.StatusCode.UNAVAILABLE.name)
                await context.abort(
                    grpc.StatusCode.UNAVAILABLE, f"injected fault: stream cut after {i} chunks"
                )
            if i == 0:  # the first chunk's wait is the time to first token
                await self._pause(config.time_to_first_token_s, context)
            else:
                await self._pause(config.per_token_delay_s * _chunk_tokens(chunk), context)
            self.limiter.record_tokens(call.key, _used_tokens(chunk))
            i += 1
            yield chunk
