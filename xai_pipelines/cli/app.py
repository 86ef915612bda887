"""The ``xai-run`` application: one typer app, one module per command group.

``xai-run PIPELINE.yaml [options]`` is shorthand for ``xai-run run PIPELINE.yaml``:
:func:`main` inserts ``run`` when the first argument is not a known command.
Each command module exposes ``register(app)``; the list below is the whole
command surface.
"""

from __future__ import annotations

import importlib
import sys

import typer

app = typer.Typer(
    name="xai-run",
    help="Run declarative YAML pipelines against the xAI API (or its local emulator).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Modules that define commands, in help order. Each has ``register(app: typer.Typer)``.
COMMAND_MODULES = (
    "xai_pipelines.cli.run_cmd",
    "xai_pipelines.cli.merge_cmd",
    "xai_pipelines.cli.spec_cmds",
    "xai_pipelines.cli.serve",
    "xai_pipelines.cli.interactive",
)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # command group not built yet
        module.register(app)


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
