"""Writes on a real full or unwritable file system: loud, and never a torn line in the middle.

A tmpfs is filled for ENOSPC; an ext4 image (loop-mounted) serves ``chattr +i``,
which tmpfs ignores for a file already open. See ``tests/small_fs.py``.
"""

from __future__ import annotations

import errno
import json
import shutil
import time
from pathlib import Path

import pytest

from tests.small_fs import ext4, fill, set_immutable, tmpfs
from xai_pipelines.store import (
    JsonlAppender,
    ManifestWriter,
    OutputDir,
    SpaceReserve,
    WriteError,
    atomic_write_bytes,
    read_jsonl,
)


def _line(i: int, size: int) -> dict[str, object]:
    return {"id": f"job-{i}", "pad": "x" * size}


def _whole_lines(path: Path) -> list[str]:
    """The ids of ``path``'s lines, checking that every line is whole JSON."""
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n"), "the file ends in a torn line"
    return [json.loads(raw)["id"] for raw in data.splitlines()]


def test_an_append_that_fills_the_disk_is_cut_back_and_the_next_starts_on_a_fresh_line() -> None:
    with tmpfs("256k") as fs:
        spare = fs / "spare"
        spare.write_bytes(b"\0" * 65536)
        path = fs / "results.jsonl"
        app = JsonlAppender(path, fsync_interval_s=60)
        written = 0
        with pytest.raises(WriteError) as caught:
            # 20 kB lines: the one that meets the end of the disk is written only in part
            for i in range(100):
                app.append(_line(i, 20_000))
                written += 1
        assert caught.value.errno == errno.ENOSPC and caught.value.out_of_space
        assert str(caught.value) == f"cannot write {path}: [Errno 28] No space left on device"
        assert 3 < written < 100
        assert _whole_lines(path) == [f"job-{i}" for i in range(written)]

        spare.unlink()  # space comes back
        app.append(_line(written, 20_000))
        app.close()
        assert _whole_lines(path) == [f"job-{i}" for i in range(written + 1)]
        assert [x["id"] for x in read_jsonl(path)] == [f"job-{i}" for i in range(written + 1)]


def test_an_immutable_file_refuses_appends_loudly_and_takes_them_again_once_writable() -> None:
    with ext4(8) as fs:
        path = fs / "results.jsonl"
        with JsonlAppender(path, fsync_interval_s=60) as app:
            app.append(_line(0, 10))
            set_immutable(path)
            with pytest.raises(WriteError) as caught:
                app.append(_line(1, 10))
            assert caught.value.errno == errno.EPERM
            assert str(caught.value) == f"cannot write {path}: [Errno 1] Operation not permitted"
            set_immutable(path, on=False)
            app.append(_line(2, 10))
        assert _whole_lines(path) == ["job-0", "job-2"]


def test_a_replacement_that_does_not_fit_keeps_the_old_file_and_leaves_no_temp() -> None:
    with tmpfs("128k") as fs:
        target = fs / "manifest.json"
        atomic_write_bytes(target, b'{"status": "running"}\n')
        fill(fs)
        with pytest.raises(WriteError) as caught:
            atomic_write_bytes(target, b"y" * 100_000)
        assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
        assert str(caught.value) == f"cannot write {target}: [Errno 28] No space left on device"
        assert target.read_bytes() == b'{"status": "running"}\n'
        assert sorted(p.name for p in fs.iterdir()) == ["filler", "manifest.json"]


def test_an_image_that_does_not_fit_leaves_no_part_file() -> None:
    with tmpfs("128k") as fs:
        out = OutputDir(fs / "out")
        out.create()
        (out.images / "job").mkdir(parents=True)
        fill(fs)
        with pytest.raises(OSError) as caught:
            out.save_image("job", 0, "png", b"\x89PNG" + b"\0" * 100_000)
        assert caught.value.errno == errno.ENOSPC
        assert list((out.images / "job").iterdir()) == []


def test_the_space_reserve_holds_real_blocks_and_gives_them_back() -> None:
    with tmpfs("1m") as fs:
        free = shutil.disk_usage(fs).free
        reserve = SpaceReserve(fs / ".space-reserve", 256 * 1024)
        assert reserve.hold()
        assert free - shutil.disk_usage(fs).free >= 256 * 1024
        reserve.release()
        assert shutil.disk_usage(fs).free == free
        assert not (fs / ".space-reserve").exists()

        fill(fs)
        assert not SpaceReserve(fs / ".space-reserve", 256 * 1024).hold()
        assert not (fs / ".space-reserve").exists()  # a reserve that could not be taken is gone


def test_a_manifest_checkpoint_that_cannot_be_written_is_reported_to_the_run() -> None:
    with tmpfs("128k") as fs:
        out = OutputDir(fs / "out")
        out.create()
        manifest = ManifestWriter(out, "run-1", {"digest": "d1"}, {}, "local")
        manifest.write()
        fill(fs)
        failures: list[OSError] = []
        with manifest.checkpoints(lambda: (1, 0), interval_s=0.01, on_error=failures.append):
            deadline = time.monotonic() + 5
            while not failures and time.monotonic() < deadline:
                time.sleep(0.01)
        assert failures, "the failed checkpoint was not reported"
        failure = failures[0]
        assert isinstance(failure, WriteError) and failure.path == out.manifest
        assert failure.errno == errno.ENOSPC
        assert json.loads(out.manifest.read_text())["status"] == "running"  # old one intact
