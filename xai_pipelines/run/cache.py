"""The response cache: answers of earlier runs reused across output directories.

Enabled by ``--cache DIR`` or ``execution.cache: {dir, ttl}`` (the flag wins).
The cache is one SQLite file, ``DIR/responses-v1.sqlite3``, in WAL mode: the
worker threads of a run (one connection each) and several runs in separate
processes may read and write it at once; each write is one short
``BEGIN IMMEDIATE`` transaction, and a writer waits up to
:data:`BUSY_TIMEOUT_S` for another (:mod:`xai_pipelines.run.cache_store`; WAL
needs a local file system, not NFS).

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
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
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
from xai_pipelines.records import ChatReply, ImageReply, ResultLine, to_plain
from xai_pipelines.run.cache_store import (
    BUSY_TIMEOUT_S,
    CACHE_FORMAT,
    CacheEntry,
    CacheError,
    ResponseCache,
)
from xai_pipelines.spec.canonical import canonical_json
from xai_pipelines.store import ResumeState

__all__ = [
    "BUSY_TIMEOUT_S",
    "CACHE_FORMAT",
    "CacheCounters",
    "CacheEntry",
    "CacheError",
    "CachedGrader",
    "JobCache",
    "ModelResolver",
    "ResponseCache",
    "ServedModel",
    "backend_id",
    "job_key_material",
    "split_hits",
]


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
        "repeat": job.meta.get("repeat", 0),
        "seed": job.seed,
        "backend": backend,
    }


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
        line: ResultLine,
        reply: ChatReply | ImageReply | None,
        files: Mapping[int, Path],
    ) -> None:
        """Store a succeeded job (its line is already written); ``files``: image index -> file."""
        try:
            blobs: dict[str, bytes] = {}
            fields = {} if reply is None else to_plain(reply)
            if isinstance(reply, ImageReply):
                images = []
                for image, plain in zip(reply.images, fields["images"], strict=True):
                    data = files[image.index].read_bytes()
                    sha = hashlib.sha256(data).hexdigest()
                    blobs[sha] = data
                    images.append({**plain, "sha256": sha})
                fields["images"] = images
            record = {
                "fields": fields,
                "usage": to_plain(line.usage),
                "calls": line.calls,
                "attempts": line.attempts,
                "latency_s": line.latency_s,
                "ttft_s": line.ttft_s,
                "cost_usd_ticks": line.cost_usd_ticks,
                "cost_source": line.cost_source,
                "job_id": line.id,
                "run_id": self.run_id,
                "finished_at": line.finished_at,
            }
            self.store.put(key, line.kind, record, blobs)
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
