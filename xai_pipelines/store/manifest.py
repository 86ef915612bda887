"""``manifest.json``: what ran, against which endpoint, with which spec, and how it ended.

The manifest never holds the API key: it is built from explicit fields only,
and :func:`redact_args` drops any CLI argument that looks like a secret.
"""

from __future__ import annotations

import platform
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import metadata
from typing import Any, Literal

from xai_pipelines.records import HistoryEntry, Manifest, manifest_from, to_plain
from xai_pipelines.spec.secrets import is_secret_name
from xai_pipelines.store.layout import OutputDir

RunStatus = Literal["running", "completed", "failed", "interrupted", "budget_exhausted"]


def utc_now() -> str:
    """The current time as an ISO-8601 UTC string."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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


def _entry(manifest: Manifest) -> HistoryEntry:
    """What the history keeps of an earlier run."""
    return HistoryEntry(
        run_id=manifest.run_id,
        status=manifest.status,
        started_at=manifest.started_at,
        finished_at=manifest.finished_at,
        counts=manifest.counts,
    )


class ManifestWriter:
    """Owns ``manifest.json`` during a run; every update is an atomic replace.

    Args:
        out: The output directory.
        run_id: Id of this run (also on every span and result line).
        spec: ``{"name", "path", "digest", "resolved"}`` (resolved spec, secrets redacted).
        args: CLI arguments (redacted here).
        endpoint: API host the run talks to (``local emulator`` for ``--local``).
        previous: The manifest of an earlier run into the directory, kept as history
            (a plain manifest is decoded first).

    ``data`` is the manifest's plain form; every write checks it against
    :class:`~xai_pipelines.records.Manifest` (a key no record defines is refused).
    """

    def __init__(
        self,
        out: OutputDir,
        run_id: str,
        spec: Mapping[str, Any],
        args: Mapping[str, Any],
        endpoint: str,
        previous: Manifest | Mapping[str, Any] | None = None,
    ) -> None:
        self._out = out
        self._lock = threading.Lock()
        prior = previous if previous is None or isinstance(previous, Manifest) else None
        if previous is not None and prior is None:
            prior = manifest_from(previous)
        history: list[HistoryEntry] = []
        if prior is not None:
            history = [*prior.history, _entry(prior)]
        self.data: dict[str, Any] = {
            "run_id": run_id,
            "status": "running",
            "started_at": utc_now(),
            "finished_at": None,
            "elapsed_s": None,
            "spec": dict(spec),
            "args": redact_args(args),
            "endpoint": endpoint,
            "versions": versions(),
            "counts": {},
            "history": [to_plain(h) for h in history[-20:]],
        }

    def write(self) -> None:
        """Write the current state."""
        with self._lock:
            self._out.write_manifest(self.data)

    def update(self, **fields: Any) -> None:
        """Set top-level fields and write."""
        with self._lock:
            self.data.update(fields)
            self._out.write_manifest(self.data)

    def finish(self, status: RunStatus, counts: Mapping[str, Any], elapsed_s: float) -> None:
        """Record how the run ended."""
        self.update(
            status=status,
            counts=dict(counts),
            finished_at=utc_now(),
            elapsed_s=round(elapsed_s, 3),
        )
