"""The event loop of the executor and of the emulator: uvloop where it is installed.

Both run their own loops (the executor on the run's thread, each ``--processes``
worker on its own, the emulator on a thread of its own). :func:`new_event_loop`
creates every one of them, so they all follow one choice:

- ``XAI_PIPELINES_LOOP=uvloop`` (the default, :data:`DEFAULT_LOOP`): a uvloop loop
  when ``uvloop`` can be imported (a dependency on Linux and macOS; it has no
  Windows build), else the standard loop;
- ``XAI_PIPELINES_LOOP=asyncio``: always the standard loop.

An unknown value, or ``uvloop`` asked for where it is not installed, logs a
warning and runs the standard loop: the choice is about speed, never about what
a run does. grpc.aio is loop-agnostic (its completion queue is polled on a thread
of its own and hands events to whichever loop runs the call), so both loops
serve and call alike.

Why uvloop: the event loops' own cost is a large share of the CPU per call on
both sides of the wire (see ``benchmarks/README.md``, "uvloop").
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Literal

__all__ = ["DEFAULT_LOOP", "LOOPS", "LOOP_ENV", "LoopName", "loop_choice", "new_event_loop"]

log = logging.getLogger(__name__)

LoopName = Literal["asyncio", "uvloop"]
#: The environment variable that picks the loop.
LOOP_ENV = "XAI_PIPELINES_LOOP"
#: The values it takes.
LOOPS: tuple[LoopName, ...] = ("asyncio", "uvloop")
#: The loop used when the variable is unset (falls back to ``asyncio`` where uvloop is missing).
DEFAULT_LOOP: LoopName = "uvloop"


def _wanted() -> LoopName:
    value = os.environ.get(LOOP_ENV, "").strip().lower() or DEFAULT_LOOP
    if value == "uvloop":
        return "uvloop"
    if value != "asyncio":
        log.warning("%s=%s is not one of %s; using asyncio", LOOP_ENV, value, ", ".join(LOOPS))
    return "asyncio"


def loop_choice() -> LoopName:
    """The loop :func:`new_event_loop` creates now (reads :data:`LOOP_ENV`)."""
    if _wanted() == "uvloop" and _uvloop_version() is not None:
        return "uvloop"
    return "asyncio"


def _uvloop_version() -> str | None:
    try:
        import uvloop
    except ImportError:
        return None
    return str(uvloop.__version__)


def new_event_loop(purpose: str) -> asyncio.AbstractEventLoop:
    """A new event loop of the chosen kind (see the module docstring); logs which one.

    Args:
        purpose: What the loop runs, for the log line (``"executor"``, ``"emulator"``).
    """
    wanted = _wanted()
    version = _uvloop_version() if wanted == "uvloop" else None
    if version is not None:
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        log.info("%s event loop: uvloop %s", purpose, version)
        return loop
    if wanted == "uvloop" and LOOP_ENV in os.environ:
        log.warning("%s=uvloop, but uvloop is not installed; using asyncio", LOOP_ENV)
    log.info("%s event loop: asyncio", purpose)
    return asyncio.new_event_loop()
