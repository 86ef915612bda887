"""``usage.json``: totals per model and kind, built from result and error lines alone.

This document is the one source of the run's figures: the terminal summary, the
manifest's counts, ``summary.md`` and ``report.html`` all read it. Its rules:

* a job id seen in several result lines (a forced re-run) counts once, with its
  last line (:mod:`xai_pipelines.report.latest`; nothing is kept per job but its
  latency, so memory stays flat at a million jobs);
* a cache hit (``"cached": true``) is a succeeded job that made no call: it is
  counted in ``cache_hits`` and adds no request, token, cost or latency;
* ``requests`` are the calls made: each successful call of a job and of its
  grader, plus each failed attempt (one line of ``errors.jsonl`` each);
* ``retries`` are the failed attempts that were retried (non-final error lines),
  those of the grader's calls included;
* the grader's share (``llm_rubric`` calls, ``scores.grader`` of each line) is
  included in ``requests``, ``tokens`` and ``cost`` of the totals and shown apart
  in ``totals.grader``; ``by_model`` holds the jobs' own calls;
* ``failed`` jobs have a final error line and no result; ``error_groups`` says why
  (:mod:`xai_pipelines.report.failures`);
* a run that crashed (killed, power loss) is counted by the lines it left, like any
  run; the calls it had in flight left none and cannot be counted:
  ``crashed_runs`` (:func:`crashed_runs`, from the manifest's history) says how many
  runs crashed and how many jobs they had in flight at their last checkpoint;
* ``concurrency`` is the manifest's history of the adaptive limit on calls in
  flight (:func:`concurrency_history`), copied as the run recorded it.
"""

from __future__ import annotations

import sys
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from xai_pipelines.records import (
    ConcurrencyHistory,
    CrashedRuns,
    ErrorLine,
    GraderUse,
    Manifest,
    ResultLine,
    Scores,
    UnsetType,
    Usage,
    UsageReport,
    scores_of,
    usage_report_from,
)
from xai_pipelines.report.cost import PriceTable, cache_savings, resolve_cost, ticks_to_usd
from xai_pipelines.report.failures import JobFailure, final_failures, group_failures
from xai_pipelines.report.latest import LatestResults
from xai_pipelines.report.lines import error_records, unset_or
from xai_pipelines.store.manifest import CRASHED

TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "reasoning_tokens", "cached_prompt_tokens")
#: Token kinds as named in ``usage.json`` (TOKEN_FIELDS without ``_tokens``).
TOKEN_KINDS = tuple(name.removesuffix("_tokens") for name in TOKEN_FIELDS)


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile ``q`` (0-100) of already sorted values."""
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    value = sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)
    return round(value, 6)


def _tokens(usage: Usage) -> tuple[int, ...]:
    """The token counts in TOKEN_FIELDS order."""
    return (
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.reasoning_tokens,
        usage.cached_prompt_tokens,
    )


def _token_dict(tokens: Mapping[str, int] | Counter[str]) -> dict[str, int]:
    out = {kind: tokens[name] for kind, name in zip(TOKEN_KINDS, TOKEN_FIELDS, strict=True)}
    out["total"] = out["prompt"] + out["completion"] + out["reasoning"]
    return out


class GraderShare(NamedTuple):
    """What the grader's calls of one job used (``scores.grader`` of its line)."""

    calls: int  # calls made (verdicts served from the response cache not included)
    cache_hits: int
    tokens: tuple[int, ...]  # in TOKEN_FIELDS order
    cost_ticks: int | None


def grader_share(scores: Scores | None) -> GraderShare | None:
    """The grader's share of a result line, from its ``scores`` (None: the grader was not asked).

    A verdict served from the response cache (counted in its usage's
    ``cache_hits``, at cost 0) is no request; when every verdict of the job came
    from the cache its copied tokens are not counted either. (The usage of a job
    is one sum, so when only some verdicts were hits their tokens stay counted.)
    """
    grader = None if scores is None else scores.grader
    if not isinstance(grader, GraderUse) or not grader.calls:
        return None
    usage = grader.usage
    hits = min(grader.calls, unset_or(usage.cache_hits, 0))
    tokens = (0,) * len(TOKEN_FIELDS) if hits == grader.calls else _tokens(usage)
    return GraderShare(grader.calls - hits, hits, tokens, usage.cost_usd_ticks)


