"""The command surface is registered from COMMAND_MODULES, and a wrong name fails loudly."""

from __future__ import annotations

import importlib

import pytest

from xai_pipelines.cli import app as cli_app


def test_a_misspelled_command_module_fails_naming_it():
    with pytest.raises(ImportError, match=r"'xai_pipelines\.cli\.run_cmdd'") as info:
        cli_app._register_all(("xai_pipelines.cli.run_cmdd",))
    assert info.value.name == "xai_pipelines.cli.run_cmdd"


def test_a_missing_import_inside_a_command_module_is_not_mistaken_for_a_missing_module(
    tmp_path, monkeypatch
):
    (tmp_path / "broken_cmd_for_test.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as info:
        cli_app._register_all(("broken_cmd_for_test",))
    assert info.value.name == "no_such_dependency_xyz"


def test_every_command_module_exists_and_registers_a_command():
    names = cli_app._command_names()
    for module_name in cli_app.COMMAND_MODULES:
        module = importlib.import_module(module_name)
        assert callable(module.register), module_name
    expected = {"run", "merge", "compare", "validate", "plan", "serve", "chat", "image"}
    assert expected | {"init"} <= names
