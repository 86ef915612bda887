"""The response cache's store: one SQLite file shared by threads and processes.

``DIR/responses-v1.sqlite3`` in WAL mode: readers never block the writer and
the writer never blocks readers. Each thread has its own connection; each write
is one short ``BEGIN IMMEDIATE`` transaction (the write lock taken up front, so
two writers never deadlock upgrading a read lock), and a writer waits up to
:data:`BUSY_TIMEOUT_S` for another, in this process or another one. WAL needs
a local file system (not NFS). Image bytes live in ``blobs`` by sha256, shared
by the entries that use them (``entry_blobs``), and go when no entry uses them.
What an entry means, and its key, is :mod:`xai_pipelines.run.cache`'s business.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xai_pipelines.spec import Cache

__all__ = [
    "BUSY_TIMEOUT_S",
    "CACHE_FORMAT",
    "CacheEntry",
    "CacheError",
    "ResponseCache",
]

#: Version of the key and of what an entry holds; part of every key.
CACHE_FORMAT = 1

#: How long a writer waits for another process's write before giving up.
BUSY_TIMEOUT_S = 30.0

#: Rows deleted per transaction when pruning (keeps every transaction short).
PRUNE_CHUNK = 500

DB_NAME = f"responses-v{CACHE_FORMAT}.sqlite3"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, kind TEXT NOT NULL,"
    " stored_at REAL NOT NULL, body TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS entries_stored_at ON entries (stored_at)",
    "CREATE TABLE IF NOT EXISTS blobs (sha256 TEXT PRIMARY KEY, data BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS entry_blobs (key TEXT NOT NULL, sha256 TEXT NOT NULL,"
    " PRIMARY KEY (key, sha256)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS entry_blobs_sha256 ON entry_blobs (sha256)",
)


class CacheError(Exception):
    """The cache directory or its database cannot be used."""


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


@dataclass
class CacheEntry:
    """One stored answer.

    Attributes:
        key: Its key.
        kind: ``chat``, ``image`` or ``grader``.
        stored_at: When it was stored (seconds since the epoch).
        record: What it holds (result-line fields, usage, cost, provenance).
        blobs: Image bytes by sha256.
    """

    key: str
    kind: str
    stored_at: float
    record: dict[str, Any]
    blobs: dict[str, bytes] = field(default_factory=dict)

    def provenance(self) -> dict[str, Any]:
        """The ``cache`` object of a hit's result line."""
        r = self.record
        return {
            "key": self.key,
            "stored_at": _iso(self.stored_at),
            "run_id": r.get("run_id"),
            "job_id": r.get("job_id"),
            "cost_usd_ticks": r.get("cost_usd_ticks"),
            "latency_s": r.get("latency_s"),
        }


