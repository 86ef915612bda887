"""``xai-run compare BASE NEW``: what changed between two runs, as Markdown for a PR comment.

Built from each output directory's lines alone (``results.jsonl``; ``errors.jsonl``,
whose final lines carry the task, matrix values and number of ``expect`` entries of a
job that never finished, ``plan.jsonl`` standing in for lines written before they did)
and its ``usage.json`` (cost).

**Outcome of a job.** A job *passes* when it finished and none of its assertions failed
(a job without ``expect`` passes once it finished); it *fails* when an assertion failed
or the API failed it for good (a final line in ``errors.jsonl``, the job never in
``results.jsonl``). The last result line of an id wins. Jobs that never ran are absent.

**Pass rates** count the jobs that have assertions (scored lines, and API failures of
jobs with ``expect``), as ``usage.json``'s ``evals`` does: per task, per model and
per matrix cell (task and matrix values), each with its Wilson 95% score interval
(``k`` passing of ``n``: centre ``(p + z²/2n) / (1 + z²/n)``, half-width
``z·sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n)``, ``z`` the normal 97.5% quantile).

**Regressions** are jobs (same id on both sides) that pass in BASE and fail in NEW;
**fixes** the reverse. A **significant drop** of a group is one where NEW's Wilson upper
bound lies below BASE's lower bound (the intervals do not overlap; a conservative
test, the one the tables let a reader check by eye). ``--fail-on-regression`` fails
on any regression or any significant drop (overall, task, model or cell).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any, Literal

from xai_pipelines.records import ErrorLine, Manifest, ResultLine, Scores, UsageReport, scores_of
from xai_pipelines.report.cost import ticks_to_usd
from xai_pipelines.report.lines import (
    as_manifest,
    as_usage_report,
    error_records,
    result_records,
    unset_or,
)
from xai_pipelines.report.usage import percentile

#: z of a two-sided 95% interval.
Z95 = NormalDist().inv_cdf(0.975)
#: Regressions and fixes listed (all are counted).
MAX_LISTED = 50
#: New and removed job ids listed.
MAX_IDS = 20
#: Longest reason shown.
MAX_REASON_CHARS = 200

Outcome = Literal["pass", "fail", "error"]


def wilson(passed: int, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of ``passed`` successes in ``total`` trials ((0, 1) when empty)."""
    if total <= 0:
        return 0.0, 1.0
    p = passed / total
    z2 = z * z
    denom = 1 + z2 / total
    centre = (p + z2 / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Job:
    """One job of a run, as compared.

    Attributes:
        id: Job id.
        task: Its task (``?`` for an API failure missing from ``plan.jsonl``).
        model: Model asked.
        cell: Matrix values, ``k=v, ...`` (empty without a matrix).
        outcome: ``pass``, ``fail`` (an assertion failed) or ``error`` (failed at the API).
        scored: The job has assertions (it counts in pass rates).
        reason: Why it failed (the first failed assertion, or the API error); empty when passing.
    """

    id: str
    task: str
    model: str
    cell: str
    outcome: Outcome
    scored: bool
    reason: str = ""

    @property
    def passed(self) -> bool:
        """Finished with no failed assertion."""
        return self.outcome == "pass"


@dataclass
class Run:
    """One side of a comparison: its jobs, cost and latencies.

    Attributes:
        label: How the run is named in the report (its directory).
        name: Pipeline name (from the manifest), if known.
        run_id: Run id (from the manifest), if known.
        jobs: Jobs by id.
        cost_ticks: Total cost (``usage.json`` totals, grader included).
        grader_ticks: The grader's share of the cost, when ``usage.json`` states it.
        cost_by_model: Cost per model (``usage.json`` ``by_model``, kinds summed).
        latencies: Latency of every answered job that made a call (cache hits left out).
        latencies_by_model: The same per model.
        cache_hits: Jobs served from the response cache.
    """

    label: str
    name: str | None = None
    run_id: str | None = None
    jobs: dict[str, Job] = field(default_factory=dict)
    cost_ticks: int = 0
    grader_ticks: int | None = None
    cost_by_model: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    latencies_by_model: dict[str, list[float]] = field(default_factory=dict)
    cache_hits: int = 0


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"


def _cell(meta: Any) -> str:
    matrix = (meta or {}).get("matrix") if isinstance(meta, Mapping) else None
    if not isinstance(matrix, Mapping):
        return ""
    return sys.intern(", ".join(f"{k}={v}" for k, v in matrix.items()))


def _failed_reason(scores: Scores) -> str:
    for a in scores.assertions:
        if not a.passed:
            name = unset_or(a.name, "")
            label = a.type + (f" ({name})" if name else "")
            return _clip(f"{label}: {a.reason}")
    return "an assertion failed"


def build_run(
    label: str,
    results: Iterable[ResultLine | Mapping[str, Any]],
    errors: Iterable[ErrorLine | Mapping[str, Any]] = (),
    plan: Iterable[Mapping[str, Any]] = (),
    usage: UsageReport | Mapping[str, Any] | None = None,
    manifest: Manifest | Mapping[str, Any] | None = None,
) -> Run:
    """Read one run from its lines, usage document and manifest.

    Args:
        label: How the run is named in the report.
        results: Lines of ``results.jsonl`` (records; plain dicts are decoded).
        errors: Lines of ``errors.jsonl`` (records; plain dicts are decoded).
        plan: Lines of ``plan.jsonl`` (read only when a job failed at the API).
        usage: ``usage.json`` (cost; a plain document is decoded); None: no cost.
        manifest: ``manifest.json``; None: no name or run id.
    """
    record = as_manifest(manifest)
    run = Run(label, record.spec.name, record.run_id) if record else Run(label)
    latency: dict[str, tuple[str, float | None]] = {}
    for line in result_records(results):
        scores = scores_of(line)
        reason = "" if scores is None or scores.passed else _failed_reason(scores)
        model = sys.intern(line.model)
        run.jobs[line.id] = Job(
            line.id,
            sys.intern(line.task),
            model,
            _cell(line.meta),
            "fail" if reason else "pass",
            scores is not None,
            reason,
        )
        latency[line.id] = (model, None if line.cached is True else line.latency_s)
    api: dict[str, tuple[str, str]] = {}
    placed: dict[str, tuple[str, str, bool]] = {}
    for err in error_records(errors):
        if err.final and err.id not in run.jobs:
            api[err.id] = (err.model, _clip(f"{err.code or 'UNKNOWN'}: {err.message}"))
            if err.task:  # final lines carry task, matrix and expects (count)
                cell = _cell({"matrix": unset_or(err.matrix, {})})
                placed[err.id] = (err.task, cell, bool(unset_or(err.expects, 0)))
    if len(placed) < len(api):  # older error lines: the plan places them
        for job in plan:
            job_id = str(job.get("id"))
            if job_id in api and job_id not in placed:
                expect = bool(job.get("expect"))
                placed[job_id] = (str(job.get("task")), _cell(job.get("meta")), expect)
    for job_id, (model, reason) in api.items():
        task, cell, expect = placed.get(job_id, ("?", "", True))
        run.jobs[job_id] = Job(job_id, task, model, cell, "error", expect, reason)
    for model, value in latency.values():
        if value is not None:
            run.latencies.append(value)
            run.latencies_by_model.setdefault(model, []).append(value)
    run.latencies.sort()
    for values in run.latencies_by_model.values():
        values.sort()
    if usage is not None:
        report = as_usage_report(usage)
        run.cost_ticks = report.totals.cost_usd_ticks
        grader = report.totals.grader
        if grader.requests or grader.cost_usd_ticks:
            run.grader_ticks = grader.cost_usd_ticks
        run.cache_hits = report.totals.cache_hits
        for entry in report.by_model:
            run.cost_by_model[entry.model] = (
                run.cost_by_model.get(entry.model, 0) + entry.cost_usd_ticks
            )
    return run


@dataclass(frozen=True)
class Rate:
    """Pass count of a group on one side, with its Wilson 95% interval."""

    passed: int
    total: int

    @property
    def rate(self) -> float | None:
        """Share passing (None when the group is empty)."""
        return self.passed / self.total if self.total else None

    @property
    def interval(self) -> tuple[float, float]:
        """Wilson 95% score interval."""
        return wilson(self.passed, self.total)


@dataclass(frozen=True)
class GroupDelta:
    """A group's pass rate on both sides.

    Attributes:
        kind: ``overall``, ``task``, ``model`` or ``cell``.
        name: The group (``task: k=v`` for a cell; empty overall).
        base: BASE's count.
        new: NEW's count.
    """

    kind: str
    name: str
    base: Rate
    new: Rate

    @property
    def delta(self) -> float | None:
        """NEW's rate minus BASE's (None when either side is empty)."""
        if self.base.rate is None or self.new.rate is None:
            return None
        return self.new.rate - self.base.rate

    @property
    def significant_drop(self) -> bool:
        """NEW's Wilson upper bound lies below BASE's lower bound."""
        if not self.base.total or not self.new.total:
            return False
        return self.new.interval[1] < self.base.interval[0]


@dataclass(frozen=True)
class Change:
    """A job whose outcome flipped: its NEW state (regression) or its BASE state (fix)."""

    id: str
    task: str
    model: str
    outcome: Outcome
    reason: str


@dataclass
class Comparison:
    """Everything ``compare`` reports."""

    base: Run
    new: Run
    groups: list[GroupDelta]
    regressions: list[Change]
    fixes: list[Change]
    added: list[str]
    removed: list[str]

    @property
    def significant_drops(self) -> list[GroupDelta]:
        """Groups whose pass rate dropped significantly."""
        return [g for g in self.groups if g.significant_drop]

    @property
    def failed(self) -> bool:
        """What ``--fail-on-regression`` fails on: a regression or a significant drop."""
        return bool(self.regressions or self.significant_drops)


def _rates(run: Run) -> dict[tuple[str, str], list[int]]:
    counts: dict[tuple[str, str], list[int]] = {}

    def add(key: tuple[str, str], passed: bool) -> None:
        c = counts.setdefault(key, [0, 0])
        c[0] += passed
        c[1] += 1

    for job in run.jobs.values():
        if not job.scored:
            continue
        add(("overall", ""), job.passed)
        add(("task", job.task), job.passed)
        add(("model", job.model), job.passed)
        if job.cell:
            add(("cell", f"{job.task}: {job.cell}"), job.passed)
    return counts


_KINDS = ("overall", "task", "model", "cell")


def compare(base: Run, new: Run) -> Comparison:
    """Compare two runs (see the module docstring for the rules)."""
    b, n = _rates(base), _rates(new)
    groups = [
        GroupDelta(
            kind, name, Rate(*b.get((kind, name), (0, 0))), Rate(*n.get((kind, name), (0, 0)))
        )
        for kind, name in sorted(set(b) | set(n), key=lambda k: (_KINDS.index(k[0]), k[1]))
    ]
    regressions: list[Change] = []
    fixes: list[Change] = []
    for job_id, before in base.jobs.items():
        after = new.jobs.get(job_id)
        if after is None or before.passed == after.passed:
            continue
        if before.passed:
            regressions.append(Change(job_id, after.task, after.model, after.outcome, after.reason))
        else:
            fixes.append(Change(job_id, before.task, before.model, before.outcome, before.reason))
    regressions.sort(key=lambda c: (c.task, c.id))
    fixes.sort(key=lambda c: (c.task, c.id))
    added = sorted(set(new.jobs) - set(base.jobs))
    removed = sorted(set(base.jobs) - set(new.jobs))
    return Comparison(base, new, groups, regressions, fixes, added, removed)


# --- Markdown -------------------------------------------------------------------------


def _md(text: Any) -> str:
    """Text safe in a Markdown table cell (no HTML, no cell breaks, no code spans)."""
    s = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(s.replace("|", "\\|").replace("`", "'").split())


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _side(rate: Rate) -> str:
    if not rate.total:
        return "–"
    lo, hi = rate.interval
    return f"{rate.passed}/{rate.total} {_pct(rate.passed / rate.total)} [{lo * 100:.1f}–{hi * 100:.1f}]"


def _pp(delta: float | None) -> str:
    if delta is None:
        return "–"
    value = delta * 100
    if abs(value) < 0.05:
        return "±0.0 pp"
    return f"{value:+.1f} pp".replace("-", "−")


def _usd(ticks: int) -> str:
    return f"${ticks_to_usd(ticks):.4f}"


def _money_delta(base: int, new: int) -> str:
    diff = new - base
    if diff == 0:
        return "±$0"
    usd = abs(ticks_to_usd(diff))
    text = ("+" if diff > 0 else "−") + (f"${usd:.4f}" if usd >= 0.001 else f"${usd:.6f}")
    if base:
        text += f" ({diff / base * 100:+.1f}%)".replace("-", "−")
    return text


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f} s"


