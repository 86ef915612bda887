"""The response cache: answers of earlier runs reused across output directories.

Enabled by ``--cache DIR`` or ``execution.cache: {dir, ttl}`` (the flag wins).
The cache is one SQLite file, ``DIR/responses-v1.sqlite3``, in WAL mode: the
worker threads of a run (one connection each) and several runs in separate
processes may read and write it at once; each write is one short
``BEGIN IMMEDIATE`` transaction, and a writer waits up to
:data:`BUSY_TIMEOUT_S` for another. (WAL needs a local file system, not NFS.)

**The key** of a job is the SHA-256 of the canonical JSON (sorted keys) of::

    {"format": 1,                 # CACHE_FORMAT: bumped when entries change meaning
     "kind": "chat" | "image",
     "mode": "sample" | "stream" | "defer" | null,     # null for images
     "request": {...},            # the job's request in JSON request form, as sent:
                                  # model as written, messages, every parameter, the
                                  # seed; a local file by its sha256 (so by content)
     "turns": [...],              # further user turns of a multi-turn chat
     "model": {"requested": ..., "served": ..., "effort": ...},
     "repeat": 0,                 # the repeat index (meta.repeat): repeats never share
     "seed": 7 | null,            # the seed sent (repeats of a chat send distinct ones)
     "backend": "api.x.ai" | "local:<sha256 of --responses>" | "<host>"}

``model.served`` is the model that answers the requested name: the alias
resolution of the run's live Models listing when the name is in it, else the
bundled catalog's (a retired name goes to its redirect); ``model.effort`` is
the reasoning effort a retired name's redirect applies (else null). So a
moved alias or a retired name misses instead of returning another model's
answer. ``backend`` keeps answers of the local emulator (and of one
``--responses`` file) apart from the hosted API's.

Not in the key: the job id and task name, dataset values except through the
rendered request, ``expect`` (scores are recomputed on every hit), execution
settings (timeouts, retries, concurrency), the output directory. Two jobs with
the same key (a duplicated dataset row, say) share one answer.

A model-graded check (``llm_rubric``) is cached too, under the digest of
``{"format", "kind": "grader", "backend", "model", "system", "prompt",
"max_tokens", "response_format"}``: the grader's exact request.

**What is stored**: a job's answer (every output of every turn, or the image
bytes) with its usage, calls, attempts, latency and cost, only after its
result line was written; failed jobs and failed grader calls never. **A hit**
makes no API call and takes no rate-limit token; its result line is built from
the entry with ``"cached": true``, ``"cost_usd_ticks": 0``,
``"cost_source": "cache"``, the usage (tokens) copied, ``calls`` and
``attempts`` 0, ``ttft_s`` null, ``latency_s`` the time to serve it, and
``"cache"`` naming the key, when and by which run it was stored, and what it
cost then; images are written into the new output directory; the scores are
evaluated afresh. **TTL**: an entry older than ``ttl`` is ignored, and deleted
(with images no entry uses) when a run opens the cache.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xai_pipelines.catalog import ModelCatalog, load_catalog
from xai_pipelines.evals.grader import (
    GRADER_SYSTEM,
    VERDICT_MAX_TOKENS,
    VERDICT_SCHEMA,
    Grader,
    GraderVerdict,
    grader_prompt,
)
from xai_pipelines.plan import Job
from xai_pipelines.spec import Cache
from xai_pipelines.spec.canonical import canonical_json
from xai_pipelines.store import ResumeState

__all__ = [
    "BUSY_TIMEOUT_S",
    "CACHE_FORMAT",
    "CacheEntry",
    "CacheError",
    "CachedGrader",
    "JobCache",
    "ModelResolver",
    "ResponseCache",
    "ServedModel",
    "backend_id",
    "cache_settings",
    "job_key_material",
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


def cache_settings(
    flag_dir: Path | None, spec: Cache | None, disabled: bool = False
) -> Cache | None:
    """The cache a run uses: ``--cache DIR`` overrides ``execution.cache.dir`` (its ttl stays).

    Args:
        flag_dir: ``--cache DIR`` (None: not given).
        spec: ``spec.execution.cache``.
        disabled: ``--no-cache``: no cache, whatever the pipeline says.
    """
    if disabled:
        return None
    if flag_dir is not None:
        return Cache(flag_dir.absolute(), spec.ttl_s if spec is not None else None)
    return spec


def backend_id(endpoint: str, local: bool = False, responses: Path | str | None = None) -> str:
    """The ``backend`` part of keys: who answers.

    Args:
        endpoint: ``host[:port]`` of the API (the port is left out: it does not change answers).
        local: Answers come from the in-process emulator (``--local``).
        responses: The emulator's scripted-answers file; its content is part of the id.
    """
    if local:
        if responses is None:
            return "local"
        return "local:" + hashlib.sha256(Path(responses).read_bytes()).hexdigest()
    if endpoint.startswith("["):  # [IPv6]:port
        return endpoint.split("]", 1)[0].lower() + "]"
    return endpoint.rsplit(":", 1)[0].lower() if endpoint.count(":") == 1 else endpoint.lower()


@dataclass(frozen=True)
class ServedModel:
    """The model that answers a requested name.

    Attributes:
        name: Canonical name of the serving model.
        effort: Reasoning effort a retired name's redirect applies (None: not retired).
    """

    name: str
    effort: str | None = None


class ModelResolver:
    """Resolves requested model names to the model that serves them.

    Args:
        catalog: The bundled catalog (default: :func:`load_catalog`).
        live: Every name (and alias) of the live Models listing -> its canonical name.
    """

    def __init__(self, catalog: ModelCatalog | None = None, live: Mapping[str, str] | None = None):
        self.catalog = catalog or load_catalog()
        self.live = dict(live or {})
        self._memo: dict[str, ServedModel] = {}

    def resolve(self, name: str) -> ServedModel:
        """The model that answers ``name`` (``name`` itself when nobody knows it)."""
        served = self._memo.get(name)
        if served is None:
            retired = self.catalog.retirement(name)
            info = self.catalog.language(name) or self.catalog.image(name)
            canonical = self.live.get(name) or (info.name if info is not None else name)
            served = ServedModel(canonical, retired.effort if retired is not None else None)
            self._memo[name] = served
        return served


def _digest(material: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(material).encode()).hexdigest()


def job_key_material(job: Job, served: ServedModel, backend: str) -> dict[str, Any]:
    """What a job's key is the digest of (see the module docstring)."""
    turns = getattr(job, "turns", ())
    return {
        "format": CACHE_FORMAT,
        "kind": job.kind,
        "mode": getattr(job, "mode", None) if job.kind == "chat" else None,
        "request": job.request,
        "turns": list(turns),
        "model": {"requested": job.model, "served": served.name, "effort": served.effort},
        "repeat": int(job.meta.get("repeat", 0) or 0),
        "seed": job.seed,
        "backend": backend,
    }


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


