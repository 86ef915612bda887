"""The asyncio client against the emulator over real loopback gRPC: every public call.

Coroutines run with ``asyncio.run`` inside plain test functions; each builds its
``AsyncClient`` inside the loop (a ``grpc.aio`` channel belongs to one loop).
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from opentelemetry import trace

from xai_pipelines.emulator import Emulator, EmulatorConfig
from xai_pipelines.sdk import CompactResult, Response, file, system, tool, tool_result, user
from xai_pipelines.sdk.aio import (
    AsyncBatchClient,
    AsyncChat,
    AsyncChatClient,
    AsyncClient,
    AsyncFilesClient,
    AsyncFileUploads,
    AsyncImageClient,
    AsyncImageResponse,
    AsyncModelsClient,
    AsyncTokenizeClient,
)
from xai_pipelines.sdk.errors import (
    AuthenticationError,
    DeferredTimeoutError,
    InvalidApiKeyError,
    MissingApiKeyError,
    NotFoundError,
    RequestValidationError,
)
from xai_pipelines.sdk.image import build_image_request

from .conftest import fast_policy

T = TypeVar("T")
SEEDED = {"seed": 7, "max_tokens": 24, "temperature": 0}
SECRET = "xai-secret-key-0123456789"


def run(emu: Emulator, body: Callable[[AsyncClient], Awaitable[T]], **options: Any) -> T:
    """Run ``body(client)`` on a fresh event loop with an AsyncClient on ``emu``."""
    options.setdefault("retry_policy", fast_policy())

    async def main() -> T:
        async with AsyncClient(api_key=emu.api_key, api_host=emu.address, **options) as client:
            return await body(client)

    return asyncio.run(main())


def without_id(response: Response) -> dict:
    data = response.to_dict()
    data.pop("id")
    data.pop("created")
    return data


def test_sample_batch_stream_and_stream_batch_fold_like_each_other(emulator):
    async def body(client: AsyncClient) -> None:
        chat = client.chat.create("grok-4.3", messages=[system("Be terse."), user("Hi")], **SEEDED)
        assert isinstance(chat, AsyncChat) and chat.model == "grok-4.3"
        unary = await chat.sample()
        assert unary.content and unary.attempts == 1 and unary.usage.total_tokens > 0
        pieces, final = [], None
        async for so_far, chunk in chat.stream():
            pieces.append(chunk.content)
            final = so_far
            assert chunk.attempt == 1
        assert final is not None and "".join(pieces) == final.content
        assert without_id(final) == without_id(unary) and final.ttft_s is not None
        answers = await chat.sample_batch(3)
        assert [r.index for r in answers] == [0, 1, 2]
        indices: set[int] = set()
        last: list[Response] = []
        async for responses, chunk in chat.stream_batch(2):
            indices |= {c.index for c in chunk.choices}
            last = responses
        assert indices == {0, 1}
        pair = await chat.sample_batch(2)
        assert [without_id(r) for r in last] == [without_id(r) for r in pair]
        with pytest.raises(RequestValidationError):
            await chat.sample_batch(0)

    run(emulator, body)


def test_defer_defer_batch_and_time_limit(emulator_factory):
    emu = emulator_factory(EmulatorConfig(deferred_pending_s=0.05))

    async def body(client: AsyncClient) -> None:
        chat = client.chat.create("grok-4.3", messages=[user("Later, please.")], **SEEDED)
        unary = await chat.sample()
        deferred = await chat.defer(timeout=30, interval=0.01)
        assert without_id(deferred) == without_id(unary)
        batch = await chat.defer_batch(2, timeout=30, interval=0.01)
        assert [r.index for r in batch] == [0, 1]
        with pytest.raises(DeferredTimeoutError) as info:
            await chat.defer(timeout=0.0, interval=0.01)
        assert info.value.deferred_id

    run(emu, body)


@dataclasses.dataclass
class Colour:
    name: str
    hex: str


def test_parse_tools_append_and_compact(emulator):
    async def body(client: AsyncClient) -> None:
        chat = client.chat.create("grok-4.3", messages=[user("A colour as JSON.")], seed=3)
        parsed = await chat.parse(Colour)
        assert isinstance(parsed, Colour) and parsed.name
        weather = tool("get_weather", "Weather of a city", {
            "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})  # fmt: skip
        chat = client.chat.create(
            "grok-4.3", messages=[user("Weather in Paris?")], tools=[weather],
            tool_choice="required", seed=1,
        )  # fmt: skip
        r = await chat.sample()
        [call] = r.tool_calls
        assert call.name == "get_weather"
        assert chat.append(r).append(tool_result({"temp": 20}, call.id)) is chat
        assert chat.messages[-1].tool_call_id == call.id
        result = await chat.compact()
        assert isinstance(result, CompactResult) and len(chat.messages) == 1
        again = await client.chat.compact_context("grok-4.3", [user("a"), user("b")])
        assert again.encrypted_content

    run(emulator, body)


def test_stored_completions_and_conversation_metadata(emulator):
    async def body(client: AsyncClient) -> None:
        chat = client.chat.create(
            "grok-4.3", messages=[user("Keep this.")], store_messages=True,
            conversation_id="conv-aio", **SEEDED,
        )  # fmt: skip
        assert chat.conversation_id == "conv-aio"
        r = await chat.sample()
        [stored] = await client.chat.get_stored_completion(r.id)
        assert stored.content == r.content
        assert await client.chat.delete_stored_completion(r.id) == r.id
        with pytest.raises(NotFoundError):
            await client.chat.get_stored_completion(r.id)

    run(emulator, body)


def test_local_file_parts_are_uploaded_once(emulator_factory):
    emu = emulator_factory()

    async def body(client: AsyncClient) -> None:
        data = b"%PDF-1.4 aio notes"
        chat = client.chat.create("grok-4.3", messages=[user("Read", file(data, filename="n.pdf"))])
        assert chat.request.messages[0].content[1].file.data == data  # inline until sent
        await asyncio.gather(chat.sample(), chat.sample())
        file_id = chat.messages[0].content[1].file.file_id
        assert file_id and len(client.uploads) == 1
        same = await asyncio.gather(*(client.uploads.file_id(data) for _ in range(5)))
        assert set(same) == {file_id}
        assert (await chat.batch_request()).messages[0].content[1].file.file_id == file_id

    run(emu, body)
    assert emu.stats.calls["UploadFile"] == 1


def test_images_base64_url_batch_and_save(emulator, tmp_path: Path):
    async def body(client: AsyncClient) -> None:
        img = await client.image.sample("a red fox", image_format="base64")
        assert isinstance(img, AsyncImageResponse) and img.url is None
        data = await img.image
        assert data and await img.mime_type and (await img.base64)
        saved = await img.save(tmp_path / "fox")
        assert saved.read_bytes() == data and saved.suffix
        by_url = await client.image.sample("a red fox", image_format="url")
        assert by_url.url and await by_url.image and await by_url.base64
        many = await client.image.sample_batch("a red fox", 3)
        assert [i.index for i in many] == [0, 1, 2] and many[0].to_dict()["usage"]
        with pytest.raises(RequestValidationError):
            await client.image.sample("x", n=2)
        from xai_pipelines.proto import image_pb2

        assert client.image.wrap(image_pb2.ImageResponse(model="m")) == []
        edited = await client.image.sample(
            "blend", image_url=data, image_urls=[data], aspect_ratio="16:9"
        )
        assert edited.attempts == 1

    run(emulator, body)


def test_models_and_tokenize(emulator):
    async def body(client: AsyncClient) -> None:
        language = await client.models.list_language_models()
        names = {m.name for m in language}
        assert "grok-4.3" in names
        assert (await client.models.get_language_model("grok-4.3")).name == "grok-4.3"
        images = await client.models.list_image_generation_models()
        one = await client.models.get_image_generation_model(images[0].name)
        assert one == images[0]
        with pytest.raises(NotFoundError):
            await client.models.get_language_model("no-such-model")
        tokens = await client.tokenize.tokenize_text("Hello world", "grok-4.3")
        assert tokens and await client.tokenize.count_tokens("Hello world", "grok-4.3") == len(
            tokens
        )

    run(emulator, body)


def test_batch_lifecycle(emulator_factory):
    emu = emulator_factory()

    async def body(client: AsyncClient) -> None:
        batch = await client.batch.create("aio")
        chats = [(f"q{i}", client.chat.create("grok-4.3", [user(f"Question {i}")], max_tokens=5, seed=i))
                 for i in range(3)]  # fmt: skip
        await client.batch.add_requests(batch.batch_id, chats)
        await client.batch.add_requests(
            batch.batch_id, [("img", build_image_request("a fox", n=2))]
        )
        await client.batch.add_requests(batch.batch_id, [])
        for _ in range(500):
            info = await client.batch.get(batch.batch_id)
            if info.done:
                break
            await asyncio.sleep(0.02)
        assert info.num_requests == 4 and info.num_success == 4
        page = await client.batch.list_results(batch.batch_id, limit=2)
        assert len(page.results) == 2 and page.pagination_token
        results = {
            r.batch_request_id: r
            async for r in client.batch.iter_results(batch.batch_id, page_size=2)
        }
        assert set(results) == {"q0", "q1", "q2", "img"}
        direct = await client.chat.create(
            "grok-4.3", [user("Question 1")], max_tokens=5, seed=1
        ).sample()
        assert (
            results["q1"].response is not None and results["q1"].response.content == direct.content
        )
        images = results["img"].images
        assert len(images) == 2 and isinstance(images[0], AsyncImageResponse)
        assert await images[0].image  # type: ignore[misc]
        metadata, _ = await client.batch.list_request_metadata(batch.batch_id, states=["succeeded"])
        assert len(metadata) == 4
        every = [m async for m in client.batch.iter_request_metadata(batch.batch_id, page_size=3)]
        assert sorted(m.batch_request_id for m in every) == ["img", "q0", "q1", "q2"]
        request, result = await client.batch.get_request_result(batch.batch_id, "q0")
        assert request.completion_request.model == "grok-4.3" and result is not None and result.ok
        batches, _ = await client.batch.list(limit=10)
        assert batch.batch_id in {b.batch_id for b in batches}
        assert batch.batch_id in {b.batch_id async for b in client.batch.iter_batches(page_size=1)}
        doomed = await client.batch.create("doomed")
        cancelled = await client.batch.cancel(doomed.batch_id)
        assert cancelled.cancel_time is not None

    run(emu, body)


def test_files_every_call(emulator_factory, tmp_path: Path):
    emu = emulator_factory()

    async def body(client: AsyncClient) -> None:
        data = bytes(range(256)) * 40
        info = await client.files.upload(
            data, filename="a.pdf", chunk_bytes=1000, expires_after=3600
        )
        assert info.size == len(data) and info.expires_at is not None
        path = tmp_path / "notes.txt"
        path.write_text("hello files")
        other = await client.files.upload(path)
        assert other.filename == "notes.txt"
        assert await client.files.get(info.id) == info
        assert await client.files.content(info.id) == data
        page = await client.files.list(limit=1, sort_by="filename")
        assert [f.filename for f in page.files] == ["a.pdf"] and page.pagination_token
        names = [f.filename async for f in client.files.iter_files(page_size=1, sort_by="filename")]
        assert names == ["a.pdf", "notes.txt"]
        public = await client.files.create_public_url(info.id, expires_after=3600)
        assert public.public_url
        revoked = await client.files.revoke_public_url(info.id)
        assert revoked.revoked and revoked.public_url == public.public_url
        assert (await client.files.delete(info.id)).deleted
        with pytest.raises(NotFoundError):
            await client.files.get(info.id)
        with pytest.raises(RequestValidationError):
            await client.files.upload(tmp_path / "missing.bin")
        uploads = AsyncFileUploads(client.files, expires_after=7200)
        ids = await asyncio.gather(*(uploads.file_id(path) for _ in range(4)))
        assert len(set(ids)) == 1 and len(uploads) == 1 and list(uploads.ids.values()) == ids[:1]

    run(emu, body)
    assert emu.stats.calls["UploadFile"] == 3


def test_keys_errors_and_spans(emulator_factory, spans, monkeypatch):
    provider, exporter = spans
    monkeypatch.delenv("XAI_API_KEY", raising=False)
    with pytest.raises(MissingApiKeyError):
        AsyncClient()
    with pytest.raises(InvalidApiKeyError) as bad:
        AsyncClient(api_key="xai-abc\u2013def")
    assert "abc" not in str(bad.value)
    emu = emulator_factory(EmulatorConfig(api_keys=("the-right-key",)))
    monkeypatch.setenv("XAI_API_KEY", " the-right-key\n")  # stripped, as the sync client does

    async def body() -> None:
        async with AsyncClient(api_host=emu.address, tracer_provider=provider) as client:
            assert "plaintext" in repr(client) and client.open_channels == 0
            with trace.get_tracer("test", tracer_provider=provider).start_as_current_span("job"):
                chat = client.chat.create("grok-4.3", messages=[user("Hi")], seed=1)
                await chat.sample()
                async for _ in chat.stream():
                    pass
            assert client.open_channels == 1
        async with AsyncClient(
            api_key=SECRET, api_host=emu.address, tracer_provider=provider
        ) as wrong:
            with pytest.raises(AuthenticationError) as info:
                await wrong.models.list_language_models()
            assert SECRET not in str(info.value) and info.value.__cause__ is not None
            with pytest.raises(AuthenticationError):
                async for _ in wrong.chat.create("grok-4.3", [user("x")]).stream():
                    pass
        with pytest.raises(RuntimeError, match="closed"):
            await client.tokenize.count_tokens("x", "grok-4.3")

    asyncio.run(body())
    finished = {
        s.name: s for s in exporter.get_finished_spans() if s.status.status_code.name != "ERROR"
    }
    job = finished["job"]
    for name in ("chat.sample grok-4.3", "chat.stream grok-4.3"):
        span = finished[name]
        assert span.parent is not None and span.parent.span_id == job.context.span_id
        assert span.attributes["xai.attempts"] == 1 and span.attributes["gen_ai.request.seed"] == 1
    assert finished["chat.stream grok-4.3"].attributes["xai.ttft_s"] >= 0
    failed = [s for s in exporter.get_finished_spans() if s.status.status_code.name == "ERROR"]
    errors = sorted((s.name, s.attributes["error.type"]) for s in failed)
    assert errors == [
        ("chat.stream grok-4.3", "UNAUTHENTICATED"),
        ("models.ListLanguageModels", "UNAUTHENTICATED"),
        ("tokenize.text grok-4.3", "RuntimeError"),  # a call on the closed client
    ]
    for span in failed:
        text = repr(span.attributes) + repr([e.attributes for e in span.events])
        assert SECRET not in text


# Every public call of the async client and the test(s) above that exercise it.
COVERAGE: dict[str, tuple[str, ...]] = {
    "AsyncChatClient.create": ("test_sample_batch_stream_and_stream_batch_fold_like_each_other",),
    "AsyncChatClient.get_stored_completion": ("test_stored_completions_and_conversation_metadata",),
    "AsyncChatClient.delete_stored_completion": (
        "test_stored_completions_and_conversation_metadata",
    ),
    "AsyncChatClient.compact_context": ("test_parse_tools_append_and_compact",),
    "AsyncChat.append": ("test_parse_tools_append_and_compact",),
    "AsyncChat.batch_request": ("test_local_file_parts_are_uploaded_once",),
    "AsyncChat.compact": ("test_parse_tools_append_and_compact",),
    "AsyncChat.sample": ("test_sample_batch_stream_and_stream_batch_fold_like_each_other",),
    "AsyncChat.sample_batch": ("test_sample_batch_stream_and_stream_batch_fold_like_each_other",),
    "AsyncChat.stream": ("test_sample_batch_stream_and_stream_batch_fold_like_each_other",),
    "AsyncChat.stream_batch": ("test_sample_batch_stream_and_stream_batch_fold_like_each_other",),
    "AsyncChat.defer": ("test_defer_defer_batch_and_time_limit",),
    "AsyncChat.defer_batch": ("test_defer_defer_batch_and_time_limit",),
    "AsyncChat.parse": ("test_parse_tools_append_and_compact",),
    "AsyncImageClient.sample": ("test_images_base64_url_batch_and_save",),
    "AsyncImageClient.sample_batch": ("test_images_base64_url_batch_and_save",),
    "AsyncImageClient.wrap": ("test_images_base64_url_batch_and_save",),
    "AsyncImageClient.close": ("test_images_base64_url_batch_and_save",),  # by AsyncClient.close
    "AsyncImageResponse.save": ("test_images_base64_url_batch_and_save",),
    "AsyncImageResponse.to_dict": ("test_images_base64_url_batch_and_save",),
    "AsyncModelsClient.list_language_models": ("test_models_and_tokenize",),
    "AsyncModelsClient.get_language_model": ("test_models_and_tokenize",),
    "AsyncModelsClient.list_image_generation_models": ("test_models_and_tokenize",),
    "AsyncModelsClient.get_image_generation_model": ("test_models_and_tokenize",),
    "AsyncTokenizeClient.tokenize_text": ("test_models_and_tokenize",),
    "AsyncTokenizeClient.count_tokens": ("test_models_and_tokenize",),
    "AsyncBatchClient.create": ("test_batch_lifecycle",),
    "AsyncBatchClient.add_requests": ("test_batch_lifecycle",),
    "AsyncBatchClient.get": ("test_batch_lifecycle",),
    "AsyncBatchClient.cancel": ("test_batch_lifecycle",),
    "AsyncBatchClient.list": ("test_batch_lifecycle",),
    "AsyncBatchClient.iter_batches": ("test_batch_lifecycle",),
    "AsyncBatchClient.list_results": ("test_batch_lifecycle",),
    "AsyncBatchClient.iter_results": ("test_batch_lifecycle",),
    "AsyncBatchClient.list_request_metadata": ("test_batch_lifecycle",),
    "AsyncBatchClient.iter_request_metadata": ("test_batch_lifecycle",),
    "AsyncBatchClient.get_request_result": ("test_batch_lifecycle",),
    "AsyncFilesClient.upload": ("test_files_every_call",),
    "AsyncFilesClient.list": ("test_files_every_call",),
    "AsyncFilesClient.iter_files": ("test_files_every_call",),
    "AsyncFilesClient.get": ("test_files_every_call",),
    "AsyncFilesClient.content": ("test_files_every_call",),
    "AsyncFilesClient.delete": ("test_files_every_call",),
    "AsyncFilesClient.create_public_url": ("test_files_every_call",),
    "AsyncFilesClient.revoke_public_url": ("test_files_every_call",),
    "AsyncFileUploads.file_id": (
        "test_files_every_call",
        "test_local_file_parts_are_uploaded_once",
    ),
    "AsyncFileUploads.resolve": ("test_local_file_parts_are_uploaded_once",),
    "AsyncClient.close": ("test_keys_errors_and_spans",),
}
CLASSES = (AsyncChatClient, AsyncChat, AsyncImageClient, AsyncImageResponse, AsyncModelsClient,
           AsyncTokenizeClient, AsyncBatchClient, AsyncFilesClient, AsyncFileUploads, AsyncClient)  # fmt: skip


def test_every_public_call_of_the_async_client_is_exercised_here() -> None:
    public = {
        f"{cls.__name__}.{name}"
        for cls in CLASSES
        for base in cls.__mro__
        if base.__module__.startswith("xai_pipelines.")
        for name, member in vars(base).items()
        if not name.startswith("_") and inspect.isfunction(member)
    }
    assert public == set(COVERAGE), (
        f"not covered: {sorted(public - set(COVERAGE))}; stale: {sorted(set(COVERAGE) - public)}"
    )
    tests = {
        name for name, value in globals().items() if name.startswith("test_") and callable(value)
    }
    assert {t for cases in COVERAGE.values() for t in cases} <= tests


def test_the_async_client_mirrors_the_sync_one() -> None:
    from xai_pipelines import sdk

    pairs = [(sdk.ChatClient, AsyncChatClient), (sdk.Chat, AsyncChat), (sdk.ImageClient, AsyncImageClient),
             (sdk.ModelsClient, AsyncModelsClient), (sdk.TokenizeClient, AsyncTokenizeClient),
             (sdk.BatchClient, AsyncBatchClient), (sdk.FilesClient, AsyncFilesClient),
             (sdk.FileUploads, AsyncFileUploads)]  # fmt: skip
    for sync, aio in pairs:
        sync_calls = {
            n for n, m in inspect.getmembers(sync, inspect.isfunction) if not n.startswith("_")
        }
        aio_calls = {
            n for n, m in inspect.getmembers(aio, inspect.isfunction) if not n.startswith("_")
        }
        assert sync_calls == aio_calls, (sync.__name__, sync_calls ^ aio_calls)
        for name in sync_calls:
            sync_params = list(inspect.signature(getattr(sync, name)).parameters)
            aio_params = list(inspect.signature(getattr(aio, name)).parameters)
            assert sync_params == aio_params, (sync.__name__, name)


def test_a_client_made_outside_a_loop_opens_its_channel_inside_it(emulator):
    client = AsyncClient(api_key=emulator.api_key, api_host=emulator.address)
    assert client.open_channels == 0

    async def body() -> float:
        started = time.perf_counter()
        await client.tokenize.count_tokens("x", "grok-4.3")
        await client.close()
        return time.perf_counter() - started

    assert asyncio.run(body()) < 5
