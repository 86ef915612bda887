"""``manifest.json``: what ran, against which endpoint, with which spec, and how it ended.

The manifest never holds the API key: it is built from explicit fields only,
and :func:`redact_args` drops any CLI argument that looks like a secret.
"""

from __future__ import annotations

import os
import platform
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Literal

import msgspec

from xai_pipelines.records import (
    UNSET,
    BatchInfo,
    ConcurrencyHistory,
    HistoryEntry,
    Manifest,
    PlanInfo,
    Progress,
    SpecInfo,
    UnsetType,
    as_record,
    manifest_from,
)
from xai_pipelines.spec.secrets import is_secret_name
from xai_pipelines.store.layout import OutputDir

RunStatus = Literal["running", "completed", "failed", "interrupted", "budget_exhausted"]
#: Seconds between two progress checkpoints of a running run.
CHECKPOINT_S = 5.0
#: The status the history gives a run whose manifest was left ``running`` by a dead process.
CRASHED = "crashed"


#: The last whole second :func:`utc_now` formatted, and its text (every result line
#: is stamped: formatting the date once a second makes a stamp 4x cheaper).
_second: tuple[int, str] = (-1, "")


def utc_now() -> str:
    """The current time as an ISO-8601 UTC string, to the millisecond (``...T08:42:48.744Z``)."""
    global _second
    seconds, ns = divmod(time.time_ns(), 1_000_000_000)
    cached = _second
    if cached[0] != seconds:
        cached = _second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{cached[1]}.{ns // 1_000_000:03d}Z"


def versions() -> dict[str, str]:
    """Versions of this package, Python and the wire libraries."""
    out = {"python": platform.python_version()}
    for dist in ("xai-pipelines", "grpcio", "protobuf"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "unknown"
    return out


def redact_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """CLI arguments with anything secret-looking replaced by ``"<redacted>"``."""
    out: dict[str, Any] = {}
    for name, value in args.items():
        if is_secret_name(name):
            out[name] = "<redacted>"
        elif isinstance(value, list | tuple):
            out[name] = [_redact_setting(v) for v in value]
        else:
            out[name] = value
    return out


def _redact_setting(value: Any) -> Any:
    if isinstance(value, str) and "=" in value:
        key, _, _ = value.partition("=")
        if is_secret_name(key):
            return f"{key}=<redacted>"
    return value


def _entry(manifest: Manifest, crash: Crash | None = None) -> HistoryEntry:
    """What the history keeps of an earlier run (``crash``: it was left ``running``)."""
    return HistoryEntry(
        run_id=manifest.run_id,
        status=manifest.status if crash is None else CRASHED,
        started_at=manifest.started_at,
        finished_at=manifest.finished_at,
        counts=manifest.counts,
        pid=manifest.pid,
        host=manifest.host,
        jobs_in_flight=UNSET if crash is None or crash.in_flight is None else crash.in_flight,
    )


@dataclass(frozen=True)
class Crash:
    """An earlier run found ``running`` with no process behind it.

    Attributes:
        manifest: Its manifest.
        in_flight: Jobs it had started (at its last checkpoint) that left no line;
            None when its manifest has no checkpoint (written before them).
    """

    manifest: Manifest
    in_flight: int | None

    def message(self) -> str:
        """The notice a resuming run gives, e.g. ``the previous run (pid 4711 on host ci-3,
        started 2026-11-29T05:00:00.000Z) did not finish: it crashed or was killed; resuming``.
        """
        m = self.manifest
        who = " ".join(
            part
            for part in (
                "" if isinstance(m.pid, UnsetType) else f"pid {m.pid}",
                "" if isinstance(m.host, UnsetType) else f"on host {m.host}",
            )
            if part
        )
        said = ", ".join(
            part for part in (who, f"started {m.started_at}" if m.started_at else "") if part
        )
        lost = ""
        if self.in_flight:
            lost = (
                f"; at least {self.in_flight} of its jobs were in flight and run again "
                "(their calls are not counted in usage.json)"
            )
        run = f"the previous run ({said})" if said else "the previous run"
        return f"{run} did not finish: it crashed or was killed; resuming{lost}"


def this_host() -> str:
    """The name of this machine, as recorded in the manifest (``host``)."""
    return socket.gethostname()


class ManifestWriter:
    """Owns ``manifest.json`` during a run as a :class:`~xai_pipelines.records.Manifest`.

    Every change goes through a method, and every write is an atomic replace of the
    file with the record's encoding.

    Args:
        out: The output directory.
        run_id: Id of this run (also on every span and result line).
        spec: Which pipeline runs: a :class:`~xai_pipelines.records.SpecInfo`, or its
            plain form ``{"name", "path", "digest", "resolved"}`` (secrets redacted).
        args: CLI arguments (redacted here).
        endpoint: API host the run talks to (``local emulator`` for ``--local``).
        previous: The manifest of an earlier run into the directory, kept as history
            (a plain manifest is decoded first).
        crash: ``previous`` was left ``running`` by a process that is gone: its
            history entry says ``crashed`` (and how many jobs it left in flight).

    Raises:
        RecordError: ``spec`` or ``previous`` is not a valid record.
    """

    def __init__(
        self,
        out: OutputDir,
        run_id: str,
        spec: SpecInfo | Mapping[str, Any],
        args: Mapping[str, Any],
        endpoint: str,
        previous: Manifest | Mapping[str, Any] | None = None,
        crash: Crash | None = None,
    ) -> None:
        self._out = out
        self._lock = threading.Lock()
        prior = previous if previous is None or isinstance(previous, Manifest) else None
        if previous is not None and prior is None:
            prior = manifest_from(previous)
        history: list[HistoryEntry] = []
        if prior is not None:
            history = [*prior.history, _entry(prior, crash)]
        self._manifest = Manifest(
            run_id=run_id,
            status="running",
            started_at=utc_now(),
            pid=os.getpid(),
            host=this_host(),
            spec=as_record(spec, SpecInfo, "manifest spec"),
            args=redact_args(args),
            endpoint=endpoint,
            versions=versions(),
            counts={},
            history=history[-20:],
        )

    @property
    def manifest(self) -> Manifest:
        """A copy of the manifest as it stands (changes go through the methods)."""
        with self._lock:
            return msgspec.structs.replace(self._manifest)

    @property
    def batch(self) -> BatchInfo:
        """The ``batch`` section so far (empty before batch mode records one)."""
        with self._lock:
            batch = self._manifest.batch
            return BatchInfo() if isinstance(batch, UnsetType) else batch

    def start(
        self,
        *,
        prices: Mapping[str, Mapping[str, Any]] | None = None,
        plan: PlanInfo | None = None,
        shard: str | None = None,
        forced_changes: list[str] | None = None,
        datasets: Mapping[str, str] | None = None,
    ) -> None:
        """Record what the run starts with (each key given; None leaves it out) and write."""
        with self._lock:
            m = self._manifest
            if prices is not None:
                m.prices = {name: dict(price) for name, price in prices.items()}
            if plan is not None:
                m.plan = plan
            if shard is not None:
                m.shard = shard
            if forced_changes:
                m.forced_changes = list(forced_changes)
            if datasets is not None:
                m.datasets = dict(datasets)
            self._write()

    def write(self) -> None:
        """Write the current state."""
        with self._lock:
            self._write()

    def _write(self) -> None:
        self._out.write_manifest(self._manifest)

    def update_batch(self, **fields: Any) -> BatchInfo:
        """Set keys of the ``batch`` section (see :class:`~xai_pipelines.records.BatchInfo`), write.

        Returns:
            The section as written.

        Raises:
            TypeError: A key the section does not have.
        """
        with self._lock:
            batch = self._manifest.batch
            base = BatchInfo() if isinstance(batch, UnsetType) else batch
            self._manifest.batch = msgspec.structs.replace(base, **fields)
            self._write()
            return self._manifest.batch

    def set_counts(self, counts: Mapping[str, Any]) -> None:
        """Replace ``counts`` (the usage report's figures, once written) and write."""
        with self._lock:
            self._manifest.counts = dict(counts)
            self._write()

    def set_concurrency(self, history: ConcurrencyHistory) -> None:
        """Record the adaptive concurrency limit's history (``run/adaptive.py``); written
        with the next write (``finish``), before the reports copy it into ``usage.json``."""
        with self._lock:
            self._manifest.concurrency = history

    def checkpoint(self, jobs_started: int, jobs_finished: int) -> None:
        """Record the run's progress (a durable mark of the calls a crash may leave uncounted)."""
        with self._lock:
            if self._manifest.status != "running":
                return
            self._manifest.progress = Progress(
                jobs_started=jobs_started, jobs_finished=jobs_finished, at=utc_now()
            )
            self._write()

    @contextmanager
    def checkpoints(
        self,
        progress: Callable[[], tuple[int, int]],
        interval_s: float = CHECKPOINT_S,
        on_error: Callable[[OSError], None] | None = None,
    ) -> Iterator[None]:
        """Write :meth:`checkpoint` every ``interval_s`` while the block runs.

        Args:
            progress: Returns ``(jobs started, jobs finished)`` of this run so far.
            interval_s: Seconds between checkpoints.
            on_error: Called with a checkpoint's failed write (the run stops on it).
        """
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(interval_s):
                started, finished = progress()
                try:
                    self.checkpoint(started, finished)
                except OSError as exc:  # a mark can wait; the run decides whether to go on
                    if on_error is not None:
                        on_error(exc)

        thread = threading.Thread(target=loop, name="manifest-checkpoint", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def finish(self, status: RunStatus, counts: Mapping[str, Any], elapsed_s: float) -> None:
        """Record how the run ended."""
        with self._lock:
            m = self._manifest
            m.status = status
            m.counts = dict(counts)
            m.finished_at = utc_now()
            m.elapsed_s = round(elapsed_s, 3)
            m.progress = UNSET
            self._write()
