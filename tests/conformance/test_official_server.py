"""Our client against the official xai-sdk's own test server (a server we did not write).

The server is ``tests/server.py`` of the pinned xai-sdk sdist, fetched at test time
(see ``official_server.py``; a failed download fails these tests). It runs in this
process, next to our client. Every call our client offers that the server implements
is one case of :data:`OFFICIAL`; what the server does not implement is checked against
our emulator in :data:`EMULATOR_ONLY`, and :func:`test_every_call_of_the_client_is_covered`
fails when a public client call is in neither list. The per-call outcome list is
printed when the module finishes (``pytest -s`` or ``-rP`` shows it).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conformance import official_server
from xai_pipelines.sdk import (
    BatchClient,
    Chat,
    ChatClient,
    Client,
    FilesClient,
    FileUploads,
    ImageClient,
    ModelsClient,
    RetryPolicy,
    TokenizeClient,
    file,
    system,
    tool,
    tool_result,
    user,
)
from xai_pipelines.sdk.errors import (
    AuthenticationError,
    CancelledError,
    NotFoundError,
)

pytestmark = pytest.mark.slow  # the first run downloads the sdist

HELLO = "Hello, this is a test response!"  # the official server's canned answer


@dataclass
class Served:
    """The running official server and our client on it."""

    server: ModuleType
    client: Client
    store: Any  # the server's InMemoryStore (uploaded files)
    jpeg: bytes  # the server's test.jpg, which its image answers carry
    port: int


@pytest.fixture(scope="module")
def official() -> tuple[ModuleType, Path]:
    """The official test server module, from the cached sdist."""
    try:
        folder = official_server.fetch()
    except official_server.OfficialServerUnavailable as exc:
        pytest.fail(f"the official xai-sdk test server is unavailable: {exc}")
    return official_server.load(folder), folder


def _library(server: ModuleType) -> Any:
    from xai_sdk.proto import models_pb2  # the server speaks the official SDK's protos

    return server.ModelLibrary(
        language_models={
            "grok-4.3": models_pb2.LanguageModel(
                name="grok-4.3", aliases=["grok-4.3-latest"], version="1",
                prompt_text_token_price=12_500, cached_prompt_token_price=2_000,
                completion_text_token_price=25_000, max_prompt_length=1_000_000,
            )
        },
        embedding_models={},
        image_generation_models={
            "grok-imagine-image": models_pb2.ImageGenerationModel(
                name="grok-imagine-image", image_price=200_000_000, max_prompt_length=1024
            )
        },
    )  # fmt: skip


@contextmanager
def running(server: ModuleType, **options: Any) -> Iterator[int]:
    """The official ``TestServer`` on a free port; yields the port.

    Like its own ``run_test_server``, plus closing the image HTTP server's socket,
    which it leaves open (a ResourceWarning, an error under ``filterwarnings=error``).
    """
    import portpicker

    port = portpicker.pick_unused_port()
    thread = server.TestServer(port, 0, **options)
    thread.start()
    try:
        yield port
    finally:
        thread.stop()
        thread.join()
        thread._image_server.server_close()


@pytest.fixture(scope="module")
def served(official: tuple[ModuleType, Path]) -> Iterator[Served]:
    server, folder = official
    store = server.InMemoryStore()
    with running(server, model_library=_library(server), in_memory_store=store) as port:
        policy = RetryPolicy(max_attempts=2, initial_backoff=0.01, jitter=0.0)
        client = Client(
            api_key=server.API_KEY, api_host=f"127.0.0.1:{port}", retry_policy=policy, timeout=30
        )
        try:
            yield Served(server, client, store, (folder / "test.jpg").read_bytes(), port)
        finally:
            client.close()


LEDGER: dict[str, str] = {}


@pytest.fixture(scope="module", autouse=True)
def _print_ledger() -> Iterator[None]:
    yield
    if LEDGER:
        passed = sum(outcome == "passed" for outcome in LEDGER.values())
        print(f"\nour client vs the official xai-sdk test server: {passed}/{len(LEDGER)} passed")
        for name, outcome in LEDGER.items():
            print(f"  {outcome:6}  {name}")


# --- chat -------------------------------------------------------------------------------


def chat_sample(s: Served) -> None:
    chat = s.client.chat.create("grok-4.3", messages=[system("Be terse."), user("Hi")],
                                conversation_id="conv-1", seed=1)  # fmt: skip
    r = chat.sample()
    assert r.content == HELLO and r.finish_reason == "stop"
    assert r.model == "dummy-model" and r.system_fingerprint == "dummy-fingerprint"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (10, 5, 15)
    assert r.created is not None and r.cost_usd is None and r.service_tier == "default"


def chat_sample_batch(s: Served) -> None:
    answers = s.client.chat.create("grok-4.3", messages=[user("Hi")]).sample_batch(3)
    assert [(r.index, r.content) for r in answers] == [(i, HELLO) for i in range(3)]


def chat_stream(s: Served) -> None:
    pieces, final = [], None
    for so_far, chunk in s.client.chat.create("grok-4.3", messages=[user("Hi")]).stream():
        pieces.append(chunk.content)
        final = so_far
    assert pieces == ["Hello, ", "this is ", "a test ", "response!"]
    assert final is not None and final.content == HELLO and final.finish_reason == "length"
    assert final.id == "test-chunk-456" and final.ttft_s is not None


def chat_stream_batch(s: Served) -> None:
    final: list[Any] = []
    indices: set[int] = set()
    for responses, chunk in s.client.chat.create("grok-4.3", messages=[user("Hi")]).stream_batch(2):
        final = responses
        indices |= {c.index for c in chunk.choices}
    assert indices == {0, 1} and [r.content for r in final] == [HELLO, HELLO]


def chat_defer(s: Served) -> None:
    chat = s.client.chat.create("grok-4.3", messages=[user("Hi")])
    r = chat.defer(timeout=30, interval=0.01)  # the server answers on the third poll
    assert r.id == "deferred-789" and r.content == HELLO and r.finish_reason == "max_context"


def chat_defer_batch(s: Served) -> None:
    answers = s.client.chat.create("grok-4.3", messages=[user("Hi")]).defer_batch(
        2, timeout=30, interval=0.01
    )
    assert [(r.index, r.content) for r in answers] == [(0, HELLO), (1, HELLO)]


@dataclasses.dataclass
class Weather:
    city: str
    units: str
    temperature: int


def chat_parse(s: Served) -> None:
    chat = s.client.chat.create("grok-4.3", messages=[user("Weather?")])
    assert chat.parse(Weather) == Weather("London", "C", 20)
    as_dict = chat.parse({"type": "object", "required": ["city"]})
    assert as_dict == {"city": "London", "units": "C", "temperature": 20}


WEATHER_TOOL = tool("get_weather", "Weather of a city", {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})  # fmt: skip


def chat_function_tools(s: Served) -> None:
    chat = s.client.chat.create("grok-4.3", messages=[user("Weather?")], tools=[WEATHER_TOOL])
    r = chat.sample()
    assert r.finish_reason == "tool_calls" and r.content.startswith("I am retrieving")
    [call] = r.tool_calls
    assert call.name == "get_weather" and call.parsed_arguments() == {
        "city": "London",
        "units": "C",
    }
    assert not call.server_side and r.server_side_tool_calls == []
    chat.append(r).append(tool_result({"temp": 20}, call.id))
    assert chat.messages[1].tool_calls[0].id == call.id and chat.messages[2].tool_call_id == call.id
    assert chat.sample().tool_calls  # the server always calls the tool again
    *_, (streamed, _) = chat.stream()
    assert [c.name for c in streamed.tool_calls] == ["get_weather"]
    assert streamed.finish_reason == "tool_calls"
    assert streamed.content == "I am retrieving the weather for London in Celsius."


def chat_server_side_tools(s: Served) -> None:
    chat = s.client.chat.create("grok-4.3", messages=[user("Weather in London?")],
                                tools=[{"type": "web_search"}])  # fmt: skip
    r = chat.sample()
    assert r.aggregated and r.content == "I am searching." and r.finish_reason == "stop"
    assert [c.name for c in r.tool_calls] == ["web_search"]
    [out] = r.tool_outputs
    assert out.content == "I am tool response" and out.tool_call_id == "test-tool-call"
    *_, (streamed, _) = chat.stream()
    assert streamed.content == "I am searching." and streamed.finish_reason == "stop"
    assert [o.content for o in streamed.tool_outputs] == ["I am tool response"]
    assert [c.name for c in streamed.tool_calls] == ["web_search"]
    chat.append(r)
    roles = [m.role for m in chat.messages[1:]]
    assert roles == [o.message.role for o in r.outputs] and chat.messages[2].tool_call_id
    assert chat.sample().content == "I am searching."


def chat_search_citations(s: Served) -> None:
    params = {"mode": "on", "return_citations": True}
    chat = s.client.chat.create("grok-4.3", messages=[user("News?")], search_parameters=params)
    expected = ["test-citation-123", "test-citation-456", "test-citation-789"]
    assert chat.sample().citations == expected
    *_, (streamed, _) = chat.stream()
    assert streamed.citations == expected and streamed.finish_reason == "stop"


def chat_image_generation_tool(s: Served) -> None:
    chat = s.client.chat.create("grok-4.3", messages=[user("Draw a corgi")],
                                tools=[{"type": "image_generation"}])  # fmt: skip
    for r in (chat.sample(), list(chat.stream())[-1][0]):
        assert r.content == "Here is your image." and r.finish_reason == "stop"
        [img] = r.image_outputs
        assert img.image == s.jpeg and img.mime_type == "image/jpeg" and img.image_uuid == "img01"
        assert img.tool_call.name == "imagine_text_to_image"
        assert img.tool_call.type == "image_generation" and img.tool_call.status == "completed"
        assert [c.type for c in r.server_side_tool_calls] == ["image_generation"]


def chat_encrypted_content(s: Served) -> None:
    chat = s.client.chat.create("grok-4.3", messages=[user("Think")], use_encrypted_content=True)
    r = chat.sample()
    assert r.reasoning_content == "test reasoning content"
    assert r.encrypted_content == "test encrypted content"
    chat.append(r)
    assert chat.messages[-1].encrypted_content == "test encrypted content"
    assert chat.messages[-1].reasoning_content == "test reasoning content"
    assert chat.sample().content == HELLO


def chat_stored_completion(s: Served) -> None:
    r = s.client.chat.create("grok-4.3", messages=[user("Keep")], store_messages=True).sample()
    [stored] = s.client.chat.get_stored_completion(r.id)
    assert stored.content == r.content == HELLO and stored.id == r.id
    assert s.client.chat.delete_stored_completion(r.id) == r.id
    with pytest.raises(NotFoundError, match="Response not found"):
        s.client.chat.get_stored_completion(r.id)


def chat_compact(s: Served) -> None:
    chat = s.client.chat.create(
        "grok-4.3", messages=[system("s")] + [user(f"m{i}") for i in range(4)]
    )
    result = chat.compact()
    assert result.dropped_message_count == 3  # the server drops all but two
    assert result.encrypted_content == "compacted-encrypted-content"
    assert result.usage.prompt_tokens == 50 and result.id.startswith("compact-")
    [carried] = chat.messages
    assert carried.encrypted_content == result.encrypted_content
    again = s.client.chat.compact_context("grok-4.3", [user("a"), user("b"), user("c")])
    assert again.dropped_message_count == 1


def chat_local_file(s: Served) -> None:
    before = len(s.store.files)
    data = b"%PDF-1.4 conformance"
    chat = s.client.chat.create("grok-4.3", messages=[user("Read", file(data, filename="c.pdf"))])
    assert chat.sample().content == HELLO
    assert chat.sample().content == HELLO
    [(file_id, stored)] = [(k, v) for k, v in s.store.files.items()][before:]
    assert stored.filename == "c.pdf" and stored.size == len(data)
    assert chat.messages[0].content[1].file.file_id == file_id


def auth_errors(s: Served) -> None:
    with (
        Client(api_key="wrong", api_host=f"127.0.0.1:{s.port}") as wrong,
        pytest.raises(AuthenticationError) as info,
    ):
        wrong.chat.create("grok-4.3", messages=[user("Hi")]).sample()
    assert "wrong" not in str(info.value)


# --- models, tokenize, images -----------------------------------------------------------


def models_language(s: Served) -> None:
    [model] = s.client.models.list_language_models()
    assert model.name == "grok-4.3" and model.aliases == ("grok-4.3-latest",)
    assert model.prompt_text_token_price == 12_500 and model.max_prompt_length == 1_000_000
    assert s.client.models.get_language_model("grok-4.3") == model
    with pytest.raises(NotFoundError, match="Model not found"):
        s.client.models.get_language_model("grok-0")


def models_image(s: Served) -> None:
    [model] = s.client.models.list_image_generation_models()
    assert model.name == "grok-imagine-image" and model.image_price == 200_000_000
    assert s.client.models.get_image_generation_model("grok-imagine-image") == model
    with pytest.raises(NotFoundError):
        s.client.models.get_image_generation_model("grok-0-image")


def tokenize(s: Served) -> None:
    tokens = s.client.tokenize.tokenize_text("Hello world!", "grok-4.3")
    assert [(t.token_id, t.string_token) for t in tokens] == [(1, "Hello"), (2, " world"), (3, "!")]
    assert s.client.tokenize.count_tokens("Hello world!", "grok-4.3") == 3


def image_base64(s: Served) -> None:
    img = s.client.image.sample("a corgi", "grok-imagine-image", image_format="base64")
    assert img.image == s.jpeg and img.mime_type == "image/jpeg" and img.url is None
    sent = s.server.get_last_image_request()
    assert sent.HasField("n") and sent.n == 1  # single calls send n=1
    many = s.client.image.sample_batch("a corgi", 3, "grok-imagine-image")
    assert [i.index for i in many] == [0, 1, 2] and all(i.image == s.jpeg for i in many)


def image_url(s: Served) -> None:
    img = s.client.image.sample("a corgi", "grok-imagine-image", image_format="url")
    assert img.url is not None and img.url.endswith("/foo.jpg")
    assert img.image == s.jpeg


def image_edit_inputs(s: Served) -> None:
    s.client.image.sample(
        "blend", "grok-imagine-image", image_url={"file_id": "file-1"},
        image_urls=["https://example.com/a.png", {"file_id": "file-2"}],
        storage_options={"filename": "out.jpg", "expires_after": 3600, "public_url": True},
        aspect_ratio="16:9", resolution="2k", quality="high",
    )  # fmt: skip
    sent = s.server.get_last_image_request()  # as the official protos parse our bytes
    assert sent.image.file_id == "file-1"
    assert [i.WhichOneof("source") for i in sent.images] == ["image_url", "file_id"]
    assert sent.storage_options.filename == "out.jpg" and sent.storage_options.expires_after == 3600
    assert sent.storage_options.HasField("public_url")


# --- batch ------------------------------------------------------------------------------


def batch_lifecycle(s: Served) -> None:
    batch = s.client.batch.create("conformance")
    assert batch.name == "conformance" and batch.create_time is not None
    chats = [(f"req-{i}", s.client.chat.create("grok-4.3", messages=[user(f"q{i}")], seed=i))
             for i in range(3)]  # fmt: skip
    s.client.batch.add_requests(batch.batch_id, chats)
    info = s.client.batch.get(batch.batch_id)
    assert (info.num_requests, info.num_pending) == (3, 3) and not info.done
    metadata, token = s.client.batch.list_request_metadata(batch.batch_id, limit=2)
    assert [m.batch_request_id for m in metadata] == ["req-0", "req-1"] and token
    every = list(s.client.batch.iter_request_metadata(batch.batch_id, page_size=2))
    assert [m.state for m in every] == ["pending"] * 3 and every[0].model == "grok-4.3"
    page = s.client.batch.list_results(batch.batch_id, limit=2)
    assert len(page.results) == 2 and page.pagination_token
    results = list(s.client.batch.iter_results(batch.batch_id, page_size=2))
    assert [r.batch_request_id for r in results] == ["req-0", "req-1", "req-2"]
    assert all(r.ok and r.response is not None for r in results)
    assert [r.responses[0].content for r in results] == ["test-content"] * 3
    assert s.client.batch.get(batch.batch_id).done


def batch_list_and_cancel(s: Served) -> None:
    doomed = s.client.batch.create("to-cancel")
    s.client.batch.add_requests(
        doomed.batch_id, [("x", s.client.chat.create("grok-4.3", messages=[user("x")]))]
    )
    cancelled = s.client.batch.cancel(doomed.batch_id)
    assert cancelled.num_cancelled == 1 and cancelled.cancel_time is not None
    [result] = s.client.batch.iter_results(doomed.batch_id)
    assert isinstance(result.error, CancelledError) and "cancelled" in result.error.message
    first, token = s.client.batch.list(limit=1)
    assert len(first) == 1 and token
    paged = [b.batch_id for b in s.client.batch.iter_batches(page_size=1)]
    assert doomed.batch_id in paged and paged == [b.batch_id for b in s.client.batch.iter_batches()]
    with pytest.raises(NotFoundError):
        s.client.batch.get("batch_missing")


# --- files ------------------------------------------------------------------------------


def files_upload(s: Served) -> None:
    data = bytes(range(256)) * 20
    info = s.client.files.upload(data, filename="blob.bin", expires_after=3600, chunk_bytes=1000)
    assert info.filename == "blob.bin" and info.size == len(data) and info.expires_at
    assert s.store.files[info.id].size == len(data)
    uploads = FileUploads(s.client.files)
    before = len(s.store.files)
    ids = {uploads.file_id(b"same content", "a.txt") for _ in range(3)}
    assert len(ids) == 1 and len(s.store.files) == before + 1


OFFICIAL: dict[str, Callable[[Served], None]] = {
    "chat.sample": chat_sample,
    "chat.sample_batch": chat_sample_batch,
    "chat.stream": chat_stream,
    "chat.stream_batch": chat_stream_batch,
    "chat.defer": chat_defer,
    "chat.defer_batch": chat_defer_batch,
    "chat.parse": chat_parse,
    "chat.function_tools": chat_function_tools,
    "chat.server_side_tools": chat_server_side_tools,
    "chat.search_citations": chat_search_citations,
    "chat.image_generation_tool": chat_image_generation_tool,
    "chat.encrypted_content": chat_encrypted_content,
    "chat.stored_completion_get_delete": chat_stored_completion,
    "chat.compact": chat_compact,
    "chat.local_file_upload": chat_local_file,
    "auth.unauthenticated": auth_errors,
    "models.language": models_language,
    "models.image_generation": models_image,
    "tokenize": tokenize,
    "image.sample_base64": image_base64,
    "image.sample_url": image_url,
    "image.edit_inputs_and_storage": image_edit_inputs,
    "batch.create_add_get_metadata_results": batch_lifecycle,
    "batch.list_cancel": batch_list_and_cancel,
    "files.upload": files_upload,
}


@pytest.mark.parametrize("name", list(OFFICIAL))
def test_against_the_official_server(served: Served, name: str) -> None:
    LEDGER[name] = "failed"
    OFFICIAL[name](served)
    LEDGER[name] = "passed"


# --- what the official server does not implement: against our emulator ------------------


def emulator_files(client: Client) -> None:
    info = client.files.upload(b"%PDF-1.4 emulator", filename="e.pdf")
    assert client.files.get(info.id) == info
    assert [f.id for f in client.files.list(limit=10).files] == [info.id]
    assert [f.id for f in client.files.iter_files(page_size=1)] == [info.id]
    assert client.files.content(info.id) == b"%PDF-1.4 emulator"
    public = client.files.create_public_url(info.id, expires_after=3600)
    assert public.public_url and client.files.revoke_public_url(info.id).revoked
    assert client.files.delete(info.id).deleted
    with pytest.raises(NotFoundError):
        client.files.get(info.id)


def emulator_batch_request_result(client: Client) -> None:
    batch = client.batch.create("one")
    client.batch.add_requests(
        batch.batch_id, [("q", client.chat.create("grok-4.3", messages=[user("x")], max_tokens=4))]
    )
    for _ in range(500):
        request, result = client.batch.get_request_result(batch.batch_id, "q")
        if result is not None:
            break
    assert request.completion_request.model == "grok-4.3"
    assert result is not None and result.ok and result.responses[0].content


EMULATOR_ONLY: dict[str, Callable[[Client], None]] = {
    # The official server's Files servicer implements UploadFile only.
    "files.list_get_content_delete_public_url": emulator_files,
    # Its BatchMgmt servicer has no GetBatchRequestResult.
    "batch.get_request_result": emulator_batch_request_result,
}


@pytest.mark.parametrize("name", list(EMULATOR_ONLY))
def test_calls_the_official_server_lacks_against_the_emulator(
    emulator_factory: Callable[..., Any], name: str
) -> None:
    emu = emulator_factory()
    with Client(api_key=emu.api_key, api_host=emu.address) as client:
        EMULATOR_ONLY[name](client)


# Every public call of the client and the case(s) that exercise it.
COVERAGE: dict[str, tuple[str, ...]] = {
    "ChatClient.create": ("chat.sample",),
    "ChatClient.get_stored_completion": ("chat.stored_completion_get_delete",),
    "ChatClient.delete_stored_completion": ("chat.stored_completion_get_delete",),
    "ChatClient.compact_context": ("chat.compact",),
    "Chat.append": ("chat.function_tools", "chat.server_side_tools", "chat.encrypted_content"),
    "Chat.batch_request": ("batch.create_add_get_metadata_results",),
    "Chat.compact": ("chat.compact",),
    "Chat.sample": ("chat.sample",),
    "Chat.sample_batch": ("chat.sample_batch",),
    "Chat.stream": ("chat.stream",),
    "Chat.stream_batch": ("chat.stream_batch",),
    "Chat.defer": ("chat.defer",),
    "Chat.defer_batch": ("chat.defer_batch",),
    "Chat.parse": ("chat.parse",),
    "ImageClient.sample": ("image.sample_base64", "image.sample_url"),
    "ImageClient.sample_batch": ("image.sample_base64",),
    "ImageClient.wrap": ("image.sample_base64",),
    "ImageClient.close": ("image.sample_base64",),  # by Client.close at teardown
    "ModelsClient.list_language_models": ("models.language",),
    "ModelsClient.get_language_model": ("models.language",),
    "ModelsClient.list_image_generation_models": ("models.image_generation",),
    "ModelsClient.get_image_generation_model": ("models.image_generation",),
    "TokenizeClient.tokenize_text": ("tokenize",),
    "TokenizeClient.count_tokens": ("tokenize",),
    "BatchClient.create": ("batch.create_add_get_metadata_results",),
    "BatchClient.add_requests": ("batch.create_add_get_metadata_results",),
    "BatchClient.get": ("batch.create_add_get_metadata_results",),
    "BatchClient.cancel": ("batch.list_cancel",),
    "BatchClient.list": ("batch.list_cancel",),
    "BatchClient.iter_batches": ("batch.list_cancel",),
    "BatchClient.list_results": ("batch.create_add_get_metadata_results",),
    "BatchClient.iter_results": ("batch.create_add_get_metadata_results",),
    "BatchClient.list_request_metadata": ("batch.create_add_get_metadata_results",),
    "BatchClient.iter_request_metadata": ("batch.create_add_get_metadata_results",),
    "BatchClient.get_request_result": ("batch.get_request_result",),
    "FilesClient.upload": ("files.upload",),
    "FilesClient.list": ("files.list_get_content_delete_public_url",),
    "FilesClient.iter_files": ("files.list_get_content_delete_public_url",),
    "FilesClient.get": ("files.list_get_content_delete_public_url",),
    "FilesClient.content": ("files.list_get_content_delete_public_url",),
    "FilesClient.delete": ("files.list_get_content_delete_public_url",),
    "FilesClient.create_public_url": ("files.list_get_content_delete_public_url",),
    "FilesClient.revoke_public_url": ("files.list_get_content_delete_public_url",),
    "FileUploads.file_id": ("files.upload", "chat.local_file_upload"),
    "FileUploads.resolve": ("chat.local_file_upload",),
}
CLIENT_CLASSES = (ChatClient, Chat, ImageClient, ModelsClient, TokenizeClient, BatchClient,
                  FilesClient, FileUploads)  # fmt: skip


def public_calls(classes: tuple[type, ...]) -> set[str]:
    """``Class.method`` for every public method of ``classes``, inherited ones included
    (``Chat.append`` lives on the ``ChatBase`` it shares with the async chat)."""
    return {
        f"{cls.__name__}.{name}"
        for cls in classes
        for base in cls.__mro__
        if base.__module__.startswith("xai_pipelines.")
        for name, member in vars(base).items()
        if not name.startswith("_") and inspect.isfunction(member)
    }


def test_every_call_of_the_client_is_covered() -> None:
    public = public_calls(CLIENT_CLASSES)
    assert public == set(COVERAGE), (
        f"not covered: {sorted(public - set(COVERAGE))}; stale: {sorted(set(COVERAGE) - public)}"
    )
    cases = set(OFFICIAL) | set(EMULATOR_ONLY)
    unknown = {case for cases_of in COVERAGE.values() for case in cases_of} - cases
    assert not unknown, unknown


def test_the_cached_sdist_is_the_pinned_version(official) -> None:
    _, folder = official
    version = official_server.pinned_version()
    assert folder.name == f"xai-sdk-{version}"
    assert (folder / f"xai_sdk-{version}.tar.gz").is_file()
    assert official_server.ROOT not in folder.parents  # the cache is not in the repository
