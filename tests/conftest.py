"""Shared fixtures: the local xAI API emulator on loopback.

* ``emulator``: one emulator for the whole session, default config (any non-empty
  key, no faults). Do not change its faults; use ``emulator_factory`` for that.
* ``emulator_factory``: ``make(config=None) -> Emulator``, started; every emulator
  made is stopped when the test ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from xai_pipelines.emulator import Emulator, EmulatorConfig


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    """A running emulator shared by the session (default config)."""
    with Emulator() as emu:
        yield emu


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
