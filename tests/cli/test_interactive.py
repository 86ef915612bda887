"""``xai-run chat`` and ``xai-run image`` driven through stdin with typer's CliRunner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xai_pipelines.cli.app import app
from xai_pipelines.emulator import EmulatorConfig
from xai_pipelines.sdk import Client, system, user
from xai_pipelines.sdk.image_bytes import sniff_mime


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def run_chat(runner, emu, stdin: str, *args: str):
    env = {"XAI_API_KEY": emu.api_key}
    return runner.invoke(app, ["chat", "--endpoint", emu.address, *args], input=stdin, env=env)


def test_chat_keeps_history_and_stops_at_exit(runner, emulator):
    result = run_chat(runner, emulator, "First question\n\nSecond question\nexit\nNever sent\n",
                      "--system", "Be terse.")  # fmt: skip
    assert result.exit_code == 0, result.output
    with Client(api_key=emulator.api_key, api_host=emulator.address) as client:
        chat = client.chat.create("grok-4.3", [system("Be terse."), user("First question")])
        first = chat.sample()
        chat.append(first).append(user("Second question"))
        second = chat.sample()
    assert result.stdout == f"{first.content}\n{second.content}\n"


def test_chat_stream_prints_the_same_answers(runner, emulator):
    plain = run_chat(runner, emulator, "Hello\nMore please\n")
    streamed = run_chat(runner, emulator, "Hello\nMore please\n", "--stream")
    assert plain.exit_code == streamed.exit_code == 0
    assert streamed.stdout == plain.stdout and plain.stdout.strip()


def test_chat_n_prints_every_answer(runner, emulator):
    result = run_chat(runner, emulator, "Pick a word\nexit\n", "--n", "3", "--model", "grok-4.3")
    assert result.exit_code == 0, result.output
    starts = [line[:4] for line in result.stdout.splitlines() if line.startswith("[")]
    assert starts == ["[1] ", "[2] ", "[3] "]


def test_chat_local_needs_no_key(runner):
    result = runner.invoke(app, ["chat", "--local"], input="Hi\n", env={"XAI_API_KEY": ""})
    assert result.exit_code == 0, result.output
    assert result.stdout.strip()


def test_missing_key_is_a_clear_usage_error(runner):
    result = runner.invoke(app, ["chat"], input="Hi\n", env={"XAI_API_KEY": ""})
    assert result.exit_code == 2
    assert "XAI_API_KEY" in result.stderr and "--local" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args", [["chat", "--n", "0"], ["image", "--format", "gif"], ["image", "--n", "11"]]
)
def test_bad_options_exit_2(runner, args):
    result = runner.invoke(app, [*args, "--local"], input="x\n")
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_refused_key_exits_1_without_printing_the_key(runner, emulator_factory):
    emu = emulator_factory(EmulatorConfig(api_keys=("accepted-key",)))
    secret = "refused-key-abcdef"
    result = runner.invoke(app, ["chat", "--endpoint", emu.address], input="Hi\n",
                           env={"XAI_API_KEY": secret})  # fmt: skip
    assert result.exit_code == 1
    assert "UNAUTHENTICATED" in result.stderr and secret not in result.output


def test_image_saves_every_image_and_prints_the_paths(runner, tmp_path: Path):
    out = tmp_path / "imgs"
    result = runner.invoke(app, ["image", "--local", "--n", "2", "--format", "url", "--out", str(out)],
                           input="a red fox\na lighthouse\nexit\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    paths = [Path(line) for line in result.stdout.splitlines()]
    assert len(paths) == 4 and all(p.parent == out for p in paths)
    assert [p.stem for p in paths] == ["001-1", "001-2", "002-1", "002-2"]
    assert all(sniff_mime(p.read_bytes()) for p in paths)


def test_image_base64_against_an_endpoint(runner, emulator, tmp_path: Path):
    result = runner.invoke(app, ["image", "--endpoint", emulator.address, "--out", str(tmp_path)],
                           input="a fox\n", env={"XAI_API_KEY": emulator.api_key})  # fmt: skip
    assert result.exit_code == 0, result.output
    [path] = [Path(line) for line in result.stdout.splitlines()]
    assert path.exists() and path.suffix in {".png", ".jpg", ".webp"}


def test_broken_streams_are_announced_and_the_loop_goes_on(runner, emulator_factory):
    from xai_pipelines.emulator import FaultConfig

    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(cut_stream_after=1)))
    result = run_chat(runner, emu, "Tell me a story\nexit\n", "--stream")
    assert result.exit_code == 1  # a call failed
    # every attempt is cut after one chunk: 4 restarts, then the turn fails and the loop goes on
    assert result.stderr.count("[connection lost; answer restarted]") == 4
    assert result.stderr.count("error: UNAVAILABLE: injected fault: stream cut") == 1
    assert emu.stats.streams_cut == 5


def test_chat_goes_on_after_an_api_error_and_exits_1(emulator):
    """A real process: the exit code a shell sees (was 0 after errors)."""
    proc = subprocess.run(
        [sys.executable, "-c", "from xai_pipelines.cli.app import main; main()", "chat",
         "--endpoint", emulator.address, "--model", "no-such-model"],
        input="First\nSecond\n", env={**os.environ, "XAI_API_KEY": emulator.api_key},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == 2 and all(e.startswith("error: ") for e in errors)  # both prompts tried
    assert "no-such-model" in errors[0] and "Traceback" not in proc.stderr


def run_image(runner, out: Path, stdin: str, *args: str):
    return runner.invoke(app, ["image", "--local", "--out", str(out), *args], input=stdin)


def test_image_never_overwrites_an_earlier_session(runner, tmp_path: Path):
    out = tmp_path / "imgs"
    first = run_image(runner, out, "a red fox\na lighthouse\n", "--n", "2")
    assert first.exit_code == 0, first.output
    kept = {p: p.read_bytes() for p in out.iterdir()}
    (out / "notes.txt").write_text("mine")  # not an image name: ignored, untouched
    second = run_image(runner, out, "a blue whale\n", "--n", "2")
    assert second.exit_code == 0, second.output
    paths = [Path(line) for line in second.stdout.splitlines()]
    assert [p.stem for p in paths] == ["003-1", "003-2"]
    assert all(p.read_bytes() == data for p, data in kept.items())
    assert len(list(out.iterdir())) == 4 + 2 + 1


def test_image_exits_1_after_an_api_error_and_goes_on(runner, tmp_path: Path):
    out = tmp_path / "imgs"
    result = run_image(runner, out, "a fox\na heron\n", "--model", "no-such-image-model")
    assert result.exit_code == 1
    assert result.stderr.count("error: ") == 2 and "Traceback" not in result.output
    assert list(out.iterdir()) == []


def test_image_out_under_a_file_is_exit_2_before_any_call(runner, tmp_path: Path):
    blocker = tmp_path / "taken"
    blocker.write_text("")
    result = run_image(runner, blocker / "imgs", "a fox\n")
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: --out {blocker / 'imgs'}: {blocker} is a file, so nothing can be made "
        "under it; use another path\n"
    )
