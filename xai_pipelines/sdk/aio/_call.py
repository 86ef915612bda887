"""The async call wrapper: the sync :class:`~xai_pipelines.sdk._call.Caller` on ``grpc.aio``.

Same metadata and deadline (``call_metadata``, ``call_timeout``), same error
conversion (``convert_rpc_error``), same retry policy (``RetryPolicy.acall`` /
``astream``, waiting with ``asyncio.sleep``) and same spans (``CallTracing``). A
cancelled task cancels its RPC.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import grpc
from opentelemetry import trace

from xai_pipelines.sdk._call import CallTracing, convert_rpc_error
from xai_pipelines.sdk._channel import call_metadata, call_timeout
from xai_pipelines.sdk.aio._channel import ChannelPool
from xai_pipelines.sdk.retry import RetryPolicy


class AsyncCaller(CallTracing):
    """Sends requests over a ``grpc.aio`` channel pool with conversion, retries and tracing.

    Args:
        pool: The client's channel pool.
        policy: Retry policy for every call.
        tracer: Tracer for the call spans.
        server: ``host:port`` (span attribute).
        api_key: Sent as the bearer token; scrubbed from any error message.
        timeout: Deadline of a call that gives none.
        metadata: The client's extra metadata.
    """

    def __init__(
        self,
        pool: ChannelPool,
        policy: RetryPolicy,
        tracer: trace.Tracer,
        server: str,
        api_key: str,
        *,
        timeout: float,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(tracer, server)
        self.pool = pool
        self.policy = policy
        self._api_key = api_key
        self._timeout = timeout
        self._metadata = call_metadata(api_key, metadata)

    def unary(
        self,
        stub_class: type,
        method: str,
        request: Any,
        *,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> Awaitable[tuple[Any, int]]:
        """Call a unary RPC with retries: await it for ``(response, attempts)``.

        (The retry policy's coroutine itself, not one awaiting it: a coroutine less
        on every call.)
        """
        return self.policy.acall(
            self._attempts(stub_class, method, lambda: request, timeout, metadata)
        )

    async def client_stream(
        self,
        stub_class: type,
        method: str,
        requests: Callable[[], Any],
        *,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> tuple[Any, int]:
        """Call a unary or client-streaming RPC with retries.

        Args:
            requests: Makes the request (or a fresh iterator of requests) per attempt.

        Returns:
            ``(response, attempts)``.
        """
        return await self.policy.acall(
            self._attempts(stub_class, method, requests, timeout, metadata)
        )

    def _attempts(
        self,
        stub_class: type,
        method: str,
        requests: Callable[[], Any],
        timeout: float | None,
        metadata: Sequence[tuple[str, str]],
    ) -> Callable[[int], Awaitable[tuple[Any, int]]]:
        """One attempt of a unary or client-streaming call, for the retry policy."""
        deadline = call_timeout(timeout, self._timeout)
        extra = (*metadata, *self._metadata)

        async def attempt(number: int) -> tuple[Any, int]:
            with self.pool.lease() as channel:
                call = getattr(channel.stub(stub_class), method)(
                    requests(), timeout=deadline, metadata=extra
                )
                try:
                    return await call, number
                except grpc.RpcError as exc:
                    raise convert_rpc_error(exc, self._api_key) from exc
                except asyncio.CancelledError:
                    call.cancel()  # the task was cancelled: so is its RPC
                    raise

        return attempt

    def stream(
        self,
        stub_class: type,
        method: str,
        request: Any,
        *,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> AsyncGenerator[tuple[int, Any], None]:
        """Call a server-streaming RPC, reopening it from the start on retryable errors.

        Yields:
            ``(attempt, item)``; a larger attempt than before means the stream restarted.
            Close the generator (``aclose``) when stopping early: that cancels the call.
        """
        deadline = call_timeout(timeout, self._timeout)
        extra = (*metadata, *self._metadata)

        async def open_stream(number: int) -> AsyncIterator[tuple[int, Any]]:
            with self.pool.lease() as channel:
                call = getattr(channel.stub(stub_class), method)(
                    request, timeout=deadline, metadata=extra
                )
                try:
                    async for item in call:
                        yield number, item
                except grpc.RpcError as exc:
                    raise convert_rpc_error(exc, self._api_key) from exc
                finally:
                    call.cancel()  # no-op once finished; frees the stream if abandoned

        return self.policy.astream(open_stream)
