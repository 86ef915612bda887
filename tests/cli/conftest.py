"""Options of the CLI tests: ``--soak`` turns on the long SIGKILL soak.

``pytest tests/cli --soak`` (the option exists when pytest starts in or below
``tests/cli``) or ``XAI_SOAK=1`` anywhere (``XAI_SOAK=1 pytest tests``) runs the
long version (tests marked ``soak``): 50 seeded SIGKILLs over thousands of jobs,
minutes. Without either they are deselected and the short seeded version runs
with the suite.
"""

from __future__ import annotations

import os

import pytest

SOAK_ENV = "XAI_SOAK"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak",
        action="store_true",
        default=False,
        help=f"run the long SIGKILL soak of xai-run (also: {SOAK_ENV}=1)",
    )


def soak_requested(config: pytest.Config) -> bool:
    """Whether the long soak was asked for (``--soak`` or ``XAI_SOAK=1``)."""
    flag = bool(config.getoption("--soak", default=False))
    return flag or os.environ.get(SOAK_ENV, "") not in ("", "0")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"soak: the long soak; runs with --soak or {SOAK_ENV}=1")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave the ``soak`` tests out (deselected, not skipped) unless asked for."""
    if soak_requested(config):
        return
    long = [item for item in items if item.get_closest_marker("soak")]
    if long:
        config.hook.pytest_deselected(items=long)
        items[:] = [item for item in items if not item.get_closest_marker("soak")]
