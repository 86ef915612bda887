"""``run.log``: the run's own log, written into its output directory.

:func:`run_log` attaches a file handler to the package logger (``xai_pipelines``)
for the length of a run and removes it after. It records every module's messages
(attempts and retries at DEBUG, run phases at INFO, degraded behaviour at WARNING,
worker tracebacks at ERROR) from ``DEBUG`` up, or from the package logger's own
level when one is set (``xai-run --log-level``). A resumed run appends to the file.

The API key never reaches the file: a :class:`~xai_pipelines.sdk.redact.RedactingFilter`
on the handler removes the given secrets and anything bearer-shaped from every
record, traceback included.

The log is best effort: when its file cannot be written (a full disk), records
are dropped quietly instead of printing logging's own traceback on stderr; the
run reports failed writes of its results itself.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from xai_pipelines.sdk.redact import RedactingFilter

__all__ = ["LOG_FORMAT", "PACKAGE_LOGGER", "RUN_LOG", "not_emulator_chatter", "run_log"]

#: The logger every module's ``logging.getLogger(__name__)`` descends from.
PACKAGE_LOGGER = "xai_pipelines"
#: File name of the log in the output directory.
RUN_LOG = "run.log"
#: One line per record (a traceback follows its line).
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"

log = logging.getLogger(__name__)


class _RunLogHandler(logging.FileHandler):
    """A file handler that goes quiet when its file cannot be written."""

    def handleError(self, record: logging.LogRecord) -> None:
        """Drop the record (the disk is full or the file unwritable): no stderr traceback."""

    def flush(self) -> None:
        """Flush, ignoring a failed write (see the module docstring)."""
        with contextlib.suppress(OSError):
            super().flush()

    def close(self) -> None:
        """Close, ignoring a failed last write."""
        with contextlib.suppress(OSError):
            super().close()


def not_emulator_chatter(record: logging.LogRecord) -> bool:
    """A handler filter: drops the in-process emulator's records below WARNING.

    Its per-call access log (``xai_pipelines.emulator.calls``, INFO) is for
    ``xai-run serve``; in a ``--local`` run it would add a line per call.
    """
    return record.levelno >= logging.WARNING or not record.name.startswith(
        f"{PACKAGE_LOGGER}.emulator"
    )


@contextmanager
def run_log(path: Path, secrets: Iterable[str | None] = ()) -> Iterator[logging.Handler]:
    """Write the package's log records to ``path`` until the block ends.

    Args:
        path: The log file (created, or appended to).
        secrets: Values never to write (the API key), besides bearer-shaped ones.

    Yields:
        The file handler (closed when the block ends).
    """
    package = logging.getLogger(PACKAGE_LOGGER)
    level = package.level or logging.DEBUG
    handler = _RunLogHandler(path, mode="a", encoding="utf-8")
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(not_emulator_chatter)
    handler.addFilter(RedactingFilter(secrets))
    previous = package.level
    if package.getEffectiveLevel() > level:
        package.setLevel(level)
    package.addHandler(handler)
    try:
        yield handler
    except BaseException:
        log.debug("the run ended with an error", exc_info=True)
        raise
    finally:
        package.removeHandler(handler)
        package.setLevel(previous)
        handler.close()
