"""Ctrl-C handling: the first stops dispatching gracefully, the second aborts at once.

A graceful stop lets in-flight calls finish within a grace period and leaves
the manifest marked ``interrupted``. An abort does not wait for workers; it
runs the abort callback (sync the files, mark the manifest) and leaves the
process with exit status 130. Every result line is written with a single
``write`` call and every manifest update is an atomic rename, so neither path
can leave a half-written file behind.

Before the jobs run (loading, planning, connecting), :func:`stop_raises` turns
SIGINT and SIGTERM into ``KeyboardInterrupt``: nothing is in flight yet, so the
command stops there with 130. A run handles SIGINT from start to end even when
it was started with SIGINT ignored (as a non-interactive shell starts a
background job): the run already did so once its jobs ran, and a stop lost
while a long plan expands is lost until the paid calls begin. To keep a run
from a terminal's Ctrl-C, start it in its own session (``setsid``).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

EXIT_INTERRUPTED = 130

log = logging.getLogger(__name__)


class Interrupts:
    """Installs SIGINT/SIGTERM handlers for the duration of a run.

    Args:
        on_abort: Called on the second signal, before the process exits with 130.
        on_first: Called on the first signal (e.g. to tell the user what happens next).

    Attributes:
        stop: Set on the first signal: dispatch no new job.
    """

    def __init__(
        self,
        on_abort: Callable[[], None] | None = None,
        on_first: Callable[[], None] | None = None,
    ) -> None:
        self.stop = threading.Event()
        self.signals = 0
        self._on_abort = on_abort
        self._on_first = on_first
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signals += 1
        if self.signals == 1:
            log.info("signal %d: no new job is dispatched; in-flight jobs may finish", signum)
            self.stop.set()
            if self._on_first is not None:
                self._on_first()
            return
        log.warning("signal %d again: aborting at once", signum)
        try:
            if self._on_abort is not None:
                self._on_abort()
        finally:
            os._exit(EXIT_INTERRUPTED)

    def install(self) -> None:
        """Install the handlers (only possible on the main thread; a no-op elsewhere)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        """Put the previous handlers back."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def __enter__(self) -> Interrupts:
        self.install()
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def stop_raises() -> Iterator[None]:
    """SIGINT and SIGTERM raise ``KeyboardInterrupt`` in the block, even if ignored at start.

    For the part of a run before its jobs are dispatched (the run's own
    :class:`Interrupts` take over while they run, and hand back to this). On
    leaving, the handlers the process had before are put back. A no-op off the
    main thread, where no handler can be installed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {
        sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():  # None: set outside Python, the default then
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
