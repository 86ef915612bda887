"""Helpers for spec tests: write a pipeline (and its files) into a temporary directory.

Option: ``--fuzz-cases N`` (when pytest starts in or below ``tests/spec``) or
``XAI_FUZZ_CASES=N`` anywhere sets how many mutated pipelines the validate fuzz
(``test_fuzz_validate.py``) tries; the default is a fast CI size.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

HEAD = "version: 1\nname: t\n"


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """``write(yaml_text, name, files)`` -> pipeline path; ``files`` maps relative paths to text/bytes."""

    def _write(
        text: str, name: str = "p.yaml", files: dict[str, str | bytes] | None = None
    ) -> Path:
        for rel, content in (files or {}).items():
            target = tmp_path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(HEAD + textwrap.dedent(text), encoding="utf-8")
        return path

    return _write


FUZZ_ENV = "XAI_FUZZ_CASES"
FUZZ_DEFAULT_CASES = 200


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fuzz-cases",
        type=int,
        default=None,
        help=f"mutated pipelines the validate fuzz tries (default {FUZZ_DEFAULT_CASES}; "
        f"also: {FUZZ_ENV}=N)",
    )


@pytest.fixture
def fuzz_cases(request: pytest.FixtureRequest) -> int:
    """How many fuzz cases to run: ``--fuzz-cases``, else ``XAI_FUZZ_CASES``, else the CI size."""
    flag = request.config.getoption("--fuzz-cases", default=None)
    if flag is not None:
        return int(flag)
    return int(os.environ.get(FUZZ_ENV) or FUZZ_DEFAULT_CASES)
