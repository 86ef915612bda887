"""``report.html``: one self-contained page (inline CSS, SVG and one small script; no network).

Sections: totals, a per-model table with latency percentile bars, a latency
histogram, eval pass rates, the failing assertions, why jobs failed (errors by
code and message), every case, and a gallery of generated images.

Every case: one entry per job (id, task, row vars, the last user prompt, the
answer or image thumbnails, each assertion with its reason, the error of a job
that failed at the API, a cache-hit label). Jobs that differ only in one matrix
value are shown side by side. The page embeds them as JSON in a
``<script type="application/json">`` element: a lookup table of the strings many
jobs share and one compact array per job, answers and prompts cut to a length
that keeps a 100,000-job page at a few MB (the full length is noted). At most
:data:`MAX_CASES` jobs are embedded: a larger run shows every failing job first,
then the others, and says so (memory stays bounded at a million jobs); its
script filters and renders one page of cases at a time, with DOM text nodes
only. A Content-Security-Policy allows that one script (by its hash) and no
network at all.

Result and error lines are records (:mod:`xai_pipelines.records`); the plan's
lines and the messages of a request are plain JSON, checked for as ``dict``.
Everything is read in one streaming pass over each job's last result line
(:mod:`xai_pipelines.report.latest`; then the final error lines, then the plan
for jobs that never finished), keeping per embedded job only its compact record. Markup comes from autoescaping Jinja2 templates
(``templates/``), so every text from a run is escaped.
"""

from __future__ import annotations

import json
import re
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

from markupsafe import Markup

from xai_pipelines.records import (
    AssertionOutcome,
    ErrorLine,
    EvalsReport,
    ImageRecord,
    Manifest,
    ReportTotals,
    ResultLine,
    UnsetType,
    UsageReport,
    scores_of,
    to_plain,
)
from xai_pipelines.report import svg
from xai_pipelines.report.cost import ticks_to_usd
from xai_pipelines.report.latest import LatestResults
from xai_pipelines.report.lines import (
    as_manifest,
    as_usage_report,
    error_records,
    unset_or,
)
from xai_pipelines.report.templates import csp_hash, environment, static_text
from xai_pipelines.report.usage import percentile
from xai_pipelines.store import OutputDir, read_jsonl

#: Images shown in the gallery.
MAX_GALLERY = 120
#: Jobs embedded in the page at most: a larger run shows every failing job first, then
#: the others up to this many (every job is in results.jsonl and junit.xml).
MAX_CASES = 100_000
#: Cases (rows of the cases table) per page in the browser.
PAGE_SIZE = 100
#: Characters of answers and prompts embedded for a whole run; divided among its
#: jobs, within [MIN_TEXT, MAX_TEXT] per text.
TEXT_BUDGET = 6_000_000
MIN_TEXT, MAX_TEXT = 160, 2000
#: Longest assertion reason, error message and row value embedded.
MAX_REASON = 300
MAX_MESSAGE = 500
MAX_VAR = 120
#: Row vars embedded per job.
MAX_VARS = 12
#: A gallery path must look like what the executor writes (no absolute or remote links).
_IMAGE_PATH = re.compile(r"^images/[A-Za-z0-9._-]+/[0-9]+\.[A-Za-z0-9]+$")

MODEL_COLUMNS: tuple[str, ...] = ("model", "kind", "jobs", "failed", "tokens", "images", "cost")
MODEL_COLUMNS += ("p50 s", "p90 s", "p99 s", "TTFT p50 s")

