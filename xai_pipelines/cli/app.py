"""The ``xai-run`` application: one typer app, one module per command group.

``xai-run PIPELINE.yaml [options]`` is shorthand for ``xai-run run PIPELINE.yaml``:
:func:`main` inserts ``run`` when the first argument is not a known command.
Each command module exposes ``register(app)``; the list below is the whole
command surface.

Start-up stays light: a command module imports the layers its command uses
(grpc, the emulator, jsonschema, jinja2) inside that command, so ``--help``,
``--version`` and each command pay only for what they use
(tests/cli/test_startup.py holds this).
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import sys
from typing import Annotated, Any, TextIO

import typer
from typer.core import TyperCommand, TyperGroup

from xai_pipelines.version import __version__

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
    import importlib.metadata

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


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: What stderr shows without ``-v`` or ``--log-level``: only errors (a run's own
#: terminal output is unchanged); each ``-v`` shows one level more.
STDERR_LEVEL = logging.ERROR


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


class _BriefFormatter(logging.Formatter):
    """One line per record on stderr: a traceback goes to ``run.log`` only.

    At ``DEBUG`` (``-vvv`` or ``--log-level debug``) tracebacks are shown too.
    The record itself is not changed: ``run.log``'s handler formats it in full.
    """

    def __init__(self, fmt: str, show_tracebacks: bool) -> None:
        super().__init__(fmt)
        self.show_tracebacks = show_tracebacks

    def format(self, record: logging.LogRecord) -> str:
        if self.show_tracebacks or not (record.exc_info or record.exc_text or record.stack_info):
            return super().format(record)
        brief = logging.makeLogRecord(
            {**record.__dict__, "exc_info": None, "exc_text": None, "stack_info": None}
        )
        return super().format(brief) + " (traceback in run.log)"


def _check_level(value: str | None) -> str | None:
    if value is not None and value.upper() not in LOG_LEVELS:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(LOG_LEVELS)}")
    return None if value is None else value.upper()


def configure_logging(verbose: int = 0, log_level: str | None = None) -> None:
    """Send the package's log records to stderr at the level the flags ask for.

    ``--log-level`` sets the package logger's level (stderr and ``run.log`` both
    follow it); otherwise stderr shows errors, and each ``-v`` one level more
    (``-v`` warnings, ``-vv`` info, ``-vvv`` debug) while ``run.log`` keeps DEBUG.
    Calling it again replaces the handler it installed before.
    """
    from xai_pipelines.run.runlog import PACKAGE_LOGGER, not_emulator_chatter
    from xai_pipelines.sdk.redact import RedactingFilter

    package = logging.getLogger(PACKAGE_LOGGER)
    for old in [h for h in package.handlers if isinstance(h, _StderrHandler)]:
        package.removeHandler(old)
    package.setLevel(logging.NOTSET if log_level is None else log_level)
    handler = _StderrHandler()
    level = log_level if log_level is not None else max(logging.DEBUG, STDERR_LEVEL - 10 * verbose)
    handler.setLevel(level)
    handler.setFormatter(
        _BriefFormatter(
            "%(levelname)s %(name)s: %(message)s",
            show_tracebacks=(level if isinstance(level, int) else logging.getLevelName(level))
            <= logging.DEBUG,
        )
    )
    handler.addFilter(not_emulator_chatter)
    raw_key = os.environ.get("XAI_API_KEY")
    handler.addFilter(RedactingFilter((raw_key, raw_key and raw_key.strip())))
    package.addHandler(handler)


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
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose",
            "-v",
            count=True,
            metavar="",
            show_default=False,
            help="More log messages on stderr; repeat for more (-v warnings, -vv info, -vvv debug).",
        ),
    ] = 0,
    log_level: Annotated[
        str | None,
        typer.Option(
            "--log-level",
            metavar="LEVEL",
            callback=_check_level,
            help="Log level of stderr and run.log: DEBUG, INFO, WARNING, ERROR or CRITICAL.",
        ),
    ] = None,
) -> None:
    """Run declarative YAML pipelines against the xAI API (or its local emulator)."""
    configure_logging(verbose, log_level)


# Modules that define commands, in help order. Each has ``register(app: typer.Typer)``.
COMMAND_MODULES = (
    "xai_pipelines.cli.run_cmd",
    "xai_pipelines.cli.merge_cmd",
    "xai_pipelines.cli.compact_cmd",
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


def _hoist_logging_flags(args: list[str]) -> tuple[list[str], list[str]]:
    """Split out ``-v``/``--verbose``/``--log-level`` wherever they are (before ``--``).

    They belong to the root command, but users put them after the command too
    (``xai-run run p.yaml -v``); :func:`main` moves them in front.
    """
    flags: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest += args[i:]
            break
        if arg == "--verbose" or re.fullmatch(r"-v+", arg) or arg.startswith("--log-level="):
            flags.append(arg)
        elif arg == "--log-level" and i + 1 < len(args):
            flags += args[i : i + 2]
            i += 1
        else:
            rest.append(arg)
        i += 1
    return flags, rest


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    flags, args = _hoist_logging_flags(list(sys.argv[1:] if argv is None else argv))
    if args and not args[0].startswith("-") and args[0] not in _command_names():
        args.insert(0, "run")
    app(args=[*flags, *args], prog_name="xai-run")


if __name__ == "__main__":
    main()