@dataclass
class GraderTotals:
    """The grader's share of a run, summed over the jobs' last lines."""

    requests: int = 0
    cache_hits: int = 0
    tokens: Counter[str] = field(default_factory=Counter)
    cost_ticks: int = 0
    calls_without_cost: int = 0

    def add(self, share: GraderShare | None) -> None:
        """Add one job's share."""
        if share is None:
            return
        self.requests += share.calls
        self.cache_hits += share.cache_hits
        for name, value in zip(TOKEN_FIELDS, share.tokens, strict=True):
            self.tokens[name] += value
        if share.cost_ticks is None:
            self.calls_without_cost += share.calls
        else:
            self.cost_ticks += share.cost_ticks

    def to_dict(self) -> dict[str, Any]:
        """``totals.grader``: ``{requests, tokens, cost_usd_ticks, cost_usd, ...}``."""
        tokens = _token_dict(self.tokens)
        return {
            "requests": self.requests,
            "tokens": tokens["total"],
            "tokens_by_kind": tokens,
            "cost_usd_ticks": self.cost_ticks,
            "cost_usd": round(ticks_to_usd(self.cost_ticks), 6),
            "calls_without_cost": self.calls_without_cost,
            "cache_hits": self.cache_hits,
        }


class _Row(NamedTuple):
    """What the report counts of one result line."""

    model: str
    kind: str
    cached: bool
    tokens: tuple[int, ...]  # in TOKEN_FIELDS order
    images: int
    cost_ticks: int | None
    saved_ticks: int | None
    latency_s: float | None
    ttft_s: float | None
    calls: int
    grader: GraderShare | None


def _row(line: ResultLine, prices: PriceTable | None) -> _Row:
    usage = line.usage
    kind, model = sys.intern(line.kind), sys.intern(line.model)
    cached = line.cached is True
    ticks = line.cost_usd_ticks
    if cached:
        ticks = 0
    elif ticks is None:
        ticks, _ = resolve_cost(kind, model, usage, prices)
    return _Row(
        model,
        kind,
        cached,
        _tokens(usage),
        usage.image_count,
        ticks,
        0 if cached else cache_savings(kind, usage, (prices or {}).get(model)),
        line.latency_s,
        line.ttft_s,
        line.calls,
        grader_share(scores_of(line)),
    )


@dataclass
class _Group:
    jobs: int = 0
    cache_hits: int = 0
    requests: int = 0
    retries: int = 0
    images: int = 0
    tokens: Counter[str] = field(default_factory=Counter)
    cost_ticks: int = 0
    cost_unknown: int = 0
    cache_saved_ticks: int = 0
    cache_saving_unknown: int = 0
    latencies: array[float] = field(default_factory=lambda: array("d"))  # 8 bytes a job
    ttfts: array[float] = field(default_factory=lambda: array("d"))
    failed: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    retry_errors: Counter[str] = field(default_factory=Counter)

    def add(self, row: _Row) -> None:
        self.jobs += 1
        self.images += row.images
        if row.cached:  # served from the response cache: no call, no cost
            self.cache_hits += 1
            return
        self.requests += row.calls
        for name, value in zip(TOKEN_FIELDS, row.tokens, strict=True):
            self.tokens[name] += value
        if row.cost_ticks is None:
            self.cost_unknown += 1
        else:
            self.cost_ticks += row.cost_ticks
        if row.saved_ticks is None:
            self.cache_saving_unknown += 1
        else:
            self.cache_saved_ticks += row.saved_ticks
        if row.latency_s is not None:
            self.latencies.append(row.latency_s)
        if row.ttft_s is not None:
            self.ttfts.append(row.ttft_s)

    def to_dict(self, model: str, kind: str) -> dict[str, Any]:
        latencies, ttfts = sorted(self.latencies), sorted(self.ttfts)
        return {
            "model": model,
            "kind": kind,
            "jobs": self.jobs,
            "cache_hits": self.cache_hits,
            "failed": self.failed,
            "requests": self.requests,
            "retries": self.retries,
            "tokens": _token_dict(self.tokens),
            "images": self.images,
            "cost_usd": round(ticks_to_usd(self.cost_ticks), 6),
            "cost_usd_ticks": self.cost_ticks,
            "jobs_without_cost": self.cost_unknown,
            "cache_savings_usd": round(ticks_to_usd(self.cache_saved_ticks), 6),
            "cache_savings_usd_ticks": self.cache_saved_ticks,
            "jobs_with_unknown_cache_savings": self.cache_saving_unknown,
            "latency_s": {f"p{q}": percentile(latencies, q) for q in (50, 90, 99)},
            "ttft_s": {f"p{q}": percentile(ttfts, q) for q in (50, 90)},
            "errors_by_code": dict(sorted(self.errors.items())),
            "retried_errors_by_code": dict(sorted(self.retry_errors.items())),
        }


