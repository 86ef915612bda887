"""``xai-run run --processes N`` and ``execution.processes``: bounds, one error line, a local run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from xai_pipelines.cli.app import app
from xai_pipelines.spec.limits import MAX_PROCESSES


def _pipeline(tmp_path: Path, **execution: object) -> Path:
    data = {
        "version": 1,
        "name": "procs",
        "defaults": {"model": "grok-4.20-non-reasoning", "max_tokens": 8},
        "execution": {"concurrency": 4, **execution},
        "chats": [{"name": "q", "repeat": 6, "messages": [{"user": "Fact {{ repeat }}"}]}],
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _invoke(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(map(str, args)), env={"XAI_API_KEY": ""})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("value", ["0", "-1", str(MAX_PROCESSES + 1)])
def test_processes_flag_out_of_range_is_one_line_and_exit_2(tmp_path: Path, value: str) -> None:
    code, _, stderr = _invoke("run", _pipeline(tmp_path), "--local", "--processes", value)
    assert code == 2 and "Traceback" not in stderr
    assert stderr == (
        "--processes:1:1: execution.processes: out of range "
        f"(expected 1 to {MAX_PROCESSES} worker processes, got {int(value):,})\n"
    )
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("value", [0, 65, "two", 1.5])
def test_execution_processes_is_checked_by_the_schema(tmp_path: Path, value: object) -> None:
    code, stdout, stderr = _invoke("validate", _pipeline(tmp_path, processes=value))
    assert code == 2 and "Traceback" not in stdout + stderr
    assert "execution.processes" in stdout + stderr


@pytest.mark.slow
def test_a_local_run_over_two_processes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = _invoke(
        "run", _pipeline(tmp_path), "--local", "--processes", "2", "--out", out, "--json"
    )
    assert code == 0, stderr
    assert json.loads(stdout)["status"] == "completed"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["args"]["processes"] == 2 and manifest["counts"]["done"] == 6
    assert "2 worker processes started (concurrency 2+2)" in (out / "run.log").read_text()