#: The fields of one embedded job record, in order (the page's script reads them by position).
JOB_FIELDS: Final = (
    "id",
    "order",  # the job's place in the plan (the page shows jobs in this order)
    "task",  # index into tables.tasks
    "model",  # index into tables.models
    "kind",  # index into tables.kinds
    "cell",  # index into tables.cells (matrix values of the job, as text)
    "vars",  # index into tables.vars (row vars, cut), -1 without a row
    "row",  # dataset row index
    "repeat",
    "prompt",  # index into tables.prompts (the last user prompt, cut), -1 without one
    "answer",  # text (cut) of a chat; list of image paths of an image job; null
    "length",  # characters of the whole answer; images made
    "status",  # STATUS
    "assertions",  # [[label, passed 0/1, reason], ...] (label: tables.labels, reason: tables.reasons)
    "error",  # [code, message] of a job that failed at the API, else null
    "cached",  # 1 when served from the response cache
    "latency",  # seconds, or null
    "outputs",  # answers made (n > 1 shows the first)
)
#: Status values of a job record.
STATUS: Final = ("passed", "failed", "done", "error")
_PASSED, _FAILED, _DONE, _ERROR = range(4)
#: Where a job missing from the plan sorts (after every planned job).
_UNPLANNED = 1 << 48
#: Job records encoded per call of the JSON encoder.
_CHUNK = 1000


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _content_text(content: Any) -> str:
    """A message's content as text (parts other than text are named in brackets)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, dict):
                parts.append(f"[{part.get('type') or 'part'}]")
            else:
                parts.append(_text(part))
        return "\n".join(parts)
    return _text(content)


def _last_user_of_messages(messages: Iterable[Any]) -> str | None:
    for message in reversed(list(messages)):
        if isinstance(message, dict) and message.get("role") == "user":
            return _content_text(message.get("content"))
    return None


def _last_user(line: ResultLine) -> str | None:
    """The last user message a chat job sent (its last turn's, if it has turns)."""
    for turn in reversed(unset_or(line.turns, [])):
        if turn.user:
            return _content_text(turn.user.get("content"))
    return _last_user_of_messages(line.request.get("messages") or [])


def _last_user_planned(job: Mapping[str, Any]) -> str | None:
    """The last user message of a planned job (a ``plan.jsonl`` line)."""
    for turn in reversed(job.get("turns") or []):
        user = turn.get("user") if isinstance(turn, dict) else None
        if isinstance(user, dict):
            return _content_text(user.get("content"))
    return _last_user_of_messages((job.get("request") or {}).get("messages") or [])


def _answer(line: ResultLine) -> tuple[str, int]:
    """A chat's answer as text, and how many answers it made."""
    outputs = unset_or(line.outputs, [])
    text = unset_or(line.content, "")
    if text:  # the common case, kept fast for large runs
        return text, max(1, len(outputs))
    if outputs:
        text = outputs[0].content
    if not text and outputs:
        calls = outputs[0].tool_calls
        names = [
            f"{(c.get('function') or {}).get('name')}({(c.get('function') or {}).get('arguments')})"
            for c in calls
            if isinstance(c, dict)
        ]
        text = ("tool calls: " + ", ".join(names)) if names else ""
    return text, max(1, len(outputs))


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


def _json_for_script(value: Any) -> str:
    """Compact JSON that cannot close or confuse the ``<script>`` element holding it."""
    text = _ENCODER.encode(value)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text


class _Table:
    """Distinct values in first-seen order; a job record holds the index of its value."""

    def __init__(self) -> None:
        self.index: dict[Any, int] = {}
        self.values: list[Any] = []

    def ref(self, key: Any, value: Any = None) -> int:
        """The index of ``key``'s value, adding ``value`` (default: the key) when new."""
        found = self.index.get(key)
        if found is None:
            found = self.index[key] = len(self.values)
            self.values.append(key if value is None else value)
        return found


def _lookup(table: _Table, mapping: Mapping[str, Any]) -> tuple[Any, int | None]:
    """The key of a flat mapping in ``table`` and its index there (None: not yet added)."""
    key: Any = tuple(mapping.items())
    try:
        return key, table.index.get(key)
    except TypeError:  # a list or mapping among the values: key by its JSON text
        key = json.dumps(mapping, ensure_ascii=False, sort_keys=True)
        return key, table.index.get(key)


@dataclass
class _Tables:
    """Strings many jobs share, stored once; a job record refers to them by index."""

    tasks: _Table = field(default_factory=_Table)
    models: _Table = field(default_factory=_Table)
    kinds: _Table = field(default_factory=_Table)
    cells: _Table = field(default_factory=_Table)
    vars: _Table = field(default_factory=_Table)
    prompts: _Table = field(default_factory=_Table)
    labels: _Table = field(default_factory=_Table)
    reasons: _Table = field(default_factory=_Table)
    outcomes: dict[tuple[Any, ...], list[int]] = field(default_factory=dict)
    heads: dict[tuple[Any, ...], tuple[int, int, int]] = field(default_factory=dict)

    def head(self, task: Any, model: Any, kind: str) -> tuple[int, int, int]:
        """Indexes of a job's task, model and kind (one lookup for the usual repeat)."""
        key = (task, model, kind)
        found = self.heads.get(key)
        if found is None:
            found = (self.tasks.ref(str(task)), self.models.ref(str(model)), self.kinds.ref(kind))
            self.heads[key] = found
        return found

    def cell(self, matrix: Any) -> int:
        if not isinstance(matrix, dict) or not matrix:
            return self.cells.ref((), {})
        key, found = _lookup(self.cells, matrix)
        if found is not None:
            return found
        return self.cells.ref(key, {str(k): _text(v) for k, v in matrix.items()})

    def row_vars(self, task: int, row_index: int, row: Any) -> int:
        """The row's vars, cut; keyed by task, row index and a digest of the values, so
        that no long value of the row is kept (a changed row on a forced re-run gets its
        own entry)."""
        if not isinstance(row, dict) or not row:
            return -1
        try:
            digest = hash(tuple(row.items()))
        except TypeError:  # a list or mapping among the values
            digest = hash(json.dumps(row, ensure_ascii=False, sort_keys=True))
        key = (task, row_index, digest)
        found = self.vars.index.get(key)
        if found is not None:
            return found
        shown = {str(k): _cut(_text(v), MAX_VAR) for k, v in list(row.items())[:MAX_VARS]}
        if len(row) > MAX_VARS:
            shown["…"] = f"{len(row) - MAX_VARS} more"
        return self.vars.ref(key, shown)

    def prompt(self, text: str | None, limit: int) -> int:
        return -1 if text is None else self.prompts.ref(_cut(text, limit))

    def assertion(self, a: AssertionOutcome) -> list[int]:
        name = unset_or(a.name, None)
        # shared only when the key holds nothing the tables do not keep anyway
        shared = len(a.reason) <= MAX_REASON
        key = (name, a.type, a.passed, a.reason)
        found = self.outcomes.get(key) if shared else None
        if found is None:
            label = self.labels.ref(name or a.type)
            reason = self.reasons.ref(_cut(a.reason, MAX_REASON))
            found = [label, 1 if a.passed else 0, reason]
            if shared:
                self.outcomes[key] = found
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "tasks": self.tasks.values,
            "models": self.models.values,
            "kinds": self.kinds.values,
            "cells": self.cells.values,
            "vars": self.vars.values,
            "prompts": self.prompts.values,
            "labels": self.labels.values,
            "reasons": self.reasons.values,
            "status": list(STATUS),
            "fields": list(JOB_FIELDS),
        }


