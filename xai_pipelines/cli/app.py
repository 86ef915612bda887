"""The ``xai-run`` application: one typer app, one module per command group.

``xai-run PIPELINE.yaml [options]`` is shorthand for ``xai-run run PIPELINE.yaml``:
:func:`main` inserts ``run`` when the first argument is not a known command.
Each command module exposes ``register(app)``; the list below is the whole
command surface.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from xai_pipelines import __version__

DISTRIBUTION = "xai-pipelines"


class _FlagsWithoutType:
    """Help shows no value type for a flag (``--local``, not ``--local <bool>``).

    Typer's rich help prints every option's type, and a flag's is ``bool``,
    although a flag takes no value. An empty metavar prints nothing there; value
    options keep their types. Mixed into the app's command and group classes.
    """

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        return params


class Command(_FlagsWithoutType, TyperCommand):
    """Every ``xai-run`` command."""


class Group(_FlagsWithoutType, TyperGroup):
    """The ``xai-run`` group (and any subgroup)."""


app = typer.Typer(
    name="xai-run",
    help="Run declarative YAML pipelines against the xAI API (or its local emulator).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=Group,
)


def sdk_version_checked() -> str:
    """The official xai-sdk version our protos are checked against (its pin in the test extra)."""
    try:
        requirements = importlib.metadata.requires(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
    for requirement in requirements:
        match = re.match(r"xai-sdk\s*==\s*([^;\s]+)", requirement)
        if match:
            return match.group(1)
    return "unknown"


def version_text() -> str:
    """What ``xai-run --version`` prints."""
    return (
        f"xai-run (xai-pipelines) {__version__}\n"
        f"protos checked against xai-sdk {sdk_version_checked()}"
    )


def _show_version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_show_version,
            help="Show the version (and the xai-sdk version the protos are checked against).",
        ),
    ] = False,
) -> None:
    """Run declarative YAML pipelines against the xAI API (or its local emulator)."""


# Modules that define commands, in help order. Each has ``register(app: typer.Typer)``.
COMMAND_MODULES = (
    "xai_pipelines.cli.run_cmd",
    "xai_pipelines.cli.merge_cmd",
    "xai_pipelines.cli.compare_cmd",
    "xai_pipelines.cli.spec_cmds",
    "xai_pipelines.cli.serve",
    "xai_pipelines.cli.interactive",
    "xai_pipelines.cli.init_cmd",
)


def _register_all(modules: tuple[str, ...] = COMMAND_MODULES) -> None:
    """Register every command module's commands on :data:`app`.

    Raises:
        ImportError: When a module of ``modules`` does not exist (a misspelled
            name would otherwise drop its commands without a word).
    """
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            raise ImportError(f"command module {name!r} does not exist", name=name) from exc
        module.register(app)
    for info in app.registered_commands:  # typer fills in its own class when none is given
        if info.cls in (None, TyperCommand):
            info.cls = Command
    for group in app.registered_groups:
        if group.cls in (None, TyperGroup):
            group.cls = Group


_register_all()


def _command_names() -> set[str]:
    names = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    names |= {g.name for g in app.registered_groups if g.name}
    return names


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and not args[0].startswith("-") and args[0] not in _command_names():
        args.insert(0, "run")
    app(args=args, prog_name="xai-run")


if __name__ == "__main__":
    main()
