"""``-v`` / ``--log-level`` and ``run.log`` through the CLI, against the emulator with a canary key."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from xai_pipelines.cli.app import _hoist_logging_flags, app
from xai_pipelines.emulator import Emulator, EmulatorConfig, FaultConfig
from xai_pipelines.run.runlog import PACKAGE_LOGGER

CANARY = "xai-canary-DO-NOT-LOG-0123456789abcdef"
runner = CliRunner()


def _pipeline(tmp_path: Path) -> Path:
    data = {
        "version": 1,
        "name": "log-test",
        "defaults": {"model": "grok-3-mini", "max_tokens": 16, "temperature": 0, "seed": 5},
        "execution": {
            "concurrency": 2,
            "retries": {"max_attempts": 6, "initial_backoff": "1ms", "max_backoff": "5ms"},
        },
        "chats": [
            {
                "name": "q",
                "id": "q-{{ repeat }}",
                "repeat": 6,
                "messages": [{"user": "Fact {{ repeat }}."}],
            }
        ],
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _run(tmp_path: Path, emu: Emulator, out: str, *flags: str) -> Any:
    """``xai-run FLAGS run ...`` (``main`` moves flags given after the command to the front)."""
    args = [*flags, "run", str(_pipeline(tmp_path)), "--out", str(tmp_path / out)]
    args += ["--endpoint", emu.address, "--quiet"]
    return runner.invoke(app, args, env={"XAI_API_KEY": CANARY})


@pytest.fixture(autouse=True)
def _restore_package_logger() -> Iterator[None]:
    """The root command configures the package logger; later tests get it back as it was."""
    package = logging.getLogger(PACKAGE_LOGGER)
    level, handlers = package.level, list(package.handlers)
    yield
    package.setLevel(level)
    package.handlers[:] = handlers


@pytest.fixture
def flaky(emulator_factory: Callable[..., Emulator]) -> Emulator:
    faults = FaultConfig(seed=3, unavailable_rate=0.4, methods=("/xai_api.Chat/GetCompletion",))
    return emulator_factory(EmulatorConfig(api_keys=(CANARY,), faults=faults))


def test_run_log_holds_phases_and_attempts_but_never_the_key(
    tmp_path: Path, flaky: Emulator
) -> None:
    result = _run(tmp_path, flaky, "o")
    assert result.exit_code == 0, result.stderr
    assert flaky.stats.errors_injected  # retries happened, so attempts were logged
    log = (tmp_path / "o" / "run.log").read_text()
    assert " INFO " in log and "plan: 6 jobs" in log and "ended: completed" in log
    assert " DEBUG " in log and "attempt 1 failed (UNAVAILABLE" in log
    assert "xai_pipelines.emulator" not in log  # the in-process emulator's access log stays out
    assert CANARY not in log
    assert "Traceback" not in log and " ERROR " not in log  # a healthy run
    assert (tmp_path / "o" / "results.jsonl").read_text().count("\n") == 6
    for path in (tmp_path / "o").rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path
    assert "DEBUG" not in result.stderr and "INFO" not in result.stderr  # quiet by default


def test_v_raises_stderr_verbosity_and_log_level_sets_both(tmp_path: Path, flaky: Emulator) -> None:
    info = _run(tmp_path, flaky, "a", "-vv")
    assert info.exit_code == 0, info.stderr
    assert "INFO xai_pipelines.run.session: plan: 6 jobs" in info.stderr
    assert "DEBUG" not in info.stderr
    debug = _run(tmp_path, flaky, "b", "-vvv")
    assert "DEBUG xai_pipelines" in debug.stderr and CANARY not in debug.stderr
    warning = _run(tmp_path, flaky, "c", "--log-level", "warning")
    assert warning.exit_code == 0, warning.stderr
    assert "INFO" not in warning.stderr
    assert " INFO " not in (tmp_path / "c" / "run.log").read_text()  # the file follows it


def test_a_bad_log_level_is_exit_2() -> None:
    result = runner.invoke(app, ["--log-level", "LOUD", "validate", "x.yaml"])
    assert result.exit_code == 2
    assert "--log-level" in result.stderr and "Traceback" not in result.stderr


def test_logging_flags_may_follow_the_command() -> None:
    flags, rest = _hoist_logging_flags(
        ["run", "p.yaml", "-vv", "--out", "o", "--log-level", "INFO", "--", "-v"]
    )
    assert flags == ["-vv", "--log-level", "INFO"]
    assert rest == ["run", "p.yaml", "--out", "o", "--", "-v"]


@pytest.mark.parametrize(("verbose", "traceback_shown"), [(0, False), (1, False), (3, True)])
def test_a_logged_traceback_stays_in_run_log_unless_debug(
    verbose: int, traceback_shown: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """A worker bug is one stderr line pointing to run.log; -vvv shows its traceback too."""
    from xai_pipelines.cli.app import configure_logging

    configure_logging(verbose=verbose)  # -v, -vvv
    try:
        raise RuntimeError("boom in a worker")
    except RuntimeError:
        logging.getLogger(f"{PACKAGE_LOGGER}.run.executor").exception("job q-1: the runner raised")
    finally:
        configure_logging()  # back to the default handler
    err = capsys.readouterr().err
    assert "ERROR xai_pipelines.run.executor: job q-1: the runner raised" in err
    assert ("Traceback (most recent call last)" in err) is traceback_shown
    assert ("RuntimeError: boom in a worker" in err) is traceback_shown
    assert ("(traceback in run.log)" in err) is not traceback_shown
