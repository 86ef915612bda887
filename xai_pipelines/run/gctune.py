"""The garbage collector's settings while the executor runs jobs.

A run keeps many long-lived objects (modules, the plan's state, the clients) and
makes short-lived ones per job. With the interpreter's defaults, every tenth
young collection walks the middle generation and, now and then, a full one walks
every live object again; the jobs in flight survive young collections and are
promoted, so the older generations keep growing. While jobs run,
:func:`calm_gc` moves what exists before the first job out of the collector's
sight (``gc.freeze``: it is never garbage during the run) and makes young
collections rarer (:data:`GEN0_THRESHOLD` allocations instead of 700), so fewer
in-flight objects are promoted. Garbage cycles are still collected, just in
larger batches. Measured at concurrency 64 with no latency (3,000 jobs): a
client process spent 0.25 to 0.37 s of ~6 s CPU in collections; with these
settings about 0.04 s.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: Allocations between young collections while jobs run (the interpreter's default is 700).
GEN0_THRESHOLD = 10_000

_lock = threading.Lock()
_depth = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def calm_gc() -> Iterator[None]:
    """Freeze what exists and raise the young threshold until the block ends.

    Nested or concurrent uses (tests run several executors in one process) share
    one setting: the first to enter applies it, the last to leave restores the
    previous threshold and unfreezes.
    """
    global _depth, _saved
    with _lock:
        _depth += 1
        if _depth == 1:
            _saved = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(max(GEN0_THRESHOLD, _saved[0]), _saved[1], _saved[2])
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                gc.unfreeze()
                _saved = None
