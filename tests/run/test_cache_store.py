"""The response cache's store and key: SQLite under threads and processes, TTL, the key's parts."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from xai_pipelines.plan import ChatJob, ImageJob
from xai_pipelines.run.cache import (
    CACHE_FORMAT,
    CacheError,
    JobCache,
    ModelResolver,
    ResponseCache,
    ServedModel,
    backend_id,
    job_key_material,
)
from xai_pipelines.spec import Cache


class Clock:
    """A wall clock the test moves."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _chat(repeat: int = 0, seed: int | None = 7, **request: Any) -> ChatJob:
    req = {"model": "grok-4.3", "messages": [{"role": "user", "content": "Hi"}], "seed": seed}
    return ChatJob(
        id=f"c-{repeat}",
        request={**req, **request},
        meta=MappingProxyType({"repeat": repeat}),
    )


def _image(repeat: int = 0) -> ImageJob:
    return ImageJob(
        id=f"i-{repeat}",
        request={"prompt": "a fox", "model": "grok-imagine-image"},
        meta=MappingProxyType({"repeat": repeat}),
    )


def test_key_material_names_every_part_and_each_part_changes_the_key(tmp_path: Path) -> None:
    store = ResponseCache(tmp_path)
    cache = JobCache(store, "api.x.ai")
    job = _chat()
    material = job_key_material(job, cache.resolver.resolve(job.model), "api.x.ai")
    assert set(material) == {
        "format",
        "kind",
        "mode",
        "request",
        "turns",
        "model",
        "repeat",
        "seed",
        "backend",
    }
    assert material["format"] == CACHE_FORMAT
    assert material["model"] == {"requested": "grok-4.3", "served": "grok-4.3", "effort": None}
    base = cache.key(job)
    assert len(base) == 64 and cache.key(_chat()) == base  # deterministic
    variants = [
        _chat(repeat=1),  # same request, other repeat: never the same slot
        _chat(seed=8),
        _chat(temperature=0.5),
        _chat(model="grok-4.20-non-reasoning"),
        ChatJob(id="c-0", request=job.request, mode="stream", meta=job.meta),
        ChatJob(id="c-0", request=job.request, meta=job.meta, turns=({"role": "user"},)),
    ]
    keys = {cache.key(v) for v in variants} | {JobCache(store, "local").key(job)}
    assert base not in keys and len(keys) == len(variants) + 1
    # what does not change what is sent does not change the key
    renamed = ChatJob(id="other", request=job.request, task="t", meta=job.meta)
    assert cache.key(renamed) == base
    assert cache.key(_image(0)) != cache.key(_image(1))  # images carry no seed: repeat decides
    store.close()


def test_served_model_follows_aliases_redirects_and_the_live_listing() -> None:
    resolver = ModelResolver()
    assert resolver.resolve("grok-4.20-non-reasoning") == ServedModel(
        "grok-4.20-0309-non-reasoning"
    )
    assert resolver.resolve("grok-3") == ServedModel("grok-4.3", "none")  # retired: redirect
    assert resolver.resolve("grok-4-0709") == ServedModel("grok-4.3", "low")
    assert resolver.resolve("no-such-model") == ServedModel("no-such-model")
    moved = ModelResolver(live={"grok-4.20-non-reasoning": "grok-4.20-1111-non-reasoning"})
    assert moved.resolve("grok-4.20-non-reasoning").name == "grok-4.20-1111-non-reasoning"


def test_backend_id(tmp_path: Path) -> None:
    assert backend_id("api.x.ai:443") == "api.x.ai"
    assert backend_id("US-East-1.API.x.ai") == "us-east-1.api.x.ai"
    assert backend_id("[::1]:5000") == "[::1]"
    assert backend_id("127.0.0.1:5000", local=True) == "local"
    rules = tmp_path / "r.yaml"
    rules.write_text("- {match: x, content: y}\n")
    digest = hashlib.sha256(rules.read_bytes()).hexdigest()
    assert backend_id("", local=True, responses=rules) == f"local:{digest}"


