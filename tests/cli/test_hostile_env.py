"""Output paths that cannot be written: exit 2 with one line naming the path, never a traceback.

A real ``xai-run`` process for one case of each kind (exit code and stderr as a
shell sees them), typer's CliRunner for the rest. The read-only cases mount a real
read-only tmpfs, so they need root: CI runs as root (a non-root run under CI
fails; a non-root developer machine skips them with the reason).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.small_fs import require_root
from xai_pipelines.cli.app import app

XAI_RUN = [sys.executable, "-c", "from xai_pipelines.cli.app import main; main()"]


def _pipeline(tmp_path: Path) -> Path:
    data = {
        "version": 1,
        "name": "env",
        "defaults": {"model": "grok-4.3", "max_tokens": 8},
        "chats": [{"name": "q", "repeat": 2, "messages": [{"user": "Fact {{ repeat }}"}]}],
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _xai_run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``xai-run ARGS`` as a real process."""
    env = {k: v for k, v in os.environ.items() if k != "XAI_API_KEY"}
    return subprocess.run(
        [*XAI_RUN, *map(str, args)], env=env, capture_output=True, text=True, timeout=60
    )


def _invoke(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``xai-run ARGS`` in this process (CliRunner), shaped like a finished process."""
    result = CliRunner().invoke(app, list(map(str, args)), env={"XAI_API_KEY": ""})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback: the test fails with it
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A small real tmpfs, mounted read-write; ``remount(ro)`` flips it."""
    require_root()
    where = tmp_path / "fs"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _remount(where: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(where)], check=True)


def test_out_that_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("not a directory")
    line = _one_error_line(_xai_run("run", _pipeline(tmp_path), "--local", "--out", blocker))
    assert line == (
        f"error: --out {blocker} is a file, not a directory; "
        "name a directory (it is created if missing)"
    )
    assert blocker.read_text() == "not a directory"


def test_out_under_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("")
    out = blocker / "deeper" / "out"
    line = _one_error_line(_invoke("run", _pipeline(tmp_path), "--local", "--out", out))
    assert line == (
        f"error: --out {out}: {blocker} is a file, so nothing can be made under it; "
        "use another path"
    )


def test_output_dir_of_the_spec_is_named_as_such(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path)
    blocker = tmp_path / "taken"
    blocker.write_text("")
    data = yaml.safe_load(pipeline.read_text()) | {"output": {"dir": str(blocker)}}
    pipeline.write_text(yaml.safe_dump(data))
    line = _one_error_line(_invoke("run", pipeline, "--local"))
    assert line.startswith(f"error: output.dir {blocker} is a file, not a directory")


@pytest.mark.parametrize("tail", ["", "/inside"], ids=["last-part", "middle-part"])
def test_out_with_a_300_character_name(tmp_path: Path, tail: str) -> None:
    name = "n" * 300
    out = f"{tmp_path}/{name}{tail}"
    line = _one_error_line(_invoke("run", _pipeline(tmp_path), "--local", "--out", out))
    assert line == (
        f"error: --out {out}: the name '{'n' * 40}... (300 characters)' is longer than "
        "this filesystem allows (255 bytes); use a shorter name"
    )


def test_pipeline_file_with_a_300_character_name(tmp_path: Path) -> None:
    pipeline = tmp_path / f"{'p' * 300}.yaml"
    proc = _invoke("run", pipeline, "--local", "--out", tmp_path / "o")
    assert proc.returncode == 2
    assert proc.stderr == f"{pipeline}:1:1: (root): cannot read the pipeline: File name too long\n"
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("exists", [False, True], ids=["new-dir", "existing-dir"])
def test_out_on_a_read_only_filesystem(tmp_path: Path, tmpfs: Path, exists: bool) -> None:
    out = tmpfs / "out"
    if exists:
        out.mkdir()
    _remount(tmpfs, "ro")
    xai_run = _xai_run if exists else _invoke
    line = _one_error_line(xai_run("run", _pipeline(tmp_path), "--local", "--out", out))
    assert line == (
        f"error: --out {out}: read-only file system; use a directory on a writable filesystem"
    )


@pytest.fixture
def finished_run_read_only(tmp_path: Path, tmpfs: Path) -> Path:
    """A finished ``--local`` run on the tmpfs, then the tmpfs made read-only."""
    out = tmpfs / "done"
    ok = CliRunner().invoke(
        app, ["run", str(_pipeline(tmp_path)), "--local", "-q", "--out", str(out)]
    )
    assert ok.exit_code == 0, ok.output
    (out / "usage.json").unlink()  # report must write it again
    _remount(tmpfs, "ro")
    return out


def test_report_on_a_read_only_filesystem(finished_run_read_only: Path) -> None:
    out = finished_run_read_only
    line = _one_error_line(_xai_run("report", out))
    assert line == (
        f"error: cannot write the reports into {out}: read-only file system; "
        "use a directory on a writable filesystem"
    )


def test_merge_into_a_read_only_filesystem(finished_run_read_only: Path, tmp_path: Path) -> None:
    source = finished_run_read_only
    target = source.parent / "merged"
    line = _one_error_line(_invoke("merge", target, source))
    assert line == (
        f"error: cannot merge into {target}: read-only file system; "
        "use a directory on a writable filesystem"
    )
    # the same sources merge fine onto a writable disk: the refusal was about the target
    elsewhere = tmp_path / "merged"
    proc = _invoke("merge", elsewhere, source)
    assert proc.returncode == 0, proc.stderr
    assert (elsewhere / "results.jsonl").read_text().count("\n") == 2
    shutil.rmtree(elsewhere)


@pytest.mark.parametrize("case", ["long-name", "under-a-file"])
def test_init_into_a_path_that_cannot_be_made(tmp_path: Path, case: str) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("")
    target = tmp_path / ("m" * 300) if case == "long-name" else blocker / "starter"
    line = _one_error_line(_invoke("init", target))
    reason = (
        f"the name '{'m' * 40}... (300 characters)' is longer than this filesystem allows"
        if case == "long-name"
        else f"{blocker} is a file, so nothing can be made under it"
    )
    assert line.startswith(f"error: cannot write the starter files into {target}: {reason}")


def test_concurrency_flag_over_the_spec_limit(tmp_path: Path) -> None:
    """``--concurrency 1000000`` was accepted while ``execution.concurrency`` caps at 20,000."""
    proc = _invoke("run", _pipeline(tmp_path), "--local", "--concurrency", "1000000")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr == (
        "--concurrency:1:1: execution.concurrency: out of range "
        "(expected 1 to 20,000 jobs in flight, got 1,000,000)\n"
    )


def test_dataset_path_with_a_300_character_name(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path)
    data = yaml.safe_load(pipeline.read_text())
    data["datasets"] = {"rows": {"path": "d" * 300 + ".jsonl"}}
    pipeline.write_text(yaml.safe_dump(data, sort_keys=False))
    proc = _invoke("run", pipeline, "--local", "--out", tmp_path / "o")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    [line] = proc.stderr.splitlines()
    assert line.startswith(f"{pipeline}:") and "datasets.rows.path: file 'ddd" in line
    assert line.endswith("cannot be read: File name too long")
    assert not (tmp_path / "o").exists()
