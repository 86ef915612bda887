"""What the client puts on the wire, seen by a recording server on loopback (real gRPC).

The servicers here answer with whatever a test scripts (empty replies included),
so the client's side of the contract is checked independently of the emulator.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest

from tests.sdk.conftest import fast_policy
from xai_pipelines.proto import (
    chat_pb2,
    chat_pb2_grpc,
    deferred_pb2,
    files_pb2,
    files_pb2_grpc,
    image_pb2,
    image_pb2_grpc,
    usage_pb2,
)
from xai_pipelines.sdk import Client, EmptyResponseError, user
from xai_pipelines.sdk.errors import (
    InvalidResponseError,
    StructuredOutputError,
    UnavailableError,
)

KEY = "sk-wire-test"


@dataclass
class Seen:
    """Requests and metadata as they arrived, and the replies to give."""

    requests: list[tuple[str, Any, dict[str, str]]] = field(default_factory=list)
    empty: bool = False
    keep_outputs: int | None = None  # answer with only this many outputs
    upload_failures: int = 0

    def add(self, method: str, request: Any, context: grpc.ServicerContext) -> None:
        self.requests.append((method, request, dict(context.invocation_metadata())))


def _reply(
    request: chat_pb2.GetCompletionsRequest, empty: bool
) -> chat_pb2.GetChatCompletionResponse:
    reply = chat_pb2.GetChatCompletionResponse(id="r-1", model=request.model)
    for i in range(0 if empty else max(request.n, 1)):
        reply.outputs.add(
            index=i,
            finish_reason=1,
            message=chat_pb2.CompletionMessage(content=f"a{i}", role=chat_pb2.ROLE_ASSISTANT),
        )
    return reply


class Chat(chat_pb2_grpc.ChatServicer):
    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    def GetCompletion(self, request, context):
        self.seen.add("GetCompletion", request, context)
        reply = _reply(request, self.seen.empty)
        if self.seen.keep_outputs is not None:
            del reply.outputs[self.seen.keep_outputs :]
        return reply

    def GetCompletionChunk(self, request, context):
        self.seen.add("GetCompletionChunk", request, context)
        reply = _reply(request, self.seen.empty)
        yield chat_pb2.GetChatCompletionChunk(id="r-1", model=request.model)
        for out in reply.outputs:
            yield chat_pb2.GetChatCompletionChunk(
                id="r-1",
                outputs=[
                    chat_pb2.CompletionOutputChunk(
                        index=out.index,
                        finish_reason=out.finish_reason,
                        delta=chat_pb2.Delta(content=out.message.content, role=out.message.role),
                    )
                ],
            )

    def StartDeferredCompletion(self, request, context):
        self.seen.add("StartDeferredCompletion", request, context)
        self.deferred = request
        return deferred_pb2.StartDeferredResponse(request_id="d-1")

    def GetDeferredCompletion(self, request, context):
        self.seen.add("GetDeferredCompletion", request, context)
        return chat_pb2.GetDeferredCompletionResponse(
            status=deferred_pb2.DONE, response=_reply(self.deferred, self.seen.empty)
        )

    def GetStoredCompletion(self, request, context):
        self.seen.add("GetStoredCompletion", request, context)
        return chat_pb2.GetChatCompletionResponse(id=request.response_id)

    def CompactContext(self, request, context):
        self.seen.add("CompactContext", request, context)
        return chat_pb2.CompactContextResponse(id="c-1", encrypted_content="enc")


class Image(image_pb2_grpc.ImageServicer):
    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    def GenerateImage(self, request, context):
        self.seen.add("GenerateImage", request, context)
        count = 0 if self.seen.empty else request.n
        return image_pb2.ImageResponse(
            model=request.model,
            images=[image_pb2.GeneratedImage(base64="AAAA") for _ in range(count)],
            usage=usage_pb2.SamplingUsage(),
        )


class Files(files_pb2_grpc.FilesServicer):
    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    def UploadFile(self, request_iterator, context):
        chunks = list(request_iterator)
        self.seen.add("UploadFile", chunks, context)
        if self.seen.upload_failures:
            self.seen.upload_failures -= 1
            context.abort(grpc.StatusCode.UNAVAILABLE, "try again")
        data = b"".join(c.data for c in chunks)
        return files_pb2.File(id=f"file-{len(data)}", filename=chunks[0].init.name, size=len(data))


@pytest.fixture
def wire() -> Iterator[tuple[Client, Seen]]:
    seen = Seen()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    chat_pb2_grpc.add_ChatServicer_to_server(Chat(seen), server)
    image_pb2_grpc.add_ImageServicer_to_server(Image(seen), server)
    files_pb2_grpc.add_FilesServicer_to_server(Files(seen), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    client = Client(api_key=KEY, api_host=f"127.0.0.1:{port}", retry_policy=fast_policy())
    try:
        yield client, seen
    finally:
        client.close()
        server.stop(None)


def _sent(seen: Seen, method: str) -> list[Any]:
    return [request for name, request, _ in seen.requests if name == method]


def test_single_calls_send_n_1_and_batches_send_n(wire):
    client, seen = wire
    chat = client.chat.create("m", messages=[user("hi")], n=5)  # single calls override n
    assert chat.sample().content == "a0"
    *_, (streamed, _) = chat.stream()
    assert streamed.content == "a0"
    assert chat.defer(interval=0.001).content == "a0"
    with pytest.raises(StructuredOutputError):  # "a0" is not JSON; the request went out
        chat.parse({"type": "string"})
    assert [r.content for r in chat.sample_batch(3)] == ["a0", "a1", "a2"]
    *_, (answers, _) = chat.stream_batch(2)
    assert [r.content for r in answers] == ["a0", "a1"]
    ns = [r.n for r in _sent(seen, "GetCompletion")]
    assert ns == [1, 1, 3]  # sample, parse, sample_batch
    assert [r.n for r in _sent(seen, "GetCompletionChunk")] == [1, 2]
    assert [r.n for r in _sent(seen, "StartDeferredCompletion")] == [1]
    assert all(r.HasField("n") for r in _sent(seen, "GetCompletion"))


def test_image_sample_sends_n_1(wire):
    client, seen = wire
    assert client.image.sample("a fox", "img-model").image == b"\x00\x00\x00"
    assert len(client.image.sample_batch("a fox", 2, "img-model")) == 2
    [single, batch] = _sent(seen, "GenerateImage")
    assert single.HasField("n") and single.n == 1 and batch.n == 2


def test_conversation_id_is_metadata_on_every_call_of_the_chat(wire):
    client, seen = wire
    chat = client.chat.create("m", messages=[user("hi")], conversation_id="conv-1")
    chat.sample()
    list(chat.stream())
    chat.defer(interval=0.001)
    chat.compact()
    client.chat.create("m", messages=[user("other")]).sample()
    ids = [(name, meta.get("x-grok-conv-id")) for name, _, meta in seen.requests]
    assert ids == [
        ("GetCompletion", "conv-1"),
        ("GetCompletionChunk", "conv-1"),
        ("StartDeferredCompletion", "conv-1"),
        ("GetDeferredCompletion", "conv-1"),
        ("CompactContext", "conv-1"),
        ("GetCompletion", None),
    ]
    assert all(meta["authorization"] == f"Bearer {KEY}" for _, _, meta in seen.requests)


@pytest.mark.parametrize("call", ["sample", "stream", "defer", "sample_batch", "stored", "image"])
def test_a_reply_without_outputs_is_an_error_not_an_empty_answer(wire, call):
    client, seen = wire
    seen.empty = True
    chat = client.chat.create("m", messages=[user("hi")])
    run = {
        "sample": chat.sample,
        "stream": lambda: list(chat.stream()),
        "defer": lambda: chat.defer(interval=0.001),
        "sample_batch": lambda: chat.sample_batch(2),
        "stored": lambda: client.chat.get_stored_completion("r-9"),
        "image": lambda: client.image.sample("a fox", "img-model"),
    }[call]
    with pytest.raises(EmptyResponseError) as info:
        run()
    assert isinstance(info.value, InvalidResponseError) and info.value.code == "EMPTY_RESPONSE"
    assert "no output" in str(info.value) or "no image" in str(info.value)


def test_a_missing_index_of_a_batch_is_an_error(wire):
    client, seen = wire
    seen.keep_outputs = 1
    chat = client.chat.create("m", messages=[user("hi")])
    with pytest.raises(EmptyResponseError, match="no output for index 1, 2 of n=3"):
        chat.sample_batch(3)


def test_uploads_stream_an_init_chunk_first_and_a_retry_resends_everything(wire):
    client, seen = wire
    seen.upload_failures = 1
    data = bytes(range(256)) * 10
    info = client.files.upload(data, filename="d.bin", expires_after=60, chunk_bytes=1000)
    assert info.id == f"file-{len(data)}" and info.filename == "d.bin"
    first, second = _sent(seen, "UploadFile")
    for chunks in (first, second):
        assert chunks[0].WhichOneof("chunk") == "init"
        assert chunks[0].init.name == "d.bin" and chunks[0].init.expires_after == 60
        assert [len(c.data) for c in chunks[1:]] == [1000, 1000, 560]
    seen.upload_failures = 9
    with pytest.raises(UnavailableError):
        client.files.upload(data, filename="d.bin")


def test_local_file_parts_are_uploaded_when_the_chat_is_sent(wire, tmp_path):
    from xai_pipelines.sdk import file

    client, seen = wire
    path = tmp_path / "a.pdf"
    path.write_bytes(b"%PDF-1.4 tiny")
    chat = client.chat.create("m", messages=[user("read", file(path))])
    assert chat.request.messages[0].content[1].file.data  # inline until sent
    assert not _sent(seen, "UploadFile")
    chat.sample()
    chat.sample()
    [upload] = _sent(seen, "UploadFile")
    assert upload[0].init.name == "a.pdf"
    sent = [r.messages[0].content[1].file for r in _sent(seen, "GetCompletion")]
    assert [(f.file_id, f.data) for f in sent] == [("file-13", b"")] * 2
