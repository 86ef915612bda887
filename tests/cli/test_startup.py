"""Start-up stays light: ``xai-run --help``, ``--version`` and ``validate`` import only what they use.

Every ``xai-run`` (and every subprocess of the test suite) used to import grpc,
opentelemetry, the protos, jsonschema, jinja2 and the emulator before parsing its
arguments: about a second of CPU. The commands now import their layers inside
the command, and the sdk/, spec/ and plan/ packages import their re-exports on
first use (:mod:`xai_pipelines._lazy`). Each check runs in a fresh interpreter
and reads its ``sys.modules``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xai_pipelines.cli.app import app

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter: ``import`` imports the CLI as the console script
# does; anything else is the command line given to ``xai-run``. The last line
# printed is the JSON list of every module imported.
PROBE = """
import json, sys
argv = sys.argv[1:]
if argv == ["import"]:
    import xai_pipelines.cli
    import xai_pipelines.cli.app
else:
    from xai_pipelines.cli.app import main
    try:
        main(argv)
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
print()
print(json.dumps(sorted(sys.modules)))
"""

#: Imported by no command before it runs: the client, the emulator and their dependencies.
RUNTIME_ONLY = (
    "grpc",
    "opentelemetry",
    "google.protobuf",
    "requests",
    "xai_pipelines.emulator.server",  # the package's config.py alone holds option types
    "xai_pipelines.proto",
    "xai_pipelines.sdk.client",
)
#: Imported only by commands that read a pipeline.
SPEC_ONLY = ("jinja2", "jsonschema", "xai_pipelines.spec.loader", "xai_pipelines.catalog")


def imported_modules(*argv: str) -> set[str]:
    """The modules a fresh ``python`` has imported after ``argv`` (see :data:`PROBE`)."""
    env = {k: v for k, v in os.environ.items() if k != "XAI_API_KEY"}  # no live model check
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def loaded(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    """The ``packages`` (or any of their submodules) found in ``modules``."""
    return sorted(p for p in packages if any(m == p or m.startswith(p + ".") for m in modules))


@pytest.mark.parametrize(
    "argv", [("import",), ("--help",), ("--version",)], ids=["import", "help", "version"]
)
def test_the_cli_imports_no_client_emulator_or_spec_layer_before_a_command_runs(argv):
    modules = imported_modules(*argv)
    assert "xai_pipelines.cli.app" in modules  # the probe did import the CLI
    assert loaded(modules, RUNTIME_ONLY + SPEC_ONLY) == []


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_offline_checks_import_the_spec_layer_but_no_client_or_emulator(command):
    modules = imported_modules(command, "pipelines/eval.yaml")  # no key: the bundled catalog
    assert loaded(modules, SPEC_ONLY) == sorted(SPEC_ONLY)  # it did validate
    assert loaded(modules, RUNTIME_ONLY) == []


def test_one_module_of_a_layer_does_not_import_the_whole_layer():
    # The logging set-up of every command needs sdk.redact; the commands catch
    # spec.errors' SpecError and parse --shard with plan.shard before they read a pipeline.
    probe = (
        "import sys, json; import xai_pipelines.sdk.redact, xai_pipelines.spec.errors, "
        "xai_pipelines.plan.shard; print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert loaded(set(json.loads(out.stdout)), RUNTIME_ONLY + SPEC_ONLY) == []


def test_lazy_exports_behave_as_the_eager_imports_did():
    import xai_pipelines.sdk as sdk
    import xai_pipelines.sdk.image  # noqa: F401  binds the submodule on the package
    from xai_pipelines.sdk import image
    from xai_pipelines.sdk.messages import image as message_image

    assert image is message_image  # the export wins over the submodule, as before
    assert sdk.image is message_image
    assert sdk.errors.__name__ == "xai_pipelines.sdk.errors"  # a submodule, imported on use
    assert {"Client", "image", "user"} <= set(dir(sdk))
    with pytest.raises(AttributeError, match="has no attribute 'Clinet'"):
        _ = sdk.Clinet


@pytest.mark.parametrize("command", ["run", "chat", "image"])
def test_endpoint_help_names_the_clients_default_host(command):
    # The help texts write the host out, so that --help need not import the client.
    from xai_pipelines.sdk.client import DEFAULT_HOST

    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert f"(default {DEFAULT_HOST})" in " ".join(result.output.split())
