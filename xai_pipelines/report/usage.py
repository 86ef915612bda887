"""``usage.json``: totals per model and kind, built from result and error lines alone."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from xai_pipelines.report.cost import PriceTable, cache_savings, resolve_cost, ticks_to_usd

TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "reasoning_tokens", "cached_prompt_tokens")


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile ``q`` (0-100) of already sorted values."""
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    value = sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)
    return round(value, 6)


class _Row(NamedTuple):
    """What the report needs of one result line (a 100,000-job run must not keep outputs)."""

    model: str
    kind: str
    tokens: tuple[int, ...]  # in TOKEN_FIELDS order
    images: int
    cost_ticks: int | None
    saved_ticks: int | None
    latency_s: float | None
    ttft_s: float | None
    attempts: int
    calls: int


def _row(line: Mapping[str, Any], prices: PriceTable | None) -> _Row:
    usage = line.get("usage") or {}
    kind, model = sys.intern(str(line.get("kind"))), sys.intern(str(line.get("model")))
    ticks = line.get("cost_usd_ticks")
    if ticks is None:
        ticks, _ = resolve_cost(kind, model, usage, prices)
    latency, ttft = line.get("latency_s"), line.get("ttft_s")
    return _Row(
        model,
        kind,
        tuple(int(usage.get(name, 0) or 0) for name in TOKEN_FIELDS),
        int(usage.get("images", 0) or 0),
        None if ticks is None else int(ticks),
        cache_savings(kind, usage, (prices or {}).get(model)),
        None if latency is None else float(latency),
        None if ttft is None else float(ttft),
        int(line.get("attempts", 1) or 1),
        int(line.get("calls", 1) or 1),
    )


@dataclass
class _Group:
    jobs: int = 0
    requests: int = 0
    retries: int = 0
    images: int = 0
    tokens: Counter[str] = field(default_factory=Counter)
    cost_ticks: int = 0
    cost_unknown: int = 0
    cache_saved_ticks: int = 0
    cache_saving_unknown: int = 0
    latencies: list[float] = field(default_factory=list)
    ttfts: list[float] = field(default_factory=list)
    failed: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    retry_errors: Counter[str] = field(default_factory=Counter)

    def add(self, row: _Row) -> None:
        self.jobs += 1
        self.requests += row.attempts
        self.retries += max(0, row.attempts - row.calls)
        self.images += row.images
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
        self.latencies.sort()
        self.ttfts.sort()
        tokens = {name.removesuffix("_tokens"): self.tokens[name] for name in TOKEN_FIELDS}
        tokens["total"] = sum(self.tokens[n] for n in TOKEN_FIELDS if n != "cached_prompt_tokens")
        return {
            "model": model,
            "kind": kind,
            "jobs": self.jobs,
            "failed": self.failed,
            "requests": self.requests,
            "retries": self.retries,
            "tokens": tokens,
            "images": self.images,
            "cost_usd": round(ticks_to_usd(self.cost_ticks), 6),
            "cost_usd_ticks": self.cost_ticks,
            "jobs_without_cost": self.cost_unknown,
            "cache_savings_usd": round(ticks_to_usd(self.cache_saved_ticks), 6),
            "cache_savings_usd_ticks": self.cache_saved_ticks,
            "jobs_with_unknown_cache_savings": self.cache_saving_unknown,
            "latency_s": {f"p{q}": percentile(self.latencies, q) for q in (50, 90, 99)},
            "ttft_s": {f"p{q}": percentile(self.ttfts, q) for q in (50, 90)},
            "errors_by_code": dict(sorted(self.errors.items())),
            "retried_errors_by_code": dict(sorted(self.retry_errors.items())),
        }


def build_usage(
    results: Iterable[Mapping[str, Any]],
    errors: Iterable[Mapping[str, Any]] = (),
    prices: PriceTable | None = None,
) -> dict[str, Any]:
    """Aggregate result and error lines into the ``usage.json`` document.

    A job id that appears in several result lines (a forced resume after the
    request changed) counts once, with its last line. Failures of jobs that
    later finished are counted as retried errors, not as failures.

    Args:
        results: Lines of ``results.jsonl``.
        errors: Lines of ``errors.jsonl``.
        prices: Price table used when a line carries no cost.
    """
    latest: dict[str, _Row] = {}
    for line in results:
        latest[str(line.get("id"))] = _row(line, prices)
    groups: dict[tuple[str, str], _Group] = {}

    def group(model: str, kind: str) -> _Group:
        return groups.setdefault((model, kind), _Group())

    for row in latest.values():
        group(row.model, row.kind).add(row)
    failed_ids: dict[str, tuple[str, str, str]] = {}
    for err in errors:
        key = (str(err.get("model")), str(err.get("kind")))
        code = str(err.get("code") or "UNKNOWN")
        job_id = str(err.get("id"))
        if err.get("final") and job_id not in latest:
            failed_ids[job_id] = (*key, code)
        else:
            group(*key).retry_errors[code] += 1
    for model, kind, code in failed_ids.values():
        g = group(model, kind)
        g.failed += 1
        g.errors[code] += 1

    by_model = [g.to_dict(model, kind) for (model, kind), g in sorted(groups.items())]
    totals: dict[str, Any] = {
        "jobs": sum(g["jobs"] for g in by_model),
        "failed": sum(g["failed"] for g in by_model),
        "requests": sum(g["requests"] for g in by_model),
        "retries": sum(g["retries"] for g in by_model),
        "images": sum(g["images"] for g in by_model),
        "tokens": {
            k: sum(g["tokens"][k] for g in by_model)
            for k in ("prompt", "completion", "reasoning", "cached_prompt", "total")
        },
        "cost_usd_ticks": sum(g["cost_usd_ticks"] for g in by_model),
        "jobs_without_cost": sum(g["jobs_without_cost"] for g in by_model),
        "cache_savings_usd_ticks": sum(g["cache_savings_usd_ticks"] for g in by_model),
        "jobs_with_unknown_cache_savings": sum(
            g["jobs_with_unknown_cache_savings"] for g in by_model
        ),
    }
    totals["cost_usd"] = round(ticks_to_usd(totals["cost_usd_ticks"]), 6)
    totals["cache_savings_usd"] = round(ticks_to_usd(totals["cache_savings_usd_ticks"]), 6)
    errors_by_code: Counter[str] = Counter()
    for entry in by_model:
        errors_by_code.update(entry["errors_by_code"])
    totals["errors_by_code"] = dict(sorted(errors_by_code.items()))
    return {"totals": totals, "by_model": by_model}
