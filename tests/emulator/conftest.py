"""Helpers for emulator tests: bare generated stubs over loopback."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from xai_pipelines.emulator import Emulator
from xai_pipelines.proto import (
    batch_pb2_grpc,
    chat_pb2,
    chat_pb2_grpc,
    image_pb2_grpc,
    models_pb2_grpc,
    tokenize_pb2_grpc,
)


@dataclass
class Stubs:
    """Generated stubs on one channel, plus the auth metadata to send."""

    channel: grpc.Channel
    metadata: tuple[tuple[str, str], ...]
    chat: chat_pb2_grpc.ChatStub
    image: image_pb2_grpc.ImageStub
    models: models_pb2_grpc.ModelsStub
    tokenize: tokenize_pb2_grpc.TokenizeStub
    batch: batch_pb2_grpc.BatchMgmtStub

    def complete(self, **fields: Any) -> chat_pb2.GetChatCompletionResponse:
        """GetCompletion with a request built from ``fields`` (see :func:`chat_request`)."""
        return self.chat.GetCompletion(chat_request(**fields), metadata=self.metadata)

    def stream(self, **fields: Any) -> list[chat_pb2.GetChatCompletionChunk]:
        """All chunks of GetCompletionChunk."""
        return list(self.chat.GetCompletionChunk(chat_request(**fields), metadata=self.metadata))


def connect(emu: Emulator, key: str | None = None, own_connection: bool = False) -> Stubs:
    """Stubs for ``emu`` authenticated with ``key`` (default: a key it accepts).

    Channels with equal arguments share one connection (gRPC's global subchannel
    pool); ``own_connection`` gives this channel a connection of its own.
    """
    options = [("grpc.use_local_subchannel_pool", 1)] if own_connection else []
    channel = grpc.insecure_channel(emu.address, options=options)
    metadata = (("authorization", f"Bearer {key or emu.api_key}"),)
    return Stubs(
        channel,
        metadata,
        chat_pb2_grpc.ChatStub(channel),
        image_pb2_grpc.ImageStub(channel),
        models_pb2_grpc.ModelsStub(channel),
        tokenize_pb2_grpc.TokenizeStub(channel),
        batch_pb2_grpc.BatchMgmtStub(channel),
    )


def user(text: str) -> chat_pb2.Message:
    """A user message."""
    return chat_pb2.Message(role=chat_pb2.ROLE_USER, content=[chat_pb2.Content(text=text)])


def system(text: str) -> chat_pb2.Message:
    """A system message."""
    return chat_pb2.Message(role=chat_pb2.ROLE_SYSTEM, content=[chat_pb2.Content(text=text)])


def chat_request(prompt: str = "Hello", **fields: Any) -> chat_pb2.GetCompletionsRequest:
    """A GetCompletionsRequest for ``prompt`` (model grok-4 unless given)."""
    fields.setdefault("model", "grok-4")
    fields.setdefault("messages", [user(prompt)])
    return chat_pb2.GetCompletionsRequest(**fields)


@pytest.fixture
def stubs(emulator: Emulator) -> Iterator[Stubs]:
    """Stubs on the session emulator."""
    s = connect(emulator)
    yield s
    s.channel.close()


def rpc_error(call: Any, *args: Any, **kwargs: Any) -> grpc.RpcError:
    """Call and return the RpcError it raises (fails the test when it succeeds)."""
    try:
        call(*args, **kwargs)
    except grpc.RpcError as exc:
        return exc
    pytest.fail("expected an RpcError")
