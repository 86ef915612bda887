"""The Chat gRPC service on top of :class:`ChatEngine`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc

from xai_pipelines.emulator.callctx import call_context
from xai_pipelines.emulator.catalog import chat_cost_ticks
from xai_pipelines.emulator.chat_engine import ChatEngine
from xai_pipelines.emulator.chat_stream import iter_chunks
from xai_pipelines.emulator.conversation import count_prompt, encode_compacted, expand_compacted
from xai_pipelines.emulator.errors import answer, invalid
from xai_pipelines.emulator.validation import resolve_language_model
from xai_pipelines.proto import chat_pb2, chat_pb2_grpc, deferred_pb2, usage_pb2

#: Messages CompactContext keeps verbatim at the end of the conversation.
COMPACT_KEEP_LAST = 2


class ChatService(chat_pb2_grpc.ChatServicer):
    """Chat: unary, streaming, deferred and stored completions, context compaction."""

    def __init__(self, engine: ChatEngine) -> None:
        self.engine = engine

    async def GetCompletion(
        self, request: chat_pb2.GetCompletionsRequest, context: grpc.aio.ServicerContext
    ) -> chat_pb2.GetChatCompletionResponse:
        return await answer(context, lambda: self.engine.complete(request, call_context(context)))

    async def GetCompletionChunk(
        self, request: chat_pb2.GetCompletionsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[chat_pb2.GetChatCompletionChunk]:
        response = await answer(
            context, lambda: self.engine.complete(request, call_context(context))
        )
        for chunk in iter_chunks(response):
            yield chunk

    async def StartDeferredCompletion(
        self, request: chat_pb2.GetCompletionsRequest, context: grpc.aio.ServicerContext
    ) -> deferred_pb2.StartDeferredResponse:
        def work() -> deferred_pb2.StartDeferredResponse:
            response = self.engine.complete(request, call_context(context))
            return deferred_pb2.StartDeferredResponse(request_id=self.engine.store.defer(response))

        return await answer(context, work)

    async def GetDeferredCompletion(
        self, request: deferred_pb2.GetDeferredRequest, context: grpc.aio.ServicerContext
    ) -> chat_pb2.GetDeferredCompletionResponse:
        def work() -> chat_pb2.GetDeferredCompletionResponse:
            status, response = self.engine.store.fetch(request.request_id)
            result = chat_pb2.GetDeferredCompletionResponse(status=status)  # type: ignore[arg-type]
            if response is not None:
                result.response.CopyFrom(response)
            return result

        return await answer(context, work)

    async def GetStoredCompletion(
        self, request: chat_pb2.GetStoredCompletionRequest, context: grpc.aio.ServicerContext
    ) -> chat_pb2.GetChatCompletionResponse:
        return await answer(context, lambda: self.engine.store.get(request.response_id).response)

    async def DeleteStoredCompletion(
        self, request: chat_pb2.DeleteStoredCompletionRequest, context: grpc.aio.ServicerContext
    ) -> chat_pb2.DeleteStoredCompletionResponse:
        def work() -> chat_pb2.DeleteStoredCompletionResponse:
            self.engine.store.delete(request.response_id)
            return chat_pb2.DeleteStoredCompletionResponse(response_id=request.response_id)

        return await answer(context, work)

    async def CompactContext(
        self, request: chat_pb2.CompactContextRequest, context: grpc.aio.ServicerContext
    ) -> chat_pb2.CompactContextResponse:
        return await answer(context, lambda: self._compact(request))

    def _compact(self, request: chat_pb2.CompactContextRequest) -> chat_pb2.CompactContextResponse:
        model = resolve_language_model(self.engine.catalog, request.model)
        if not request.input:
            raise invalid("input must contain at least one message")
        messages = expand_compacted(request.input)
        keep = [m for m in messages if m.role == chat_pb2.ROLE_SYSTEM]
        rest = [m for m in messages if m.role != chat_pb2.ROLE_SYSTEM]
        dropped = max(0, len(rest) - COMPACT_KEEP_LAST)
        kept = keep + rest[dropped:]
        prompt = count_prompt(messages)
        usage = usage_pb2.SamplingUsage(
            prompt_tokens=prompt.total,
            prompt_text_tokens=prompt.text_tokens,
            prompt_image_tokens=prompt.image_tokens,
            total_tokens=prompt.total,
            cost_in_usd_ticks=chat_cost_ticks(
                model, prompt.text_tokens, 0, 0, 0, prompt.image_tokens
            ),
        )
        return chat_pb2.CompactContextResponse(
            id=str(uuid.uuid4()),
            encrypted_content=encode_compacted(kept),
            dropped_message_count=dropped,
            usage=usage,
        )