def _seconds_delta(base: float | None, new: float | None) -> str:
    if base is None or new is None:
        return "–"
    text = f"{new - base:+.3f} s".replace("-", "−")
    if base:
        text += f" ({(new - base) / base * 100:+.1f}%)".replace("-", "−")
    return text


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


_TITLES = {"task": "task", "model": "model", "cell": "matrix cell"}


def _group_tables(cmp: Comparison) -> list[str]:
    lines: list[str] = []
    for kind in ("task", "model", "cell"):
        rows = [g for g in cmp.groups if g.kind == kind]
        if not rows:
            continue
        title = _TITLES[kind]
        lines += [
            f"### Pass rate by {title}",
            "",
            f"| {title} | BASE [95% CI] | NEW [95% CI] | Δ |",
            "|---|---:|---:|---:|",
        ]
        for g in rows:
            delta = _pp(g.delta) + (" **significant drop**" if g.significant_drop else "")
            lines.append(f"| `{_md(g.name)}` | {_side(g.base)} | {_side(g.new)} | {delta} |")
        lines.append("")
    return lines


def _changes(title: str, changes: list[Change], state: str) -> list[str]:
    if not changes:
        return []
    lines = [
        f"### {title} ({len(changes)})",
        "",
        f"| job | task | model | {state} |",
        "|---|---|---|---|",
    ]
    for c in changes[:MAX_LISTED]:
        why = c.reason or c.outcome
        if c.outcome == "error":
            why = f"API error: {why}"
        lines.append(f"| `{_md(c.id)}` | {_md(c.task)} | {_md(c.model)} | {_md(why)} |")
    if len(changes) > MAX_LISTED:
        lines.append(f"| … {len(changes) - MAX_LISTED} more | | | |")
    lines.append("")
    return lines