@dataclass
class _Failed:
    """The last final error line of a job (kept until it is known the job never finished)."""

    model: str
    kind: str
    code: str
    message: str


class _Records:
    """Job records as JSON text, a chunk at a time (one encoder call per chunk is
    several times faster than one per record)."""

    def __init__(self) -> None:
        self.chunks: list[str] = []
        self.pending: list[list[Any]] = []
        self.count = 0

    def append(self, record: list[Any]) -> None:
        self.pending.append(record)
        self.count += 1
        if len(self.pending) == _CHUNK:
            self.chunks.append(_json_for_script(self.pending)[1:-1])
            self.pending = []

    def first(self, n: int) -> list[str]:
        """The JSON text (chunks, without brackets) of the first ``n`` records."""
        chunks = self.chunks
        if self.pending:
            chunks = [*chunks, _json_for_script(self.pending)[1:-1]]
        whole, rest = divmod(n, _CHUNK)
        kept = chunks[:whole]
        if rest and whole < len(chunks):
            records = json.loads("[" + chunks[whole] + "]")[:rest]
            kept.append(_json_for_script(records)[1:-1])
        return [c for c in kept if c]


class _Cases:
    """The compact records of the jobs, the gallery and the latencies (one line per job).

    Up to :data:`MAX_CASES` records are embedded. A larger run embeds every failing
    job first (failed assertions, failed at the API), then the others in the order
    their lines were written, up to the cap; a few numbers of every job are kept
    for the charts. So memory is bounded by the cap, not by the run.
    """

    def __init__(self, limit: int, max_cases: int) -> None:
        self.limit = limit
        self.max_cases = max_cases
        self.tables = _Tables()
        self.failing = _Records()
        self.others = _Records()
        self.jobs = 0
        self.latencies = array("d")  # every job's that has one (8 bytes a job)
        self.images: dict[str, list[dict[str, Any]]] = {}
        self.image_count = 0
        self.cache_hits = 0

    def _count(self, latency: float | None) -> None:
        self.jobs += 1
        if latency is not None:
            self.latencies.append(latency)

    def _store_for(self, status: int) -> _Records | None:
        """Where a job of this status is embedded (None: the cap is reached)."""
        store = self.failing if status in (_FAILED, _ERROR) else self.others
        return store if store.count < self.max_cases else None

    def add(self, line: ResultLine) -> None:
        """One job's last result line."""
        kind = line.kind or "chat"
        scores = scores_of(line)
        status = _DONE if scores is None else _PASSED if scores.passed else _FAILED
        latency = line.latency_s
        cached = 1 if line.cached is True else 0
        self._count(latency)
        self.cache_hits += cached
        made: list[ImageRecord] = []
        if kind == "image":
            made = unset_or(line.images, [])
            self._gallery(line.id, made, unset_or(line.prompt, None))
        store = self._store_for(status)
        if store is None:
            return
        answer: Any
        if kind == "image":
            answer = [i.path for i in made if _IMAGE_PATH.match(i.path)]
            length, outputs, prompt = len(made), 1, unset_or(line.prompt, None)
        else:
            text, outputs = _answer(line)
            answer, length, prompt = _cut(text, self.limit), len(text), _last_user(line)
        assertions = [] if scores is None else [self.tables.assertion(a) for a in scores.assertions]
        record = self._common(line.id, line.index, line.task, line.model, line.meta, kind, prompt)
        record += [answer, length, status, assertions, None, cached]
        record += [None if latency is None else round(latency, 3), outputs]
        store.append(record)

    def _common(
        self,
        job_id: str,
        index: int,
        task: Any,
        model: Any,
        meta: Mapping[str, Any],
        kind: str,
        prompt: str | None,
    ) -> list[Any]:
        t = self.tables
        task_at, model_at, kind_at = t.head(task, model, kind)
        row_index = meta.get("row_index", 0)
        return [
            job_id,
            index,
            task_at,
            model_at,
            kind_at,
            t.cell(meta.get("matrix")),
            t.row_vars(task_at, row_index, meta.get("row")),
            row_index,
            meta.get("repeat", 0),
            t.prompt(prompt, self.limit),
        ]

    def _gallery(self, job_id: str, made: list[ImageRecord], prompt: str | None) -> None:
        shown: list[dict[str, Any]] = []
        for img in made:
            if self.image_count + len(shown) >= MAX_GALLERY or not _IMAGE_PATH.match(img.path):
                continue
            shown.append({"href": quote(img.path), "index": img.index, "prompt": prompt})
        if shown:
            self.images[job_id] = shown
            self.image_count += len(shown)

    def add_failures(
        self,
        results: LatestResults,
        errors: Iterable[ErrorLine | Mapping[str, Any]],
        plan: Iterable[Mapping[str, Any]],
    ) -> None:
        """Jobs whose last word is a final error line and that never wrote a result."""
        failed: dict[str, _Failed] = {}
        for err in error_records(errors):
            if err.final:
                message = _cut(err.message, MAX_MESSAGE)
                failed[err.id] = _Failed(err.model, err.kind, err.code or "UNKNOWN", message)
        for job_id in results.with_result(failed.keys()):
            del failed[job_id]
        if not failed:
            return
        for job in plan:
            job_id = str(job.get("id"))
            f = failed.pop(job_id, None)
            if f is not None:
                self._failed(job_id, f, job)
        for job_id, f in failed.items():  # not in the plan either (an older plan, or none)
            self._failed(job_id, f, {"id": job_id, "index": _UNPLANNED})

    def _failed(self, job_id: str, f: _Failed, job: Mapping[str, Any]) -> None:
        """A record for a job that failed at the API, placed by its ``plan.jsonl`` line."""
        self._count(None)
        store = self._store_for(_ERROR)
        if store is None:
            return
        request = job.get("request") or {}
        kind = str(job.get("kind") or f.kind)
        prompt = request.get("prompt") if kind == "image" else _last_user_planned(job)
        model = request.get("model") or job.get("model") or f.model
        record = self._common(
            job_id,
            job.get("index", 0),
            job.get("task", "?"),
            model,
            job.get("meta") or {},
            kind,
            None if prompt is None else str(prompt),
        )
        record += [None, 0, _ERROR, [], [f.code, f.message], 0, None, 0]
        store.append(record)

    @property
    def shown(self) -> int:
        """Jobs embedded in the page."""
        return min(self.max_cases, self.failing.count + self.others.count)

    def jobs_json(self) -> Markup:
        """The embedded records as one JSON array (already safe inside ``<script>``); the
        page sorts them."""
        failing = min(self.failing.count, self.max_cases)
        chunks = self.failing.first(failing) + self.others.first(self.max_cases - failing)
        return Markup("[" + ",".join(chunks) + "]")