class ResponseCache:
    """The SQLite store of a cache directory (thread-safe; several processes may share it).

    Args:
        directory: The cache directory (created if missing).
        ttl_s: Entries older than this are ignored (None: no expiry).
        clock: Wall clock (seconds since the epoch); tests move it.

    Raises:
        CacheError: The directory or database cannot be opened.
    """

    def __init__(
        self,
        directory: Path,
        ttl_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.path = self.directory / DB_NAME
        self.ttl_s = ttl_s
        self.clock = clock
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            conn = self._conn()
            conn.execute("PRAGMA journal_mode=WAL")
            with self._write(conn):
                for statement in _SCHEMA:
                    conn.execute(statement)
        except (OSError, sqlite3.Error) as exc:
            self.close()
            raise CacheError(f"cannot open the cache at {self.directory}: {exc}") from exc

    @classmethod
    def open(cls, settings: Cache, clock: Callable[[], float] = time.time) -> ResponseCache:
        """Open the cache of ``settings`` and prune what its ttl has expired.

        Raises:
            CacheError: The directory or database cannot be used.
        """
        cache = cls(settings.dir, settings.ttl_s, clock)
        try:
            cache.prune()
        except sqlite3.Error as exc:
            cache.close()
            raise CacheError(f"cannot prune the cache at {settings.dir}: {exc}") from exc
        return cache

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoints, never torn
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @staticmethod
    def _write(conn: sqlite3.Connection) -> _Transaction:
        return _Transaction(conn)

    def _fresh_after(self) -> float | None:
        return None if self.ttl_s is None else self.clock() - self.ttl_s

    def get(self, key: str) -> CacheEntry | None:
        """The entry under ``key`` with its image bytes, or None (missing or expired)."""
        conn = self._conn()
        row = conn.execute(
            "SELECT kind, stored_at, body FROM entries WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        kind, stored_at, body = row
        after = self._fresh_after()
        if after is not None and stored_at < after:
            return None
        entry = CacheEntry(key, kind, float(stored_at), json.loads(body))
        for sha, data in conn.execute(
            "SELECT b.sha256, b.data FROM entry_blobs e JOIN blobs b ON b.sha256 = e.sha256"
            " WHERE e.key = ?",
            (key,),
        ):
            entry.blobs[sha] = bytes(data)
        wanted = {i.get("sha256") for i in entry.record.get("fields", {}).get("images", ())}
        if not wanted <= set(entry.blobs):
            return None  # an image went missing: not a usable answer
        return entry

    def put(
        self,
        key: str,
        kind: str,
        record: Mapping[str, Any],
        blobs: Mapping[str, bytes] | None = None,
    ) -> None:
        """Store (or replace) the entry under ``key``, with its image bytes, in one transaction."""
        body = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        blobs = blobs or {}
        conn = self._conn()
        with self._write(conn):
            for sha, data in blobs.items():
                conn.execute(
                    "INSERT OR IGNORE INTO blobs (sha256, data) VALUES (?, ?)", (sha, data)
                )
            conn.execute("DELETE FROM entry_blobs WHERE key = ?", (key,))
            conn.executemany(
                "INSERT INTO entry_blobs (key, sha256) VALUES (?, ?)", [(key, s) for s in blobs]
            )
            conn.execute(
                "INSERT OR REPLACE INTO entries (key, kind, stored_at, body) VALUES (?, ?, ?, ?)",
                (key, kind, self.clock(), body),
            )

    def prune(self) -> int:
        """Delete expired entries, then images no entry uses; returns the entries deleted."""
        conn = self._conn()
        deleted = 0
        after = self._fresh_after()
        while after is not None:
            with self._write(conn):
                keys = [
                    k
                    for (k,) in conn.execute(
                        "SELECT key FROM entries WHERE stored_at < ? LIMIT ?", (after, PRUNE_CHUNK)
                    )
                ]
                conn.executemany("DELETE FROM entries WHERE key = ?", [(k,) for k in keys])
                conn.executemany("DELETE FROM entry_blobs WHERE key = ?", [(k,) for k in keys])
            deleted += len(keys)
            if len(keys) < PRUNE_CHUNK:
                break
        while True:
            with self._write(conn):
                cur = conn.execute(
                    "DELETE FROM blobs WHERE sha256 IN (SELECT sha256 FROM blobs WHERE sha256 NOT IN"
                    " (SELECT sha256 FROM entry_blobs) LIMIT ?)",
                    (PRUNE_CHUNK,),
                )
            if cur.rowcount < PRUNE_CHUNK:
                break
        return deleted

    def count(self, kind: str | None = None) -> int:
        """Entries stored (of ``kind``), expired ones included."""
        sql = "SELECT COUNT(*) FROM entries"
        args: tuple[str, ...] = ()
        if kind is not None:
            sql, args = sql + " WHERE kind = ?", (kind,)
        return int(self._conn().execute(sql, args).fetchone()[0])

    def close(self) -> None:
        """Close every connection (call when no thread uses the cache any more)."""
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on error).

    IMMEDIATE takes the write lock up front, so two writers never deadlock
    upgrading a read lock; the busy timeout makes the second one wait.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")
