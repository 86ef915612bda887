"""The sync and async clients send identical requests and fold identical Responses.

Both clients talk to the emulator through a recording proxy (a generic gRPC server
that forwards raw bytes). The sync client runs a set of calls first; the proxy records
every request (method, serialized bytes, metadata) and the raw reply. The async client
then runs the same calls: the proxy checks nothing but replays, for the n-th identical
request, the n-th recorded reply. So identical logs prove identical request protos and
metadata, and identical folded results prove one folding on identical bytes.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest

from xai_pipelines.emulator import Emulator, EmulatorConfig
from xai_pipelines.proto import (
    batch_pb2,
    chat_pb2,
    files_pb2,
    image_pb2,
    models_pb2,
    tokenize_pb2,
)
from xai_pipelines.sdk import Client, file, system, tool, user
from xai_pipelines.sdk.aio import AsyncClient

from .conftest import fast_policy

Key = tuple[str, bytes, tuple[tuple[str, str], ...]]
# Metadata gRPC itself adds (and the user agent, whose gRPC part differs between the
# sync and asyncio stacks; its first word, ours, is compared separately).
_TRANSPORT = ("grpc-", "user-agent", ":")


def _kinds() -> dict[str, tuple[bool, bool]]:
    kinds = {}
    for module in (chat_pb2, image_pb2, models_pb2, tokenize_pb2, batch_pb2, files_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for m in service.methods:
                kinds[f"/{service.full_name}/{m.name}"] = (m.client_streaming, m.server_streaming)
    return kinds


class Recorder(grpc.GenericRpcHandler):
    """Forwards raw calls to the emulator; records them; replays replies once recorded."""

    def __init__(self, upstream: grpc.Channel) -> None:
        self._upstream = upstream
        self._kinds = _kinds()
        self.replaying = False
        self.log: list[Key] = []
        self.agents: set[str] = set()
        self._replies: dict[Key, list[Any]] = collections.defaultdict(list)
        self._seen: collections.Counter[Key] = collections.Counter()

    def replay(self) -> list[Key]:
        """Switch to replaying; returns the log recorded so far."""
        log, self.log = self.log, []
        self._seen.clear()
        self.replaying = True
        return log

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = details.method
        client_streaming, server_streaming = self._kinds[method]
        metadata = tuple(details.invocation_metadata)
        kept = tuple((k, v) for k, v in metadata if not k.startswith(_TRANSPORT))
        self.agents |= {v.split()[0] for k, v in metadata if k == "user-agent"}

        def answer(body: bytes, context: grpc.ServicerContext) -> Any:
            try:
                return reply(body)
            except grpc.RpcError as exc:  # pass the emulator's refusal on as it is
                context.abort(exc.code(), exc.details())

        def reply(body: bytes) -> Any:
            key = (method, body, kept)
            self.log.append(key)
            n = self._seen[key]
            self._seen[key] += 1
            if self.replaying and n < len(self._replies[key]):
                return self._replies[key][n]
            if server_streaming:
                answer: Any = list(self._upstream.unary_stream(method)(body, metadata=kept))
            elif client_streaming:
                answer = self._upstream.stream_unary(method)(iter(_split(body)), metadata=kept)
            else:
                answer = self._upstream.unary_unary(method)(body, metadata=kept)
            if not self.replaying:
                self._replies[key].append(answer)
            return answer

        if client_streaming:
            return grpc.stream_unary_rpc_method_handler(lambda it, ctx: answer(_join(it), ctx))
        if server_streaming:
            return grpc.unary_stream_rpc_method_handler(lambda body, ctx: iter(answer(body, ctx)))
        return grpc.unary_unary_rpc_method_handler(answer)


def _join(chunks: Iterator[bytes]) -> bytes:
    # Length-prefixed, so the chunk boundaries of an upload are part of what is compared.
    return b"".join(len(c).to_bytes(4, "big") + c for c in chunks)


def _split(body: bytes) -> Iterator[bytes]:
    at = 0
    while at < len(body):
        size = int.from_bytes(body[at : at + 4], "big")
        yield body[at + 4 : at + 4 + size]
        at += 4 + size


@pytest.fixture
def proxied(emulator_factory) -> Iterator[tuple[Emulator, str, Recorder]]:
    emu = emulator_factory(EmulatorConfig(deferred_pending_s=0.05))
    upstream = grpc.insecure_channel(emu.address)
    recorder = Recorder(upstream)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((recorder,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield emu, f"127.0.0.1:{port}", recorder
    finally:
        server.stop(None).wait()
        upstream.close()


WEATHER = tool("get_weather", "Weather of a city", {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})  # fmt: skip
PARAMS: dict[str, Any] = {
    "temperature": 0.3, "top_p": 0.9, "max_tokens": 16, "seed": 11, "stop": ["\n\n"],
    "frequency_penalty": 0.1, "response_format": "text", "tools": [WEATHER],
    "tool_choice": "auto", "user": "u-1",
}  # fmt: skip
MODEL = "grok-4.20-non-reasoning"  # takes temperature and stop (issue 8)
MESSAGES = [system("Be terse."), user("Weather in Paris?", file(b"%PDF-1.4 p", filename="p.pdf"))]


def plain(value: Any) -> Any:
    """A comparable form of a result (Responses, images, records)."""
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "to_dict"):
        data = value.to_dict()
        for extra in ("attempts",):
            if hasattr(value, extra):
                data[extra] = getattr(value, extra)
        return data
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def run_sync(client: Client) -> list[Any]:
    out: list[Any] = []
    chat = client.chat.create(MODEL, messages=MESSAGES, conversation_id="conv-p", **PARAMS)
    out.append(chat.sample())
    many = client.chat.create(MODEL, messages=[user("Pick a word.")], **PARAMS)
    out.append(many.sample_batch(2))
    out.append([(plain(r), c.content, c.attempt) for r, c in chat.stream()])
    out.append([(plain(rs), c.content) for rs, c in many.stream_batch(2)])
    out.append(chat.defer(timeout=30, interval=0.01))
    out.append(client.chat.create("grok-4.3", [user("A colour as JSON.")], seed=3).parse(
        {"type": "object", "properties": {"name": {"type": "string"}}}))  # fmt: skip
    out.append(chat.append(out[0]).compact())
    out.append(client.image.sample("a fox", aspect_ratio="16:9", image_url=b"\x89PNG\r\n\x1a\nx"))
    out.append(client.image.sample_batch("a fox", 2, image_format="url"))
    out.append(client.models.list_language_models())
    out.append(client.models.get_image_generation_model("grok-imagine-image"))
    out.append(client.tokenize.tokenize_text("Hello parity", "grok-4.3"))
    out.append(client.files.upload(b"%PDF-1.4 parity" * 300, filename="q.pdf", chunk_bytes=1000))
    out.append(client.files.list(limit=5, order="asc", sort_by="filename"))
    batch = client.batch.create("parity")
    client.batch.add_requests(
        batch.batch_id, [("c1", client.chat.create("grok-4.3", [user("b")], seed=1))]
    )
    out.append(client.batch.list_request_metadata(batch.batch_id, states=["pending", "succeeded"]))
    return out


async def run_async(client: AsyncClient) -> list[Any]:
    out: list[Any] = []
    chat = client.chat.create(MODEL, messages=MESSAGES, conversation_id="conv-p", **PARAMS)
    out.append(await chat.sample())
    many = client.chat.create(MODEL, messages=[user("Pick a word.")], **PARAMS)
    out.append(await many.sample_batch(2))
    out.append([(plain(r), c.content, c.attempt) async for r, c in chat.stream()])
    out.append([(plain(rs), c.content) async for rs, c in many.stream_batch(2)])
    out.append(await chat.defer(timeout=30, interval=0.01))
    out.append(await client.chat.create("grok-4.3", [user("A colour as JSON.")], seed=3).parse(
        {"type": "object", "properties": {"name": {"type": "string"}}}))  # fmt: skip
    out.append(await chat.append(out[0]).compact())
    out.append(
        await client.image.sample("a fox", aspect_ratio="16:9", image_url=b"\x89PNG\r\n\x1a\nx")
    )
    out.append(await client.image.sample_batch("a fox", 2, image_format="url"))
    out.append(await client.models.list_language_models())
    out.append(await client.models.get_image_generation_model("grok-imagine-image"))
    out.append(await client.tokenize.tokenize_text("Hello parity", "grok-4.3"))
    out.append(
        await client.files.upload(b"%PDF-1.4 parity" * 300, filename="q.pdf", chunk_bytes=1000)
    )
    out.append(await client.files.list(limit=5, order="asc", sort_by="filename"))
    batch = await client.batch.create("parity")
    await client.batch.add_requests(
        batch.batch_id, [("c1", client.chat.create("grok-4.3", [user("b")], seed=1))]
    )
    out.append(
        await client.batch.list_request_metadata(batch.batch_id, states=["pending", "succeeded"])
    )
    return out


@pytest.mark.slow
def test_sync_and_async_clients_send_the_same_bytes_and_fold_the_same_results(proxied):
    emu, address, recorder = proxied
    options: dict[str, Any] = {"retry_policy": fast_policy(), "metadata": {"x-team": "parity"}}
    with Client(api_key=emu.api_key, api_host=address, **options) as client:
        sync_results = run_sync(client)
    sync_log = recorder.replay()

    async def main() -> list[Any]:
        async with AsyncClient(api_key=emu.api_key, api_host=address, **options) as client:
            return await run_async(client)

    async_results = asyncio.run(main())
    assert len(sync_log) >= 20
    methods = {method.rsplit("/", 1)[1] for method, _, _ in sync_log}
    assert {"GetCompletion", "GetCompletionChunk", "StartDeferredCompletion", "UploadFile",
            "CompactContext", "GenerateImage", "TokenizeText", "AddBatchRequests"} <= methods  # fmt: skip
    for (s_method, s_body, s_md), (a_method, a_body, a_md) in zip(
        sync_log, recorder.log, strict=True
    ):
        assert (s_method, s_md) == (a_method, a_md)
        assert s_body == a_body, s_method
    first_chat = next(md for method, _, md in sync_log if method.endswith("/GetCompletion"))
    assert ("x-grok-conv-id", "conv-p") in first_chat and ("x-team", "parity") in first_chat
    assert any(agent.startswith("xai-pipelines/") for agent in recorder.agents)
    for index, (sync_result, async_result) in enumerate(
        zip(sync_results, async_results, strict=True)
    ):
        assert plain(sync_result) == plain(async_result), index
