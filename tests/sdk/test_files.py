"""The Files client and once-per-content uploads against the emulator's Files service."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from xai_pipelines.sdk import Client, FileInfo, FileUploads, file, user
from xai_pipelines.sdk.errors import NotFoundError, RequestValidationError


@pytest.fixture
def fresh(emulator_factory, make_client) -> tuple[Client, object]:
    emu = emulator_factory()
    return make_client(emu), emu


def test_upload_bytes_and_paths_then_get_content_and_delete(fresh, tmp_path: Path):
    client, emu = fresh
    data = bytes(range(256)) * 40
    a = client.files.upload(data, filename="a.bin", chunk_bytes=1000, expires_after=3600)
    assert isinstance(a, FileInfo) and a.filename == "a.bin" and a.size == len(data)
    assert a.created_at is not None and a.expires_at is not None
    assert dt.timedelta(minutes=59) < a.expires_at - a.created_at <= dt.timedelta(hours=1)
    path = tmp_path / "notes.txt"
    path.write_text("hello files")
    b = client.files.upload(path)
    c = client.files.upload(str(path), filename="renamed.txt", expires_after=dt.timedelta(hours=2))
    assert (b.filename, c.filename, b.expires_at) == ("notes.txt", "renamed.txt", None)
    assert client.files.get(a.id) == a
    assert client.files.content(a.id) == data
    assert client.files.content(b.id) == b"hello files"
    nameless = client.files.upload(b"\x89PNG\r\n\x1a\nrest")
    assert nameless.filename.startswith("upload-") and nameless.filename.endswith(".png")
    deleted = client.files.delete(a.id)
    assert deleted.id == a.id and deleted.deleted
    with pytest.raises(NotFoundError):
        client.files.get(a.id)
    assert emu.stats.calls["UploadFile"] == 4


def test_list_orders_sorts_filters_and_pages(fresh):
    client, _ = fresh
    for name, size in (("b.txt", 30), ("a.txt", 10), ("c.txt", 20)):
        client.files.upload(b"x" * size, filename=name)
    by_name = client.files.list(order="asc", sort_by="filename")
    assert [f.filename for f in by_name.files] == ["a.txt", "b.txt", "c.txt"]
    by_size = client.files.list(order="desc", sort_by="size")
    assert [f.size for f in by_size.files] == [30, 20, 10]
    first = client.files.list(limit=2, sort_by="filename")
    assert len(first.files) == 2 and first.pagination_token
    rest = client.files.list(limit=2, sort_by="filename", pagination_token=first.pagination_token)
    assert [f.filename for f in first.files + rest.files] == ["a.txt", "b.txt", "c.txt"]
    assert rest.pagination_token is None
    assert [f.filename for f in client.files.iter_files(page_size=1, sort_by="size")] == [
        "a.txt", "c.txt", "b.txt"]  # fmt: skip
    big = client.files.list(filter="size_bytes > 15")
    assert {f.filename for f in big.files} == {"b.txt", "c.txt"}
    with pytest.raises(RequestValidationError, match="sort_by must be one of"):
        client.files.list(sort_by="colour")  # type: ignore[arg-type]


def test_public_urls_are_made_served_and_revoked(fresh):
    client, _ = fresh
    jpeg = client.image.sample("a fox", "grok-imagine-image").image
    info = client.files.upload(jpeg, filename="fox.jpg")
    public = client.files.create_public_url(info.id, expires_after=3600)
    assert public.public_url and public.expires_at is not None
    assert requests.get(public.public_url, timeout=10).content == jpeg
    assert client.files.get(info.id).public_url == public.public_url
    revoked = client.files.revoke_public_url(info.id)
    assert revoked.revoked and revoked.public_url == public.public_url
    again = client.files.revoke_public_url(info.id)
    assert not again.revoked and again.public_url is None


def test_bad_uploads_are_refused_before_sending(fresh, tmp_path: Path):
    client, emu = fresh
    with pytest.raises(RequestValidationError, match="no such file"):
        client.files.upload(tmp_path / "missing.pdf")
    with pytest.raises(RequestValidationError, match="positive number of seconds"):
        client.files.upload(b"x", expires_after=0)
    with pytest.raises(RequestValidationError, match="bytes or a path"):
        client.files.upload(12)  # type: ignore[arg-type]
    assert emu.stats.calls.get("UploadFile", 0) == 0


def test_file_uploads_upload_each_content_once_across_threads(fresh, tmp_path: Path):
    client, emu = fresh
    uploads = FileUploads(client.files)
    one, same = tmp_path / "one.pdf", tmp_path / "same-bytes.pdf"
    one.write_bytes(b"%PDF-1.4 one")
    same.write_bytes(b"%PDF-1.4 one")
    barrier = threading.Barrier(16)

    def ask(i: int) -> str:
        barrier.wait(timeout=30)
        source = (one, str(same), b"%PDF-1.4 one", b"%PDF-1.4 two")[i % 4]
        return uploads.file_id(source)

    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(ask, range(16)))
    assert len(set(ids)) == 2 and len(uploads) == 2
    assert emu.stats.calls["UploadFile"] == 2
    assert set(uploads.ids.values()) == set(ids)
    assert client.files.content(ids[0]) == b"%PDF-1.4 one"  # whichever name came first
    with pytest.raises(RequestValidationError, match="no such file"):
        uploads.file_id(tmp_path / "nope")


def test_image_inputs_by_file_id_and_storage_options(fresh):
    client, _ = fresh
    model = "grok-imagine-image"
    base = client.image.sample("a red fox", model)
    info = client.files.upload(base.image, filename="fox.jpg")
    edited = client.image.sample(
        "make it blue", model, image_urls=[{"file_id": info.id}, base.image],
        storage_options={"filename": "blue.jpg", "expires_after": 3600, "public_url": True},
    )  # fmt: skip
    stored = edited.file_output
    assert stored is not None and stored.filename == "blue.jpg" and stored.public_url
    assert edited.storage_error is None
    assert client.files.content(stored.file_id) == edited.image
    assert edited.to_dict()["file_output"]["file_id"] == stored.file_id
    one = client.image.sample("again", model, image_url={"file_id": info.id})
    assert one.image
    chat = client.chat.create("grok-4.3", messages=[user("describe", file(info.id))])
    assert chat.sample().content
