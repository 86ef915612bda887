"""A key the API cannot receive: exit 2 before any call, one line, the key never shown.

Before the check a key with a trailing newline or a non-ASCII character failed
every call with ``INTERNAL: Invalid metadata``, retried (129 error lines for 43 jobs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from xai_pipelines.cli.app import app
from xai_pipelines.emulator import Emulator, EmulatorConfig

XAI_RUN = [sys.executable, "-c", "from xai_pipelines.cli.app import main; main()"]
KEY = "xai-Key0123456789abcdefghij"
BAD = KEY[:11] + "é" + KEY[11:]
runner = CliRunner()


def _pipeline(tmp_path: Path, jobs: int = 3) -> Path:
    data = {
        "version": 1,
        "name": "keys",
        "defaults": {"model": "grok-4.3", "max_tokens": 8},
        "chats": [{"name": "q", "repeat": jobs, "messages": [{"user": "Fact {{ repeat }}"}]}],
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _one_line_without_the_key(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and KEY[7:] not in stderr and KEY[:4] + "K" not in stderr
    return lines[0]


def test_run_with_a_non_ascii_key_exits_2_before_any_call(
    tmp_path: Path, emulator_factory: Callable[..., Emulator]
) -> None:
    emu = emulator_factory(EmulatorConfig(api_keys=(KEY,)))
    out = tmp_path / "out"
    proc = subprocess.run(
        [*XAI_RUN, str(_pipeline(tmp_path)), "--out", str(out), "--endpoint", emu.address, "-q"],
        env={**os.environ, "XAI_API_KEY": BAD},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    line = _one_line_without_the_key(proc.stderr)
    assert line.startswith("error: XAI_API_KEY contains a non-ASCII character (U+00E9")
    assert "at position 12; keys are visible ASCII" in line
    assert sum(emu.stats.calls.values()) == 0  # not even the model list
    assert not (out / "errors.jsonl").exists()


def test_run_with_a_trailing_newline_key_runs(
    tmp_path: Path, emulator_factory: Callable[..., Emulator]
) -> None:
    emu = emulator_factory(EmulatorConfig(api_keys=(KEY,)))
    out = tmp_path / "out"
    args = ["run", str(_pipeline(tmp_path)), "--out", str(out), "--endpoint", emu.address, "-q"]
    result = runner.invoke(app, args, env={"XAI_API_KEY": KEY + "\n"})
    assert result.exit_code == 0, result.stderr
    assert len((out / "results.jsonl").read_text().splitlines()) == 3
    assert not (out / "errors.jsonl").exists() or not (out / "errors.jsonl").read_text()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "completed"


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "PIPELINE"],
        ["chat"],
        ["image", "--out", "OUT"],
    ],
    ids=["validate", "chat", "image"],
)
def test_other_commands_refuse_a_bad_key_with_exit_2(
    tmp_path: Path, emulator_factory: Callable[..., Emulator], args: list[str]
) -> None:
    emu = emulator_factory(EmulatorConfig(api_keys=(KEY,)))
    argv = [
        str(_pipeline(tmp_path)) if a == "PIPELINE" else str(tmp_path / "i") if a == "OUT" else a
        for a in args
    ]
    result = runner.invoke(
        app, [*argv, "--endpoint", emu.address], input="Hi\n", env={"XAI_API_KEY": "\t\x01"}
    )
    assert result.exit_code == 2, result.output
    line = _one_line_without_the_key(result.stderr)
    assert "XAI_API_KEY contains a control character (U+0001) at position 2" in line
    assert sum(emu.stats.calls.values()) == 0


def test_a_blank_key_is_named_as_blank(tmp_path: Path, emulator: Emulator) -> None:
    args = ["run", str(_pipeline(tmp_path)), "--out", str(tmp_path / "o")]
    result = runner.invoke(app, [*args, "--endpoint", emulator.address], env={"XAI_API_KEY": " "})
    assert result.exit_code == 2
    assert "XAI_API_KEY is blank" in _one_line_without_the_key(result.stderr)