def test_ttl_ignores_old_entries_and_prune_deletes_them_with_their_images(tmp_path: Path) -> None:
    clock = Clock()
    store = ResponseCache(tmp_path, ttl_s=60.0, clock=clock)
    png = b"\x89PNG" + b"x" * 100
    sha = hashlib.sha256(png).hexdigest()
    record = {"fields": {"images": [{"index": 0, "sha256": sha}]}}
    store.put("old", "image", record, {sha: png})
    clock.now += 30
    store.put("new", "chat", {"fields": {"content": "hi"}})
    assert store.get("old") is not None and store.get("new") is not None
    clock.now += 31  # "old" is 61 s old, "new" 31 s
    assert store.get("old") is None
    entry = store.get("new")
    assert entry is not None and entry.record["fields"]["content"] == "hi"
    assert store.count() == 2  # ignored, not yet deleted
    assert store.prune() == 1
    assert store.count() == 1
    blobs = store._conn().execute("SELECT COUNT(*) FROM blobs").fetchone()[0]
    assert blobs == 0  # the image went with its only entry
    store.close()
    # opening with a ttl prunes; without one nothing expires
    clock.now += 3600
    assert ResponseCache(tmp_path, clock=clock).get("new") is not None
    reopened = ResponseCache.open(Cache(tmp_path, 60.0), clock=clock)
    assert reopened.count() == 0
    reopened.close()


def test_an_entry_whose_image_is_gone_is_a_miss(tmp_path: Path) -> None:
    store = ResponseCache(tmp_path)
    store.put("k", "image", {"fields": {"images": [{"index": 0, "sha256": "ab" * 32}]}})
    assert store.get("k") is None
    store.close()


def test_an_unusable_directory_is_a_cache_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(CacheError, match="cannot open the cache"):
        ResponseCache(blocker)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "responses-v1.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(CacheError, match="cannot open the cache"):
        ResponseCache(tmp_path / "c")


def test_threads_share_one_store(tmp_path: Path) -> None:
    store = ResponseCache(tmp_path)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(50):
                store.put(f"{t}-{i}", "chat", {"fields": {"content": f"{t}/{i}"}})
                assert store.get(f"{t}-{i}") is not None
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert store.count() == 400
    store.close()


WRITER = textwrap.dedent(
    """
    import hashlib, sys
    from pathlib import Path
    from xai_pipelines.run.cache import ResponseCache

    directory, name, start = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    store = ResponseCache(directory)
    while not start.exists():  # both processes write at the same moment
        pass
    for i in range(150):
        blob = (name + str(i)).encode() * 2000
        sha = hashlib.sha256(blob).hexdigest()
        record = {"fields": {"images": [{"index": 0, "sha256": sha}]}, "by": name}
        store.put(f"{name}-{i}", "image", record, {sha: blob})
        # the same keys from both processes: last writer wins, never a torn entry
        store.put(f"shared-{i % 20}", "chat", {"fields": {"content": name}, "by": name})
        assert store.get(f"{name}-{i}") is not None
    store.close()
    """
)


def test_two_processes_write_one_cache_at_once(tmp_path: Path) -> None:
    cache_dir, start = tmp_path / "cache", tmp_path / "go"
    ResponseCache(cache_dir).close()  # created once; the writers race on writes, not creation
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(cache_dir), name, str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name in ("a", "b")
    ]
    start.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    store = ResponseCache(cache_dir)
    assert store.count("image") == 300 and store.count("chat") == 20
    for name in ("a", "b"):
        for i in range(150):
            entry = store.get(f"{name}-{i}")
            assert entry is not None and entry.record["by"] == name
            assert list(entry.blobs.values()) == [(name + str(i)).encode() * 2000]
    for i in range(20):
        shared = store.get(f"shared-{i}")
        assert shared is not None and shared.record["fields"]["content"] == shared.record["by"]
    store.close()