def build_usage(
    results: Iterable[ResultLine | Mapping[str, Any]],
    errors: Iterable[ErrorLine | Mapping[str, Any]] = (),
    prices: PriceTable | None = None,
) -> UsageReport:
    """Aggregate result and error lines into the ``usage.json`` record (rules: module docstring).

    Args:
        results: Lines of ``results.jsonl`` (records; plain dicts are decoded), or a
            :class:`~xai_pipelines.report.latest.LatestResults` (a large file, streamed).
        errors: Lines of ``errors.jsonl`` (records; plain dicts are decoded).
        prices: Price table used when a line carries no cost.

    Returns:
        Its ``totals`` and ``by_model`` (``generated_at``, ``evals``, ``crashed_runs``
        and ``concurrency`` are the writer's: :func:`xai_pipelines.run.reporting.write_reports`).
    """
    groups: dict[tuple[str, str], _Group] = {}

    def group(model: str, kind: str) -> _Group:
        return groups.setdefault((model, kind), _Group())

    grader = GraderTotals()
    latest = LatestResults.from_lines(results)
    for line in latest:
        row = _row(line, prices)
        group(row.model, row.kind).add(row)
        grader.add(row.grader)
    error_lines: list[ErrorLine] = []
    for err in error_records(errors):
        g = group(err.model, err.kind)
        g.requests += 1  # every error line is one failed attempt
        if err.final:
            error_lines.append(err)
        else:
            g.retries += 1
            g.retry_errors[err.code or "UNKNOWN"] += 1
    failures = final_failures(error_lines, latest.with_result({e.id for e in error_lines}))
    failed_ids = {f.id for f in failures}
    for err in error_lines:  # finals of jobs that later succeeded were failed attempts too
        if err.id not in failed_ids:
            group(err.model, err.kind).retry_errors[err.code or "UNKNOWN"] += 1
    for failure in failures:
        g = group(failure.model, failure.kind)
        g.failed += 1
        g.errors[failure.code] += 1

    by_model = [g.to_dict(model, kind) for (model, kind), g in sorted(groups.items())]
    return usage_report_from({"totals": _totals(by_model, grader, failures), "by_model": by_model})


def _totals(
    by_model: list[dict[str, Any]], grader: GraderTotals, failures: list[JobFailure]
) -> dict[str, Any]:
    share = grader.to_dict()

    def total(key: str) -> int:
        return sum(g[key] for g in by_model)

    tokens = {
        k: sum(g["tokens"][k] for g in by_model) + share["tokens_by_kind"][k]
        for k in (*TOKEN_KINDS, "total")
    }
    cost_ticks = total("cost_usd_ticks") + share["cost_usd_ticks"]
    errors_by_code = Counter(f.code for f in failures)
    return {
        "jobs": total("jobs"),
        "failed": len(failures),
        "cache_hits": total("cache_hits"),
        "requests": total("requests") + share["requests"],
        "retries": total("retries"),
        "images": total("images"),
        "tokens": tokens,
        "cost_usd_ticks": cost_ticks,
        "cost_usd": round(ticks_to_usd(cost_ticks), 6),
        "jobs_without_cost": total("jobs_without_cost"),
        "grader": share,
        "cache_savings_usd_ticks": total("cache_savings_usd_ticks"),
        "cache_savings_usd": round(ticks_to_usd(total("cache_savings_usd_ticks")), 6),
        "jobs_with_unknown_cache_savings": total("jobs_with_unknown_cache_savings"),
        "errors_by_code": dict(sorted(errors_by_code.items())),
        "error_groups": group_failures(failures),
    }


def crashed_runs(manifest: Manifest | None) -> CrashedRuns | None:
    """The runs into the directory that crashed, from the manifest's history (None: none did).

    A crashed run's finished jobs and failed attempts are in the lines and counted;
    what it had in flight is not: ``jobs_in_flight`` sums what the crashed runs'
    last progress checkpoints bound (jobs started, no line), a lower bound of those
    uncounted calls; ``runs_without_checkpoint`` are runs whose manifest had none.
    """
    if manifest is None:
        return None
    crashed = [h for h in manifest.history if h.status == CRASHED]
    if not crashed:
        return None
    known = [h.jobs_in_flight for h in crashed if not isinstance(h.jobs_in_flight, UnsetType)]
    return CrashedRuns(
        runs=len(crashed),
        run_ids=[h.run_id or "?" for h in crashed],
        jobs_in_flight=sum(known),
        runs_without_checkpoint=len(crashed) - len(known),
    )


def concurrency_history(manifest: Manifest | None) -> ConcurrencyHistory | None:
    """The adaptive concurrency limit's history of the last online run (None: none recorded)."""
    if manifest is None or isinstance(manifest.concurrency, UnsetType):
        return None
    return manifest.concurrency
