"""``--help`` of every command shows no ``<bool>``; ``--version`` names the package and the xai-sdk pin."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from xai_pipelines import __version__
from xai_pipelines.cli.app import app, main

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [path]
    for name, command in getattr(group, "commands", {}).items():
        out += _commands(command, (*path, name))
    return out


def test_no_help_shows_a_bool_metavar() -> None:
    commands = _commands(typer.main.get_command(app))
    assert {c[0] for c in commands if c} >= {"run", "validate", "plan", "init", "report", "serve"}
    for command in commands:
        result = runner.invoke(
            app, [*command, "--help"], env={"COLUMNS": "200"}, terminal_width=200
        )
        assert result.exit_code == 0, (command, result.output)
        assert "<bool>" not in result.output, (command, result.output)
        assert "--help" in result.output
    run_help = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "200"}).output
    assert re.search(r"--local\s+Run against the emulator", run_help)
    assert re.search(r"--out\s+<path>", run_help)  # value options keep their types


def test_version_names_the_package_and_the_pinned_xai_sdk() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = [
        r for r in pyproject["project"]["optional-dependencies"]["test"] if r.startswith("xai-sdk")
    ]
    (pin,) = pins
    sdk = pin.split("==")[1]
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == (
        f"xai-run (xai-pipelines) {__version__}\nprotos checked against xai-sdk {sdk}\n"
    )
    assert __version__ == pyproject["project"]["version"]


def test_version_through_the_entry_point(capsys) -> None:
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code in (0, None)
    assert capsys.readouterr().out.startswith(f"xai-run (xai-pipelines) {__version__}\n")
