"""The async client against the official xai-sdk's own test server (a server we did not write).

The sibling of ``test_official_server.py`` for :class:`~xai_pipelines.sdk.aio.AsyncClient`:
the same server from the pinned sdist, the same cases with awaited calls, and the same
coverage rule: :func:`test_every_call_of_the_async_client_is_covered` fails when a
public call of the async client is in no case. Calls the official server lacks run
against our emulator (:data:`EMULATOR_ONLY`). Each case runs in ``asyncio.run`` with a
client made inside the loop.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conformance.test_official_server import (
    HELLO,
    WEATHER_TOOL,
    Weather,
    _library,
    official,  # noqa: F401 - the module fixture, shared
    public_calls,
    running,
)
from xai_pipelines.sdk import RetryPolicy, file, system, tool_result, user
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
from xai_pipelines.sdk.errors import AuthenticationError, CancelledError, NotFoundError

pytestmark = pytest.mark.slow  # the first run downloads the sdist


@dataclass
class Served:
    """The running official server; each case makes its client inside its loop."""

    server: ModuleType
    store: Any
    jpeg: bytes
    port: int

    def client(self, **options: Any) -> AsyncClient:
        options.setdefault("api_key", self.server.API_KEY)
        policy = RetryPolicy(max_attempts=2, initial_backoff=0.01, jitter=0.0)
        return AsyncClient(
            api_host=f"127.0.0.1:{self.port}", retry_policy=policy, timeout=30, **options
        )


@pytest.fixture(scope="module")
def served(official: tuple[ModuleType, Path]) -> Iterator[Served]:  # noqa: F811
    server, folder = official
    store = server.InMemoryStore()
    with running(server, model_library=_library(server), in_memory_store=store) as port:
        yield Served(server, store, (folder / "test.jpg").read_bytes(), port)


Case = Callable[[Served, AsyncClient], Awaitable[None]]


async def chat_sample(s: Served, c: AsyncClient) -> None:
    chat = c.chat.create("grok-4.3", messages=[system("Be terse."), user("Hi")],
                         conversation_id="conv-1", seed=1)  # fmt: skip
    r = await chat.sample()
    assert r.content == HELLO and r.finish_reason == "stop" and r.model == "dummy-model"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (10, 5, 15)
    answers = await c.chat.create("grok-4.3", messages=[user("Hi")]).sample_batch(3)
    assert [(r.index, r.content) for r in answers] == [(i, HELLO) for i in range(3)]


async def chat_stream(s: Served, c: AsyncClient) -> None:
    pieces, final = [], None
    async for so_far, chunk in c.chat.create("grok-4.3", messages=[user("Hi")]).stream():
        pieces.append(chunk.content)
        final = so_far
    assert pieces == ["Hello, ", "this is ", "a test ", "response!"]
    assert final is not None and final.content == HELLO and final.finish_reason == "length"
    assert final.id == "test-chunk-456" and final.ttft_s is not None
    indices: set[int] = set()
    last: list[Any] = []
    async for responses, chunk in c.chat.create("grok-4.3", [user("Hi")]).stream_batch(2):
        last = responses
        indices |= {ch.index for ch in chunk.choices}
    assert indices == {0, 1} and [r.content for r in last] == [HELLO, HELLO]


async def chat_defer(s: Served, c: AsyncClient) -> None:
    chat = c.chat.create("grok-4.3", messages=[user("Hi")])
    r = await chat.defer(timeout=30, interval=0.01)  # the server answers on the third poll
    assert r.id == "deferred-789" and r.content == HELLO and r.finish_reason == "max_context"
    answers = await chat.defer_batch(2, timeout=30, interval=0.01)
    assert [(r.index, r.content) for r in answers] == [(0, HELLO), (1, HELLO)]


async def chat_parse(s: Served, c: AsyncClient) -> None:
    chat = c.chat.create("grok-4.3", messages=[user("Weather?")])
    assert await chat.parse(Weather) == Weather("London", "C", 20)


async def chat_tools(s: Served, c: AsyncClient) -> None:
    chat = c.chat.create("grok-4.3", messages=[user("Weather?")], tools=[WEATHER_TOOL])
    r = await chat.sample()
    [call] = r.tool_calls
    assert r.finish_reason == "tool_calls" and call.name == "get_weather"
    chat.append(r).append(tool_result({"temp": 20}, call.id))
    assert chat.messages[2].tool_call_id == call.id
    streamed = [item async for item in chat.stream()][-1][0]
    assert [t.name for t in streamed.tool_calls] == ["get_weather"]
    agentic = c.chat.create(
        "grok-4.3", [user("Weather in London?")], tools=[{"type": "web_search"}]
    )
    r = await agentic.sample()
    assert r.aggregated and [o.content for o in r.tool_outputs] == ["I am tool response"]
    agentic.append(r)
    assert (await agentic.sample()).content == "I am searching."


async def chat_image_generation_tool(s: Served, c: AsyncClient) -> None:
    chat = c.chat.create("grok-4.3", [user("Draw a corgi")], tools=[{"type": "image_generation"}])
    [img] = (await chat.sample()).image_outputs
    assert img.image == s.jpeg and img.tool_call.type == "image_generation"


async def chat_stored_completion(s: Served, c: AsyncClient) -> None:
    r = await c.chat.create("grok-4.3", [user("Keep")], store_messages=True).sample()
    [stored] = await c.chat.get_stored_completion(r.id)
    assert stored.content == r.content == HELLO and stored.id == r.id
    assert await c.chat.delete_stored_completion(r.id) == r.id
    with pytest.raises(NotFoundError, match="Response not found"):
        await c.chat.get_stored_completion(r.id)


async def chat_compact(s: Served, c: AsyncClient) -> None:
    chat = c.chat.create("grok-4.3", messages=[system("s")] + [user(f"m{i}") for i in range(4)])
    result = await chat.compact()
    assert result.dropped_message_count == 3
    assert result.encrypted_content == "compacted-encrypted-content"
    [carried] = chat.messages
    assert carried.encrypted_content == result.encrypted_content
    again = await c.chat.compact_context("grok-4.3", [user("a"), user("b"), user("c")])
    assert again.dropped_message_count == 1


async def chat_local_file(s: Served, c: AsyncClient) -> None:
    before = len(s.store.files)
    data = b"%PDF-1.4 aio conformance"
    chat = c.chat.create("grok-4.3", messages=[user("Read", file(data, filename="a.pdf"))])
    assert (await chat.sample()).content == HELLO and (await chat.sample()).content == HELLO
    [(file_id, stored)] = list(s.store.files.items())[before:]
    assert stored.filename == "a.pdf" and chat.messages[0].content[1].file.file_id == file_id


async def auth_errors(s: Served, c: AsyncClient) -> None:
    async with s.client(api_key="wrong") as wrong:
        with pytest.raises(AuthenticationError) as info:
            await wrong.chat.create("grok-4.3", messages=[user("Hi")]).sample()
    assert "wrong" not in str(info.value)


async def models_and_tokenize(s: Served, c: AsyncClient) -> None:
    [model] = await c.models.list_language_models()
    assert model.name == "grok-4.3" and model.prompt_text_token_price == 12_500
    assert await c.models.get_language_model("grok-4.3") == model
    [image_model] = await c.models.list_image_generation_models()
    assert await c.models.get_image_generation_model("grok-imagine-image") == image_model
    with pytest.raises(NotFoundError):
        await c.models.get_image_generation_model("grok-0-image")
    tokens = await c.tokenize.tokenize_text("Hello world!", "grok-4.3")
    assert [(t.token_id, t.string_token) for t in tokens] == [(1, "Hello"), (2, " world"), (3, "!")]
    assert await c.tokenize.count_tokens("Hello world!", "grok-4.3") == 3


async def images(s: Served, c: AsyncClient) -> None:
    img = await c.image.sample("a corgi", "grok-imagine-image", image_format="base64")
    assert await img.image == s.jpeg and await img.mime_type == "image/jpeg" and img.url is None
    with tempfile.TemporaryDirectory() as folder:
        saved = await img.save(Path(folder) / "corgi")
        assert saved.name == "corgi.jpg" and saved.read_bytes() == s.jpeg
    sent = s.server.get_last_image_request()
    assert sent.HasField("n") and sent.n == 1
    many = await c.image.sample_batch("a corgi", 3, "grok-imagine-image")
    assert [i.index for i in many] == [0, 1, 2] and many[0].to_dict()["model"]
    by_url = await c.image.sample("a corgi", "grok-imagine-image", image_format="url")
    assert by_url.url is not None and await by_url.image == s.jpeg
    await c.image.sample(
        "blend", "grok-imagine-image", image_url={"file_id": "file-1"},
        image_urls=["https://example.com/a.png", {"file_id": "file-2"}],
        storage_options={"filename": "out.jpg", "public_url": True},
    )  # fmt: skip
    sent = s.server.get_last_image_request()
    assert sent.image.file_id == "file-1" and sent.storage_options.filename == "out.jpg"
    from xai_pipelines.proto import image_pb2

    reply = image_pb2.ImageResponse(model="m", images=[image_pb2.GeneratedImage(base64="eA==")])
    [wrapped] = c.image.wrap(reply)
    assert await wrapped.image == b"x"


async def batch_lifecycle(s: Served, c: AsyncClient) -> None:
    batch = await c.batch.create("conformance-aio")
    chats = [
        (f"req-{i}", c.chat.create("grok-4.3", messages=[user(f"q{i}")], seed=i)) for i in range(3)
    ]
    await c.batch.add_requests(batch.batch_id, chats)
    info = await c.batch.get(batch.batch_id)
    assert (info.num_requests, info.num_pending) == (3, 3)
    metadata, token = await c.batch.list_request_metadata(batch.batch_id, limit=2)
    assert [m.batch_request_id for m in metadata] == ["req-0", "req-1"] and token
    every = [m async for m in c.batch.iter_request_metadata(batch.batch_id, page_size=2)]
    assert [m.state for m in every] == ["pending"] * 3
    page = await c.batch.list_results(batch.batch_id, limit=2)
    assert len(page.results) == 2 and page.pagination_token
    results = [r async for r in c.batch.iter_results(batch.batch_id, page_size=2)]
    assert [r.responses[0].content for r in results] == ["test-content"] * 3
    doomed = await c.batch.create("to-cancel")
    await c.batch.add_requests(doomed.batch_id, [("x", c.chat.create("grok-4.3", [user("x")]))])
    cancelled = await c.batch.cancel(doomed.batch_id)
    assert cancelled.num_cancelled == 1
    [result] = [r async for r in c.batch.iter_results(doomed.batch_id)]
    assert isinstance(result.error, CancelledError)
    first, token = await c.batch.list(limit=1)
    assert len(first) == 1 and token
    assert doomed.batch_id in [b.batch_id async for b in c.batch.iter_batches(page_size=1)]


async def files_upload(s: Served, c: AsyncClient) -> None:
    data = bytes(range(256)) * 20
    info = await c.files.upload(data, filename="blob.bin", expires_after=3600, chunk_bytes=1000)
    assert info.filename == "blob.bin" and s.store.files[info.id].size == len(data)
    uploads = AsyncFileUploads(c.files)
    before = len(s.store.files)
    ids = await asyncio.gather(*(uploads.file_id(b"same aio content", "a.txt") for _ in range(3)))
    assert len(set(ids)) == 1 and len(s.store.files) == before + 1


OFFICIAL: dict[str, Case] = {
    "chat.sample_and_batch": chat_sample,
    "chat.stream_and_batch": chat_stream,
    "chat.defer_and_batch": chat_defer,
    "chat.parse": chat_parse,
    "chat.tools_and_append": chat_tools,
    "chat.image_generation_tool": chat_image_generation_tool,
    "chat.stored_completion_get_delete": chat_stored_completion,
    "chat.compact": chat_compact,
    "chat.local_file_upload": chat_local_file,
    "auth.unauthenticated": auth_errors,
    "models_and_tokenize": models_and_tokenize,
    "image.sample_batch_url_edit": images,
    "batch.lifecycle_list_cancel": batch_lifecycle,
    "files.upload": files_upload,
}
LEDGER: dict[str, str] = {}


@pytest.fixture(scope="module", autouse=True)
def _print_ledger() -> Iterator[None]:
    yield
    if LEDGER:
        passed = sum(outcome == "passed" for outcome in LEDGER.values())
        print(f"\nour async client vs the official test server: {passed}/{len(LEDGER)} passed")
        for name, outcome in LEDGER.items():
            print(f"  {outcome:6}  {name}")


@pytest.mark.parametrize("name", list(OFFICIAL))
def test_against_the_official_server(served: Served, name: str) -> None:
    LEDGER[name] = "failed"

    async def main() -> None:
        async with served.client() as client:
            await OFFICIAL[name](served, client)

    asyncio.run(main())
    LEDGER[name] = "passed"


# --- what the official server does not implement: against our emulator ------------------


async def emulator_files(c: AsyncClient) -> None:
    info = await c.files.upload(b"%PDF-1.4 emulator", filename="e.pdf")
    assert await c.files.get(info.id) == info
    assert [f.id for f in (await c.files.list(limit=10)).files] == [info.id]
    assert [f.id async for f in c.files.iter_files(page_size=1)] == [info.id]
    assert await c.files.content(info.id) == b"%PDF-1.4 emulator"
    public = await c.files.create_public_url(info.id, expires_after=3600)
    assert public.public_url and (await c.files.revoke_public_url(info.id)).revoked
    assert (await c.files.delete(info.id)).deleted


async def emulator_batch_request_result(c: AsyncClient) -> None:
    batch = await c.batch.create("one")
    chat = c.chat.create("grok-4.3", messages=[user("x")], max_tokens=4)
    await c.batch.add_requests(batch.batch_id, [("q", chat)])
    assert (await chat.batch_request()).model == "grok-4.3"
    for _ in range(500):
        request, result = await c.batch.get_request_result(batch.batch_id, "q")
        if result is not None:
            break
        await asyncio.sleep(0.01)
    assert request.completion_request.model == "grok-4.3"
    assert result is not None and result.ok and result.responses[0].content


EMULATOR_ONLY: dict[str, Callable[[AsyncClient], Awaitable[None]]] = {
    "files.list_get_content_delete_public_url": emulator_files,  # the server has UploadFile only
    "batch.get_request_result": emulator_batch_request_result,  # and no GetBatchRequestResult
}


@pytest.mark.parametrize("name", list(EMULATOR_ONLY))
def test_calls_the_official_server_lacks_against_the_emulator(
    emulator_factory: Callable[..., Any], name: str
) -> None:
    emu = emulator_factory()

    async def main() -> None:
        async with AsyncClient(api_key=emu.api_key, api_host=emu.address) as client:
            await EMULATOR_ONLY[name](client)

    asyncio.run(main())


COVERAGE: dict[str, tuple[str, ...]] = {
    "AsyncChatClient.create": ("chat.sample_and_batch",),
    "AsyncChatClient.get_stored_completion": ("chat.stored_completion_get_delete",),
    "AsyncChatClient.delete_stored_completion": ("chat.stored_completion_get_delete",),
    "AsyncChatClient.compact_context": ("chat.compact",),
    "AsyncChat.append": ("chat.tools_and_append",),
    "AsyncChat.batch_request": ("batch.get_request_result",),
    "AsyncChat.compact": ("chat.compact",),
    "AsyncChat.sample": ("chat.sample_and_batch",),
    "AsyncChat.sample_batch": ("chat.sample_and_batch",),
    "AsyncChat.stream": ("chat.stream_and_batch",),
    "AsyncChat.stream_batch": ("chat.stream_and_batch",),
    "AsyncChat.defer": ("chat.defer_and_batch",),
    "AsyncChat.defer_batch": ("chat.defer_and_batch",),
    "AsyncChat.parse": ("chat.parse",),
    "AsyncImageClient.sample": ("image.sample_batch_url_edit",),
    "AsyncImageClient.sample_batch": ("image.sample_batch_url_edit",),
    "AsyncImageClient.wrap": ("image.sample_batch_url_edit",),
    "AsyncImageClient.close": ("image.sample_batch_url_edit",),  # by AsyncClient.close
    "AsyncImageResponse.save": ("image.sample_batch_url_edit",),
    "AsyncImageResponse.to_dict": ("image.sample_batch_url_edit",),
    "AsyncModelsClient.list_language_models": ("models_and_tokenize",),
    "AsyncModelsClient.get_language_model": ("models_and_tokenize",),
    "AsyncModelsClient.list_image_generation_models": ("models_and_tokenize",),
    "AsyncModelsClient.get_image_generation_model": ("models_and_tokenize",),
    "AsyncTokenizeClient.tokenize_text": ("models_and_tokenize",),
    "AsyncTokenizeClient.count_tokens": ("models_and_tokenize",),
    "AsyncBatchClient.create": ("batch.lifecycle_list_cancel",),
    "AsyncBatchClient.add_requests": ("batch.lifecycle_list_cancel",),
    "AsyncBatchClient.get": ("batch.lifecycle_list_cancel",),
    "AsyncBatchClient.cancel": ("batch.lifecycle_list_cancel",),
    "AsyncBatchClient.list": ("batch.lifecycle_list_cancel",),
    "AsyncBatchClient.iter_batches": ("batch.lifecycle_list_cancel",),
    "AsyncBatchClient.list_results": ("batch.lifecycle_list_cancel",),
    "AsyncBatchClient.iter_results": ("batch.lifecycle_list_cancel",),
    "AsyncBatchClient.list_request_metadata": ("batch.lifecycle_list_cancel",),
    "AsyncBatchClient.iter_request_metadata": ("batch.lifecycle_list_cancel",),
    "AsyncBatchClient.get_request_result": ("batch.get_request_result",),
    "AsyncFilesClient.upload": ("files.upload",),
    "AsyncFilesClient.list": ("files.list_get_content_delete_public_url",),
    "AsyncFilesClient.iter_files": ("files.list_get_content_delete_public_url",),
    "AsyncFilesClient.get": ("files.list_get_content_delete_public_url",),
    "AsyncFilesClient.content": ("files.list_get_content_delete_public_url",),
    "AsyncFilesClient.delete": ("files.list_get_content_delete_public_url",),
    "AsyncFilesClient.create_public_url": ("files.list_get_content_delete_public_url",),
    "AsyncFilesClient.revoke_public_url": ("files.list_get_content_delete_public_url",),
    "AsyncFileUploads.file_id": ("files.upload", "chat.local_file_upload"),
    "AsyncFileUploads.resolve": ("chat.local_file_upload",),
    "AsyncClient.close": ("auth.unauthenticated",),
}
CLIENT_CLASSES = (AsyncChatClient, AsyncChat, AsyncImageClient, AsyncImageResponse, AsyncModelsClient,
                  AsyncTokenizeClient, AsyncBatchClient, AsyncFilesClient, AsyncFileUploads, AsyncClient)  # fmt: skip


def test_every_call_of_the_async_client_is_covered() -> None:
    public = public_calls(CLIENT_CLASSES)
    assert public == set(COVERAGE), (
        f"not covered: {sorted(public - set(COVERAGE))}; stale: {sorted(set(COVERAGE) - public)}"
    )
    cases = set(OFFICIAL) | set(EMULATOR_ONLY)
    unknown = {case for cases_of in COVERAGE.values() for case in cases_of} - cases
    assert not unknown, unknown
