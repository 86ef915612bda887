"""Helpers for spec tests: write a pipeline (and its files) into a temporary directory."""

from __future__ import annotations

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