@dataclass
class CacheCounters:
    """What a run did with the cache.

    Attributes:
        hits: Jobs served from the cache.
        stored: Jobs stored.
        grader_hits: Grader verdicts served from the cache.
        grader_stored: Grader verdicts stored.
        errors: Reads or writes that failed (each treated as a miss or skipped).
    """

    hits: int = 0
    stored: int = 0
    grader_hits: int = 0
    grader_stored: int = 0
    errors: int = 0


class JobCache:
    """A run's use of a :class:`ResponseCache`: keys, lookups and stores of jobs and verdicts.

    A cache that fails mid-run (disk full, a lock held past the busy timeout)
    never fails a job: the read is a miss, the write is skipped, and ``notify``
    hears of it once.

    Args:
        store: The cache.
        backend: Who answers (:func:`backend_id`).
        resolver: Served-model resolution (default: the bundled catalog's).
        run_id: Recorded with each entry stored.
        lookups: False: store answers, never serve jobs (batch results, already paid).
        notify: Receives the first cache failure's message.
    """

    def __init__(
        self,
        store: ResponseCache,
        backend: str,
        resolver: ModelResolver | None = None,
        run_id: str = "",
        lookups: bool = True,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.backend = backend
        self.resolver = resolver or ModelResolver()
        self.run_id = run_id
        self.lookups = lookups
        self.notify = notify
        self.counters = CacheCounters()
        self._lock = threading.Lock()

    def storing_only(self) -> JobCache:
        """A view of this cache that stores answers but serves no job (shares the counters)."""
        view = JobCache(self.store, self.backend, self.resolver, self.run_id, False, self.notify)
        view.counters, view._lock = self.counters, self._lock
        return view

    def key(self, job: Job) -> str:
        """The key of ``job`` (see the module docstring)."""
        return _digest(job_key_material(job, self.resolver.resolve(job.model), self.backend))

    def lookup(self, job: Job, key: str | None = None) -> CacheEntry | None:
        """The stored answer of ``job``, or None."""
        if not self.lookups:
            return None
        entry = self._get(key or self.key(job))
        if entry is not None and entry.kind == job.kind:
            self._count("hits")
            return entry
        return None

    def store_job(
        self,
        key: str,
        line: Mapping[str, Any],
        fields: Mapping[str, Any],
        usage: Mapping[str, Any],
        files: Mapping[int, Path],
    ) -> None:
        """Store a succeeded job (its line is already written); ``files``: image index -> file."""
        try:
            blobs: dict[str, bytes] = {}
            images = []
            for record in fields.get("images", ()):
                data = files[int(record["index"])].read_bytes()
                sha = hashlib.sha256(data).hexdigest()
                blobs[sha] = data
                images.append({**record, "sha256": sha})
            stored_fields = {**fields, "images": images} if images else dict(fields)
            record = {
                "fields": stored_fields,
                "usage": dict(usage),
                **{k: line.get(k) for k in ("calls", "attempts", "latency_s", "ttft_s")},
                "cost_usd_ticks": line.get("cost_usd_ticks"),
                "cost_source": line.get("cost_source"),
                "job_id": line.get("id"),
                "run_id": self.run_id,
                "finished_at": line.get("finished_at"),
            }
            self.store.put(key, str(line.get("kind")), record, blobs)
        except (OSError, KeyError, sqlite3.Error) as exc:
            self._failed("store", exc)
        else:
            self._count("stored")

    def grader_key(self, rubric: str, answer: str, model: str, question: str | None) -> str:
        """The key of a grader call (its exact request; see the module docstring)."""
        served = self.resolver.resolve(model)
        return _digest(
            {
                "format": CACHE_FORMAT,
                "kind": "grader",
                "backend": self.backend,
                "model": {"requested": model, "served": served.name, "effort": served.effort},
                "system": GRADER_SYSTEM,
                "prompt": grader_prompt(rubric, answer, question),
                "max_tokens": VERDICT_MAX_TOKENS,
                "response_format": VERDICT_SCHEMA,
            }
        )

    def lookup_verdict(self, key: str) -> GraderVerdict | None:
        """A stored verdict: its usage copied at no cost (``cache_hits`` 1), or None."""
        entry = self._get(key)
        if entry is None or entry.kind != "grader":
            return None
        r = entry.record
        usage = {**r.get("usage", {}), "cost_usd_ticks": 0, "cache_hits": 1}
        self._count("grader_hits")
        return GraderVerdict(bool(r["passed"]), float(r["score"]), str(r["reason"]), usage)

    def store_verdict(self, key: str, verdict: GraderVerdict) -> None:
        """Store a verdict (only ones without error are worth keeping)."""
        record = {
            "passed": verdict.passed,
            "score": verdict.score,
            "reason": verdict.reason,
            "usage": dict(verdict.usage),
            "run_id": self.run_id,
        }
        try:
            self.store.put(key, "grader", record)
        except sqlite3.Error as exc:
            self._failed("store", exc)
        else:
            self._count("grader_stored")

    def _get(self, key: str) -> CacheEntry | None:
        try:
            return self.store.get(key)
        except (sqlite3.Error, ValueError) as exc:
            self._failed("read", exc)
            return None

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self.counters, name, getattr(self.counters, name) + 1)

    def _failed(self, what: str, exc: BaseException) -> None:
        with self._lock:
            self.counters.errors += 1
            first = self.counters.errors == 1
        if first and self.notify is not None:
            self.notify(
                f"warning: response cache {what} failed ({exc}); carrying on without it "
                f"for that job ({self.store.path})"
            )


