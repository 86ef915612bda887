"""The Files service, files attached to chat messages, and image file inputs / storage."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import grpc
import pytest
from xai_sdk import Client
from xai_sdk.chat import file as sdk_file
from xai_sdk.chat import user as sdk_user

from tests.emulator.conftest import Stubs, connect, rpc_error
from xai_pipelines.emulator import EmulatorConfig
from xai_pipelines.emulator.files_store import MAX_FILE_BYTES, FileStore
from xai_pipelines.emulator.imagegen import render
from xai_pipelines.emulator.tokenizer import count_tokens
from xai_pipelines.proto import chat_pb2, files_pb2, files_pb2_grpc, image_pb2, usage_pb2

MODEL = "grok-4.3"
IMAGE_MODEL = "grok-imagine-image"
PNG = render("a reference picture", 0, 32, 32)
REPORT = b"Quarterly report.\n\nTotal revenue was 5.2 million.\n\nGrowth was 18 percent."


def files(stubs: Stubs) -> files_pb2_grpc.FilesStub:
    return files_pb2_grpc.FilesStub(stubs.channel)


def chunks(
    name: str, data: bytes, size: int = 7, **init: int
) -> Iterator[files_pb2.UploadFileChunk]:
    yield files_pb2.UploadFileChunk(init=files_pb2.UploadFileInit(name=name, **init))
    for start in range(0, len(data), size):
        yield files_pb2.UploadFileChunk(data=data[start : start + size])


def upload(stubs: Stubs, name: str, data: bytes, **init: int) -> files_pb2.File:
    return files(stubs).UploadFile(chunks(name, data, **init), metadata=stubs.metadata)


def fetch(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.read(), reply.headers["Content-Type"]
    except urllib.error.HTTPError as exc:
        return exc.code, b"", ""


def test_upload_retrieve_content_delete(stubs):
    f = upload(stubs, "report.txt", REPORT, expires_after=3600)
    assert f.id.startswith("file_") and f.filename == "report.txt" and f.size == len(REPORT)
    assert f.HasField("expires_at") and f.expires_at.seconds - f.created_at.seconds == 3600
    stub = files(stubs)
    assert (
        stub.RetrieveFile(files_pb2.RetrieveFileRequest(file_id=f.id), metadata=stubs.metadata) == f
    )
    parts = stub.RetrieveFileContent(
        files_pb2.RetrieveFileContentRequest(file_id=f.id), metadata=stubs.metadata
    )
    assert b"".join(p.data for p in parts) == REPORT
    gone = stub.DeleteFile(files_pb2.DeleteFileRequest(file_id=f.id), metadata=stubs.metadata)
    assert gone.id == f.id and gone.deleted
    err = rpc_error(
        stub.RetrieveFile, files_pb2.RetrieveFileRequest(file_id=f.id), metadata=stubs.metadata
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND and f.id in err.details()


@pytest.mark.parametrize(
    ("stream", "text"),
    [
        ([files_pb2.UploadFileChunk(data=b"x")], "first chunk must carry init"),
        ([], "no chunks"),
        ([files_pb2.UploadFileChunk(init=files_pb2.UploadFileInit())], "init.name"),
        (
            [files_pb2.UploadFileChunk(init=files_pb2.UploadFileInit(name="a", expires_after=60))],
            "between 3600",
        ),
        (
            [
                files_pb2.UploadFileChunk(init=files_pb2.UploadFileInit(name="a")),
                files_pb2.UploadFileChunk(init=files_pb2.UploadFileInit(name="b")),
            ],
            "only the first chunk",
        ),
    ],
)
def test_upload_refusals(stubs, stream, text):
    err = rpc_error(files(stubs).UploadFile, iter(stream), metadata=stubs.metadata)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and text in err.details()


def test_upload_over_the_size_limit_is_refused():
    store = FileStore(quota_bytes=2 * MAX_FILE_BYTES)
    with pytest.raises(Exception, match="maximum file size is 50 MB"):
        store.put("k", "big.bin", b"\0" * (MAX_FILE_BYTES + 1))


def test_files_belong_to_their_key(emulator):
    alice, bob = connect(emulator, key="alice"), connect(emulator, key="bob")
    f = upload(alice, "mine.txt", b"secret")
    err = rpc_error(
        files(bob).RetrieveFile, files_pb2.RetrieveFileRequest(file_id=f.id), metadata=bob.metadata
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND
    listed = files(bob).ListFiles(files_pb2.ListFilesRequest(), metadata=bob.metadata)
    assert f.id not in [x.id for x in listed.data]
    alice.channel.close()
    bob.channel.close()


def test_list_sorts_filters_and_paginates(emulator):
    stubs = connect(emulator, key="lister")
    made = [
        upload(stubs, name, b"x" * size)
        for name, size in (("b.txt", 3), ("a.png", 9), ("c.pdf", 1))
    ]
    stub = files(stubs)

    def ids(**fields) -> list[str]:
        r = stub.ListFiles(files_pb2.ListFilesRequest(**fields), metadata=stubs.metadata)
        return [f.filename for f in r.data]

    assert ids() == ["b.txt", "a.png", "c.pdf"]
    assert ids(sort_by=files_pb2.FILES_SORT_BY_FILENAME) == ["a.png", "b.txt", "c.pdf"]
    assert ids(sort_by=files_pb2.FILES_SORT_BY_SIZE, order=files_pb2.DESCENDING) == [
        "a.png",
        "b.txt",
        "c.pdf",
    ]
    assert ids(filter='size_bytes > 2 AND NOT content_type = "image/png"') == ["b.txt"]
    assert ids(filter='name = "c.pdf" OR file_id = "' + made[1].id + '"') == ["a.png", "c.pdf"]
    assert ids(filter="public_url != null") == []
    first = stub.ListFiles(files_pb2.ListFilesRequest(limit=2), metadata=stubs.metadata)
    assert len(first.data) == 2 and first.pagination_token
    rest = stub.ListFiles(
        files_pb2.ListFilesRequest(limit=2, pagination_token=first.pagination_token),
        metadata=stubs.metadata,
    )
    assert [f.id for f in first.data] + [f.id for f in rest.data] == [f.id for f in made]
    assert not rest.HasField("pagination_token")
    for bad in ("size_bytes >", "colour = 1", "upload_status = null", 'created_at > "yesterday"'):
        err = rpc_error(
            stub.ListFiles, files_pb2.ListFilesRequest(filter=bad), metadata=stubs.metadata
        )
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "filter" in err.details()
    stubs.channel.close()


def test_public_url_is_served_then_revoked(emulator, stubs):
    f = upload(stubs, "diagram.png", PNG)
    stub = files(stubs)
    created = stub.CreatePublicUrl(
        files_pb2.CreatePublicUrlRequest(file_id=f.id, expires_after=7200), metadata=stubs.metadata
    )
    assert created.public_url.startswith(emulator.http_url + "/files-cdn/")
    assert created.public_url.endswith(f"/{f.id}.png") and created.HasField("expires_at")
    status, body, kind = fetch(created.public_url)
    assert (status, body, kind) == (200, PNG, "image/png")
    again = stub.CreatePublicUrl(
        files_pb2.CreatePublicUrlRequest(file_id=f.id), metadata=stubs.metadata
    )
    assert again.public_url == created.public_url
    shown = stub.RetrieveFile(files_pb2.RetrieveFileRequest(file_id=f.id), metadata=stubs.metadata)
    assert shown.public_url == created.public_url
    revoked = stub.RevokePublicUrl(
        files_pb2.RevokePublicUrlRequest(file_id=f.id), metadata=stubs.metadata
    )
    assert revoked.revoked and revoked.public_url == created.public_url
    assert fetch(created.public_url)[0] == 404
    twice = stub.RevokePublicUrl(
        files_pb2.RevokePublicUrlRequest(file_id=f.id), metadata=stubs.metadata
    )
    assert not twice.revoked and not twice.HasField("public_url")
    text = upload(stubs, "notes.txt", b"hello")
    err = rpc_error(
        stub.CreatePublicUrl,
        files_pb2.CreatePublicUrlRequest(file_id=text.id),
        metadata=stubs.metadata,
    )
    assert (
        err.code() == grpc.StatusCode.INVALID_ARGUMENT
        and "images, videos and PDFs" in err.details()
    )


def test_expired_files_and_public_urls_vanish():
    now = [1000.0]
    store = FileStore(quota_bytes=1 << 20, clock=lambda: now[0])
    record = store.put("k", "a.png", PNG, expires_after=3600)
    store.publish("k", record.file_id, None)
    assert store.public(record.public_token or "") is not None
    now[0] += 3600
    assert store.public(record.public_token or "") is None
    with pytest.raises(Exception, match="does not exist"):
        store.get("k", record.file_id)


def test_chat_with_an_attached_file(stubs):
    f = upload(stubs, "report.txt", REPORT)
    message = chat_pb2.Message(
        role=chat_pb2.ROLE_USER,
        content=[
            chat_pb2.Content(text="What was the total revenue?"),
            chat_pb2.Content(file=chat_pb2.FileContent(file_id=f.id)),
        ],
    )
    plain = chat_pb2.Message(
        role=chat_pb2.ROLE_USER, content=[chat_pb2.Content(text="What was the total revenue?")]
    )
    include = [chat_pb2.INCLUDE_OPTION_ATTACHMENT_SEARCH_CALL_OUTPUT]
    r = stubs.complete(model=MODEL, seed=1, messages=[message], include=include)
    base = stubs.complete(model=MODEL, seed=1, messages=[plain])
    search = r.outputs[1].message
    assert r.outputs[0].message.tool_calls[0].type == chat_pb2.TOOL_CALL_TYPE_ATTACHMENT_SEARCH_TOOL
    hits = json.loads(search.content)["results"]
    assert hits[0]["file_id"] == f.id and "revenue" in hits[0]["content"]
    assert list(r.usage.server_side_tools_used) == [usage_pb2.SERVER_SIDE_TOOL_ATTACHMENT_SEARCH]
    extra = count_tokens(REPORT.decode()) + count_tokens(search.content)
    assert r.usage.prompt_text_tokens == base.usage.prompt_text_tokens + extra
    err = rpc_error(
        stubs.complete,
        model=MODEL,
        messages=[
            chat_pb2.Message(
                role=chat_pb2.ROLE_USER,
                content=[chat_pb2.Content(file=chat_pb2.FileContent(file_id="file_missing"))],
            )
        ],
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND and "file_missing" in err.details()


def test_image_inputs_by_file_id(stubs):
    ref = upload(stubs, "ref.png", PNG)
    other = upload(stubs, "ref2.png", render("another", 0, 16, 16))
    request = image_pb2.GenerateImageRequest(
        model=IMAGE_MODEL,
        prompt="Blend these",
        n=1,
        format=image_pb2.IMG_FORMAT_BASE64,
        images=[
            image_pb2.ImageUrlContent(file_id=ref.id),
            image_pb2.ImageUrlContent(file_id=other.id),
        ],
    )
    out = stubs.image.GenerateImage(request, metadata=stubs.metadata)
    assert base64.b64decode(out.images[0].base64.split(",", 1)[1]).startswith(b"\x89PNG")
    edit = image_pb2.GenerateImageRequest(
        model=IMAGE_MODEL, prompt="Edit", n=1, image=image_pb2.ImageUrlContent(file_id=ref.id)
    )
    by_id = stubs.image.GenerateImage(edit, metadata=stubs.metadata)
    inline = image_pb2.GenerateImageRequest()
    inline.CopyFrom(edit)
    inline.image.image_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert stubs.image.GenerateImage(inline, metadata=stubs.metadata).images == by_id.images
    missing = image_pb2.GenerateImageRequest(
        model=IMAGE_MODEL, prompt="x", images=[image_pb2.ImageUrlContent(file_id="file_nope")]
    )
    err = rpc_error(stubs.image.GenerateImage, missing, metadata=stubs.metadata)
    assert err.code() == grpc.StatusCode.NOT_FOUND
    text = upload(stubs, "notes.txt", b"not an image")
    bad = image_pb2.GenerateImageRequest(
        model=IMAGE_MODEL, prompt="x", image=image_pb2.ImageUrlContent(file_id=text.id)
    )
    err = rpc_error(stubs.image.GenerateImage, bad, metadata=stubs.metadata)
    assert (
        err.code() == grpc.StatusCode.INVALID_ARGUMENT
        and "not a PNG, JPEG or WebP" in err.details()
    )


def test_storage_options_store_the_image_with_a_public_url(emulator, stubs):
    request = image_pb2.GenerateImageRequest(
        model=IMAGE_MODEL,
        prompt="A garden",
        n=2,
        format=image_pb2.IMG_FORMAT_URL,
        storage_options=image_pb2.StorageOptions(
            filename="garden.png", expires_after=86400, public_url=image_pb2.PublicUrlOptions()
        ),
    )
    out = stubs.image.GenerateImage(request, metadata=stubs.metadata)
    stub = files(stubs)
    for image in out.images:
        assert image.url.startswith(emulator.http_url) and not image.storage_error
        stored = image.file_output
        assert stored.file_id.startswith("file_") and stored.filename == "garden.png"
        assert stored.HasField("expires_at")
        assert stored.public_url_expires_at == stored.expires_at  # inherits the file's TTL
        content = stub.RetrieveFileContent(
            files_pb2.RetrieveFileContentRequest(file_id=stored.file_id), metadata=stubs.metadata
        )
        data = b"".join(c.data for c in content)
        assert fetch(stored.public_url)[1] == data == fetch(image.url)[1]
    assert out.images[0].file_output.file_id != out.images[1].file_output.file_id
    err = rpc_error(
        stubs.image.GenerateImage,
        image_pb2.GenerateImageRequest(
            model=IMAGE_MODEL, prompt="x", storage_options=image_pb2.StorageOptions()
        ),
        metadata=stubs.metadata,
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "filename" in err.details()


def test_storage_error_when_the_image_cannot_be_stored(emulator_factory):
    stubs = connect(emulator_factory(EmulatorConfig(files_quota_bytes=10)))
    request = image_pb2.GenerateImageRequest(
        model=IMAGE_MODEL,
        prompt="A garden",
        format=image_pb2.IMG_FORMAT_BASE64,
        storage_options=image_pb2.StorageOptions(filename="garden.txt", public_url={}),
    )
    (image,) = stubs.image.GenerateImage(request, metadata=stubs.metadata).images
    assert image.base64 and "storage is full" in image.storage_error
    assert not image.HasField("file_output")
    stubs.channel.close()


def test_public_url_error_when_only_the_url_fails(stubs):
    request = image_pb2.GenerateImageRequest(
        model=IMAGE_MODEL,
        prompt="A garden",
        storage_options=image_pb2.StorageOptions(filename="garden.txt", public_url={}),
    )
    (image,) = stubs.image.GenerateImage(request, metadata=stubs.metadata).images
    assert image.file_output.file_id and not image.file_output.public_url
    assert "images, videos and PDFs" in image.file_output.public_url_error


def test_official_sdk_files_client_and_chat_file(emulator, stubs):
    client = Client(api_key=emulator.api_key, api_host=emulator.address, use_insecure_channel=True)
    # xai-sdk 1.21.0 adds the key only to unary-request calls on an insecure channel, so
    # its client-streaming upload is unauthenticated here; upload with the raw stub.
    uploaded = upload(stubs, "sales.txt", REPORT)
    assert client.files.get(uploaded.id).size == len(REPORT)
    assert client.files.content(uploaded.id) == REPORT
    assert uploaded.id in [f.id for f in client.files.list(limit=1000).data]
    chat = client.chat.create(MODEL)
    chat.append(sdk_user("What was the total revenue?", sdk_file(uploaded.id)))
    response = chat.sample()
    assert response.content and response.finish_reason == "REASON_STOP"
    assert response.server_side_tool_usage == {"SERVER_SIDE_TOOL_ATTACHMENT_SEARCH": 1}
    image = client.image.sample(
        prompt="A garden",
        model=IMAGE_MODEL,
        storage_options={"filename": "g.png", "public_url": True},
    )
    assert image.file_output is not None and image.public_url
    assert fetch(image.public_url)[0] == 200
    assert client.files.delete(uploaded.id).deleted
    client.close()
