"""Crash-safe file primitives: atomic replace, durable appends, torn-line repair."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xai_pipelines.store import (
    JsonlAppender,
    atomic_write_json,
    read_jsonl,
    repair_tail,
)


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "m.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_appender_round_trip_across_threads(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "r.jsonl"
    with JsonlAppender(path, fsync_interval_s=0.01) as app:
        threads = [
            threading.Thread(target=lambda k=k: [app.append({"k": k, "i": i}) for i in range(200)])
            for k in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    lines = list(read_jsonl(path))
    assert len(lines) == 800
    assert {(x["k"], x["i"]) for x in lines} == {(k, i) for k in range(4) for i in range(200)}


def test_append_after_close_raises(tmp_path: Path) -> None:
    app = JsonlAppender(tmp_path / "r.jsonl")
    app.close()
    with pytest.raises(ValueError, match="closed"):
        app.append({"x": 1})


@pytest.mark.parametrize(
    "tail",
    [b'{"id": "c", "val', b'{"id": "c"}', b"garbage\n"],
    ids=["cut-mid-object", "complete-object-without-newline", "invalid-last-line"],
)
def test_torn_last_line_dropped_on_read_and_repaired(tmp_path: Path, tail: bytes) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"id": "a"}\n{"id": "b"}\n' + tail)
    assert [x["id"] for x in read_jsonl(path)] == ["a", "b"]
    assert repair_tail(path) == len(tail)
    assert path.read_bytes() == b'{"id": "a"}\n{"id": "b"}\n'
    with JsonlAppender(path) as app:
        app.append({"id": "c"})
    assert [x["id"] for x in read_jsonl(path)] == ["a", "b", "c"]


def test_intact_file_is_not_touched(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"id": "a"}\n')
    assert repair_tail(path) == 0
    assert repair_tail(tmp_path / "missing.jsonl") == 0


def test_damage_in_the_middle_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"id": "a"}\nnot json\n{"id": "b"}\n')
    with pytest.raises(ValueError, match=r"r.jsonl:2: damaged JSON line"):
        list(read_jsonl(path))


def test_sigkilled_writer_leaves_a_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from xai_pipelines.store import JsonlAppender\n"
        "app = JsonlAppender(Path(sys.argv[1]), fsync_interval_s=0.05)\n"
        "i = 0\n"
        "while True:\n"
        "    app.append({'i': i, 'pad': 'x' * 5000})\n"
        "    i += 1\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)])
    deadline = time.monotonic() + 30
    while (not path.exists() or path.stat().st_size < 200_000) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    lines = list(read_jsonl(path))
    assert len(lines) > 10
    assert [x["i"] for x in lines] == list(range(len(lines)))
    repair_tail(path)
    assert path.read_bytes().endswith(b"\n")