class CachedGrader(Grader):
    """A :class:`Grader` that reuses stored verdicts and stores new ones.

    A verdict served from the cache takes no rate-limit token and makes no call;
    its usage (tokens copied, ``cost_usd_ticks`` 0, ``cache_hits`` 1) is added to the
    job's ``scores.grader``. Failed calls and malformed verdicts are not stored.

    Args:
        cache: The run's cache.
        *args: As for :class:`Grader`.
        **kwargs: As for :class:`Grader`.
    """

    def __init__(self, cache: JobCache, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cache = cache

    def grade(
        self, rubric: str, answer: str, *, model: str, question: str | None = None
    ) -> GraderVerdict:
        """As :meth:`Grader.grade`, through the cache."""
        key = self.cache.grader_key(rubric, answer, model, question)
        hit = self.cache.lookup_verdict(key)
        if hit is not None:
            return hit
        verdict = super().grade(rubric, answer, model=model, question=question)
        if verdict.error is None:
            self.cache.store_verdict(key, verdict)
        return verdict


def split_hits(
    jobs: Iterable[Job],
    cache: JobCache,
    hits: dict[str, CacheEntry],
    misses: list[Job],
    resume: ResumeState | None = None,
) -> Iterator[Job]:
    """Yield the jobs the cache can answer (their entries put in ``hits``); keep the rest.

    Batch mode serves the hits locally and submits only ``misses``. Jobs an
    earlier run into the same directory finished are not looked up: they go to
    ``misses``, where batch mode skips them.
    """
    for job in jobs:
        entry = None
        if resume is None or not resume.is_done(job.id, job.digest):
            entry = cache.lookup(job)
        if entry is None:
            misses.append(job)
        else:
            hits[job.id] = entry
            yield job
