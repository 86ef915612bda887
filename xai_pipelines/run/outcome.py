"""What running one job produced: a result line, or a failure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from xai_pipelines.records import ResultLine
from xai_pipelines.store import WriteError


@dataclass
class DeferredWrite:
    """A file a job produced that could not be written yet (its bytes are held here).

    Attributes:
        path: Where the file goes.
        write: Writes it (raises :class:`WriteError` when it still cannot).
        error: Why the first attempt failed.
    """

    path: Path
    write: Callable[[], object]
    error: WriteError


@dataclass
class JobResult:
    """A finished job.

    Attributes:
        line: The ``results.jsonl`` line (complete but for the run id, which the sink sets).
        tokens: Tokens used (prompt + completion + reasoning), for progress.
        images: Images produced.
        cost_ticks: Cost in USD ticks, when known.
        recorded: Called once the line is written (the response cache stores the job then).
        deferred: Files of the job not written yet (a full disk): the sink writes them
            before the line, or keeps both until they can be.
    """

    line: ResultLine
    tokens: int = 0
    images: int = 0
    cost_ticks: int | None = None
    recorded: Callable[[], None] | None = None
    deferred: list[DeferredWrite] = field(default_factory=list)


class JobFailed(Exception):
    """A job that failed for good.

    Attributes:
        code: gRPC status name or a client-side error name.
        message: What went wrong (never contains the API key).
        attempts: Attempts made before giving up.
        request_id: The server's id of the failed request (``x-request-id``), when known.
    """

    def __init__(
        self, code: str, message: str, attempts: int = 0, request_id: str | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.attempts = attempts
        self.request_id = request_id
