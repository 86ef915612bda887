"""Shared fixtures: the local xAI API emulator on loopback.

* ``emulator``: one emulator for the whole session, default config (any non-empty
  key, no faults). Prefer ``emulator_factory`` for faults; if a test does call
  ``emulator.set_faults``, the faults are reset when that test ends.
* ``emulator_factory``: ``make(config=None) -> Emulator``, started; every emulator
  made is stopped when the test ends.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

# The suite starts a few hundred Python subprocesses (xai-run, emulators, workers). Where
# the machine sets PYTHONDONTWRITEBYTECODE, each of them compiled the package again
# (~0.5 s of CPU); letting them cache bytecode (__pycache__ is git-ignored) took the suite
# from 3m22s to 3m06s of CPU, 130 s to 124 s on 2 cores (2026-11-29, a clean clone).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

from xai_pipelines.emulator import Emulator, EmulatorConfig, FaultConfig


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    """A running emulator shared by the session (default config)."""
    with Emulator() as emu:
        yield emu


@pytest.fixture(autouse=True)
def _not_under_github_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep runs inside tests from annotating or writing the step summary of a real CI job.

    Tests of the GitHub outputs set these variables themselves.
    """
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _shared_emulator_faults_reset(request: pytest.FixtureRequest) -> Iterator[None]:
    """Keep one test's faults on the shared emulator from leaking into the next."""
    yield
    if "emulator" in request.fixturenames:
        emu = request.getfixturevalue("emulator")
        if emu.faults != FaultConfig():
            emu.set_faults(FaultConfig())


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., Emulator]]:
    """Start emulators with a custom config; all are stopped at test end."""
    started: list[Emulator] = []

    def make(config: EmulatorConfig | None = None) -> Emulator:
        emu = Emulator(config).start()
        started.append(emu)
        return emu

    yield make
    for emu in reversed(started):
        emu.stop()