def text_limit(jobs: int) -> int:
    """Characters kept of each answer and prompt in a report of ``jobs`` jobs."""
    return max(MIN_TEXT, min(MAX_TEXT, TEXT_BUDGET // max(1, jobs)))


def _cards(report: UsageReport, cached_hits: int) -> list[tuple[str, str]]:
    t = report.totals
    evals = report.evals
    items = [
        ("jobs ok", f"{t.jobs:,}"),
        ("failed", f"{t.failed:,}"),
        ("requests", f"{t.requests:,}"),
        ("retries", f"{t.retries:,}"),
        ("tokens", f"{t.tokens.total:,}"),
        ("images", f"{t.images:,}"),
        ("cost", f"${t.cost_usd:.4f}"),
    ]
    if t.tokens.cached_prompt:
        items.append(("cached prompt tokens", f"{t.tokens.cached_prompt:,}"))
        items.append(("saved by prompt cache", f"${t.cache_savings_usd:.4f}"))
    hits = t.cache_hits or cached_hits  # a usage.json from before cache hits: the lines'
    if hits:
        items.append(("served from cache", f"{hits:,}"))
    if t.grader.requests:
        items.append(("grader (in the cost)", f"${ticks_to_usd(t.grader.cost_usd_ticks):.4f}"))
    if evals.jobs:
        rate = "–" if evals.pass_rate is None else f"{evals.pass_rate * 100:.1f}%"
        items.append(("eval pass rate", rate))
    return items


def _model_chart(report: UsageReport) -> Markup:
    bars = []
    for g in report.by_model:
        lat = g.latency_s
        for q, value in (("p50", lat.p50), ("p90", lat.p90), ("p99", unset_or(lat.p99, None))):
            if value is not None:
                bars.append((f"{g.model} {q}", value, f"{value:.3f} s"))
    return svg.bars(bars, title="Latency percentiles per model (seconds)")


def _latency_chart(latencies: list[float]) -> Markup:
    latencies.sort()
    markers = [(f"p{q}", percentile(latencies, q) or 0.0) for q in (50, 90, 99)]
    return svg.histogram(latencies, markers=markers, title="Job latency histogram (seconds)")


@dataclass(frozen=True)
class _RateGroup:
    title: str
    rows: list[dict[str, Any]]
    chart: Markup


def _eval_groups(evals: EvalsReport) -> list[_RateGroup]:
    groups = [("task", evals.by_task), ("model", evals.by_model)]
    if evals.by_cell:
        groups.append(("matrix cell", evals.by_cell))
    out = []
    for title, rows in groups:
        named: list[dict[str, Any]] = []
        for g in rows:
            if title == "matrix cell":
                name = f"{unset_or(g.task, '')}: {unset_or(g.cell, '')}"
            else:
                name = unset_or(g.task if title == "task" else g.model, "")
            rate = g.pass_rate or 0.0
            named.append(to_plain(g) | {"name": name, "color": svg.rate_color(rate)})
        chart = svg.bars(
            [
                (
                    g["name"],
                    g["pass_rate"] or 0.0,
                    f"{(g['pass_rate'] or 0) * 100:.1f}% of {g['jobs']}",
                )
                for g in named
            ],
            scale=1.0,
            colors=[g["color"] for g in named],
            title=f"Pass rate by {title}",
        )
        out.append(_RateGroup(title, named, chart))
    return out


def _grader(report: UsageReport) -> dict[str, Any] | None:
    """The grader's share: ``totals.grader`` (included in the totals) or the older ``evals.grader``."""
    share = report.totals.grader
    if share.requests:
        return {
            "requests": share.requests,
            "tokens": share.tokens,
            "cost_usd": ticks_to_usd(share.cost_usd_ticks),
            "note": "included in the totals",
        }
    old = report.evals.grader
    if old.calls:
        tokens = old.tokens
        return {
            "requests": old.calls,
            "tokens": tokens.prompt + tokens.completion + tokens.reasoning,
            "cost_usd": old.cost_usd,
            "note": "not in the totals",
        }
    return None


def _error_groups(totals: ReportTotals) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Error groups (code, message, count, example ids) when usage.json has them, else codes."""
    if isinstance(totals.error_groups, UnsetType):  # a usage.json from before error groups
        return [], dict(totals.errors_by_code)
    return [to_plain(g) for g in totals.error_groups], {}


def render_html(
    usage: UsageReport | Mapping[str, Any],
    manifest: Manifest | Mapping[str, Any] | None,
    results: Iterable[ResultLine | Mapping[str, Any]],
    *,
    errors: Iterable[ErrorLine | Mapping[str, Any]] = (),
    plan: Iterable[Mapping[str, Any]] = (),
) -> str:
    """The whole ``report.html`` page.

    Args:
        usage: The usage report (with its ``evals`` section; a plain document is decoded).
        manifest: The run's manifest, when present (name, status, timing).
        results: The result lines (read once, lazily; records, plain dicts are decoded).
        errors: The error lines (read once, after the results): jobs whose final
            error line has no result are listed as failed at the API.
        plan: The plan lines; read only when such jobs exist, for their task,
            row and prompt.
    """
    report = as_usage_report(usage)
    plain = to_plain(report)  # what the template reads, as usage.json holds it
    totals = report.totals
    jobs = totals.jobs + totals.failed
    cases = _Cases(text_limit(min(jobs, MAX_CASES)), MAX_CASES)
    latest = LatestResults.from_lines(results)
    for line in latest:
        cases.add(line)
    cases.add_failures(latest, errors, plan)
    run = as_manifest(manifest)
    name = (run.spec.name if run else None) or "pipeline run"
    info = []
    if run:
        took = "" if run.elapsed_s is None else f" in {run.elapsed_s:.1f} s"
        info.append(f"status {run.status}{took}")
        info.append(f"run {run.run_id}")
    info.append(f"generated {report.generated_at or ''}")
    evals = plain["evals"]
    script = static_text("report.js")
    groups, codes = _error_groups(totals)
    gallery = [dict(img, job=job_id) for job_id, images in cases.images.items() for img in images]
    page = (
        environment()
        .get_template("report.html.j2")
        .render(
            name=name,
            info=" · ".join(info),
            cards=_cards(report, cases.cache_hits),
            by_model=plain["by_model"],
            model_columns=MODEL_COLUMNS,
            model_chart=_model_chart(report),
            latency_chart=_latency_chart(list(cases.latencies)),
            evals=evals,
            eval_groups=_eval_groups(report.evals) if report.evals.jobs else [],
            grader=_grader(report),
            error_groups=groups,
            error_codes=codes,
            case_count=cases.jobs,
            cases_shown=cases.shown,
            tables_json=Markup(_json_for_script(cases.tables.to_json() | {"page_size": PAGE_SIZE})),
            jobs_json=cases.jobs_json(),
            text_limit=cases.limit,
            gallery=gallery,
            gallery_more=max(0, totals.images - len(gallery)),
            css=static_text("report.css"),
            script=script,
            script_hash=csp_hash(str(script)),
        )
    )
    if not page.isascii():  # a lone surrogate (from a "\ud800" escape in a line) has no UTF-8
        page = page.encode("utf-8", "replace").decode("utf-8")
    return page


def render_output_dir(
    out: OutputDir,
    usage: UsageReport | Mapping[str, Any],
    manifest: Manifest | Mapping[str, Any] | None,
) -> str:
    """``report.html`` of an output directory, from its result, error and plan lines."""
    return render_html(
        usage,
        manifest,
        LatestResults.from_file(out.results),
        errors=out.error_lines(),
        plan=read_jsonl(out.plan),
    )
