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
a run does. grpc.aio does not care which loop runs it (grpcio 1.85 polls its
completion queue on a thread of its own and wakes the loop through a socket the
loop watches), so both loops serve and call alike.

Why uvloop: with thousands of calls in flight the loops' own work (timers, ready
queues, socket callbacks) is a visible share of the CPU per call on both sides.
Measured 2026-11-29 on the shared 2-core machine, ``xai-run run`` against
``xai-run serve --latency 2`` at concurrency 2,048 (8,192 jobs), CPU time from the
kernel, uvloop over asyncio with the variable set for both processes:

- A and B in turns, 6 pairs: emulator CPU per call x0.894 median (0.837..1.009),
  client CPU per job x0.919 (0.877..1.091);
- A and B at the same time (same machine noise), 3 pairs: emulator x0.895
  (0.875..0.898), client x0.956 (0.946..1.001).

At the in-flight row's quick size (256 in flight, 0.5 s, 1,024 jobs), 3 pairs in
turns: emulator x0.83 (0.73..1.08), client x0.63 (0.53..0.85). At concurrency 64
with no latency (the client-cost row) no difference showed (3 pairs, ratios
0.91..1.17 either way). A bare grpc.aio server measured x0.85 process CPU
(``benchmarks/README.md``).

Known problems, where ``XAI_PIPELINES_LOOP=asyncio`` is the way out (read 2026-11-29):
uvloop with asyncio's debug mode (``PYTHONASYNCIODEBUG=1``) crashes on Python 3.13
(https://github.com/apache/airflow/pull/61281); a segfault closing handles is reported
against uvloop 0.22.1 and open (https://github.com/MagicStack/uvloop/issues/706). Neither
showed here (Python 3.11, uvloop 0.23.0, grpcio 1.85: the whole suite runs on uvloop).
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