def _ids(ids: list[str]) -> str:
    shown = ", ".join(f"`{_md(i)}`" for i in ids[:MAX_IDS])
    return shown + (f" (+{len(ids) - MAX_IDS} more)" if len(ids) > MAX_IDS else "")


def _cost_latency(cmp: Comparison) -> list[str]:
    b, n = cmp.base, cmp.new
    lines = [
        "### Cost and latency",
        "",
        "| | BASE | NEW | Δ |",
        "|---|---:|---:|---:|",
        f"| cost | {_usd(b.cost_ticks)} | {_usd(n.cost_ticks)} | "
        f"{_money_delta(b.cost_ticks, n.cost_ticks)} |",
    ]
    if b.grader_ticks is not None or n.grader_ticks is not None:
        bg, ng = b.grader_ticks or 0, n.grader_ticks or 0
        lines.append(f"| of which grader | {_usd(bg)} | {_usd(ng)} | {_money_delta(bg, ng)} |")
    if b.cache_hits or n.cache_hits:
        lines.append(
            f"| cache hits (jobs) | {b.cache_hits} | {n.cache_hits} | "
            f"{n.cache_hits - b.cache_hits:+d} |"
        )
    for q in (50, 90):
        pb, pn = percentile(b.latencies, q), percentile(n.latencies, q)
        lines.append(
            f"| latency p{q} | {_seconds(pb)} | {_seconds(pn)} | {_seconds_delta(pb, pn)} |"
        )
    lines.append("")
    models = sorted(
        set(b.cost_by_model)
        | set(n.cost_by_model)
        | set(b.latencies_by_model)
        | set(n.latencies_by_model)
    )
    if len(models) > 1:
        lines += [
            "| model | cost BASE | cost NEW | Δ cost | p50 BASE | p50 NEW | p90 BASE | p90 NEW |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for m in models:
            cb, cn = b.cost_by_model.get(m, 0), n.cost_by_model.get(m, 0)
            lb, ln = b.latencies_by_model.get(m, []), n.latencies_by_model.get(m, [])
            cells = [
                f"`{_md(m)}`",
                _usd(cb),
                _usd(cn),
                _money_delta(cb, cn),
                _seconds(percentile(lb, 50)),
                _seconds(percentile(ln, 50)),
                _seconds(percentile(lb, 90)),
                _seconds(percentile(ln, 90)),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines.append(
        "_Latency: jobs that made a call (cache hits left out). Intervals: Wilson 95% score "
        "intervals; a significant drop is NEW's upper bound below BASE's lower bound._"
    )
    lines.append("")
    return lines


def render_markdown(cmp: Comparison) -> str:
    """The comparison as Markdown (fits a PR comment: long lists are cut with a count)."""
    b, n = cmp.base, cmp.new
    name = n.name or b.name
    lines = [f"## xai-run compare{': ' + _md(name) if name else ''}", ""]
    for side, run in (("BASE", b), ("NEW", n)):
        run_id = f" (run `{_md(run.run_id)}`)" if run.run_id else ""
        lines.append(f"- **{side}** `{_md(run.label)}`{run_id}: {len(run.jobs)} jobs")
    lines.append("")
    overall = next((g for g in cmp.groups if g.kind == "overall"), None)
    verdict = "regressed" if cmp.failed else "no regression"
    summary = [
        f"**{verdict}**",
        _count(len(cmp.regressions), "regression", "regressions"),
        _count(len(cmp.fixes), "fix", "fixes"),
        _count(len(cmp.added), "new job", "new jobs"),
        _count(len(cmp.removed), "removed job", "removed jobs"),
    ]
    if cmp.significant_drops:
        summary.append(_count(len(cmp.significant_drops), "significant drop", "significant drops"))
    lines += [" · ".join(summary), ""]
    if overall is not None:
        drop = " **significant drop**" if overall.significant_drop else ""
        lines += [
            f"**Pass rate:** {_side(overall.base)} → {_side(overall.new)} "
            f"({_pp(overall.delta)}){drop}",
            "",
        ]
    else:
        lines += ["No job has assertions on either side: no pass rates.", ""]
    lines += _changes("Regressions: passed in BASE, failing in NEW", cmp.regressions, "in NEW")
    lines += _changes("Fixes: failing in BASE, passing in NEW", cmp.fixes, "in BASE")
    if cmp.added:
        lines += [f"**New jobs** ({len(cmp.added)}): {_ids(cmp.added)}", ""]
    if cmp.removed:
        lines += [f"**Removed jobs** ({len(cmp.removed)}): {_ids(cmp.removed)}", ""]
    lines += _group_tables(cmp)
    lines += _cost_latency(cmp)
    return "\n".join(lines)
