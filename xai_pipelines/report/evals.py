"""Eval pass rates for ``usage.json`` (``evals``) and ``summary.md``, from result lines alone.

Reads the ``scores`` the executor wrote on each line (see
:mod:`xai_pipelines.evals.evaluate`); lines without scores (no ``expect``) are
not counted. A job with an ``expect`` that failed at the API (a final error
line and no result) counts as a failed job: ``errored`` says how many, and the
pass rate is ``passed / (scored + errored)``. A job id seen twice counts once,
with its last line (:mod:`xai_pipelines.report.latest`). Memory stays bounded on
large runs: nothing is kept per job but the groups' counts, their first
:data:`MAX_FAILING_IDS` failing ids and failure details for at most
:data:`MAX_FAILURES` jobs.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from xai_pipelines.records import (
    ErrorLine,
    EvalGroup,
    EvalsReport,
    ResultLine,
    Scores,
    UsageReport,
    as_record,
    scores_of,
)
from xai_pipelines.report.cost import ticks_to_usd
from xai_pipelines.report.failures import final_failures
from xai_pipelines.report.latest import LatestResults
from xai_pipelines.report.lines import (
    as_evals_report,
    as_usage_report,
    error_records,
    unset_or,
)
from xai_pipelines.report.usage import GraderShare, GraderTotals, grader_share

#: Failing job ids listed per task, model or matrix cell.
MAX_FAILING_IDS = 10
#: Failing jobs whose failed assertions are listed (with reasons).
MAX_FAILURES = 50
#: Failed assertions listed per failing job.
MAX_FAILURES_PER_JOB = 3
#: Failing job ids per group, and failed assertions, shown in ``summary.md``.
MD_FAILING_IDS = 5
MD_FAILURES = 10
#: Longest reason kept.
MAX_REASON_CHARS = 300


class _Scored(NamedTuple):
    position: int
    task: str
    model: str
    cell: str
    passed: bool
    score: float
    total: int
    failed: int
    errored: bool = False


def _cell_of(matrix: Mapping[str, Any]) -> str:
    return sys.intern(", ".join(f"{k}={v}" for k, v in matrix.items()))


def _failures(line: ResultLine, scores: Scores) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for a in scores.assertions:
        if a.passed or len(out) >= MAX_FAILURES_PER_JOB:
            continue
        reason = a.reason
        if len(reason) > MAX_REASON_CHARS:
            reason = reason[: MAX_REASON_CHARS - 1] + "…"
        entry: dict[str, Any] = {"id": line.id, "task": line.task, "model": line.model}
        entry |= {"type": a.type, "output": a.output, "reason": reason}
        name = unset_or(a.name, "")
        if name:
            entry["name"] = name
        out.append(entry)
    return out


@dataclass
class _Rate:
    """A group's counts; its failing jobs kept as the :data:`MAX_FAILING_IDS` first in plan order."""

    jobs: int = 0
    passed: int = 0
    errored: int = 0
    score: float = 0.0
    score_error: float = 0.0  # Neumaier's compensation: the mean does not depend on line order
    failing_first: list[tuple[int, str]] = field(default_factory=list)  # (position, id)
    failing_count: int = 0

    def add(self, job_id: str, row: _Scored) -> None:
        self.jobs += 1
        self.passed += row.passed
        self.errored += row.errored
        total = self.score + row.score
        if abs(self.score) >= abs(row.score):
            self.score_error += (self.score - total) + row.score
        else:
            self.score_error += (row.score - total) + self.score
        self.score = total
        if row.passed:
            return
        self.failing_count += 1
        self.failing_first.append((row.position, job_id))
        if len(self.failing_first) >= 4 * MAX_FAILING_IDS:  # bounded: keep the first ones
            self.failing_first = sorted(self.failing_first)[:MAX_FAILING_IDS]

    def to_dict(self, **key: Any) -> dict[str, Any]:
        failing = [job_id for _, job_id in sorted(self.failing_first)[:MAX_FAILING_IDS]]
        score = self.score + self.score_error
        return key | {
            "jobs": self.jobs,
            "passed": self.passed,
            "failed": self.jobs - self.passed,
            "errored": self.errored,
            "pass_rate": round(self.passed / self.jobs, 4) if self.jobs else None,
            "score": round(score / self.jobs, 4) if self.jobs else None,
            "failing": failing,
            "failing_more": self.failing_count - len(failing),
        }


@dataclass
class _Tally:
    """Every group's rate, added to one job at a time (nothing is kept per job)."""

    overall: _Rate = field(default_factory=_Rate)
    by_task: dict[str, _Rate] = field(default_factory=dict)
    by_model: dict[str, _Rate] = field(default_factory=dict)
    by_cell: dict[tuple[str, str], _Rate] = field(default_factory=dict)
    assertions: int = 0
    assertions_failed: int = 0

    def add(self, job_id: str, row: _Scored) -> None:
        self.overall.add(job_id, row)
        self.assertions += row.total
        self.assertions_failed += row.failed
        self.by_task.setdefault(row.task, _Rate()).add(job_id, row)
        self.by_model.setdefault(row.model, _Rate()).add(job_id, row)
        if row.cell:
            self.by_cell.setdefault((row.task, row.cell), _Rate()).add(job_id, row)


@dataclass
class _GraderOfJobs:
    """The grader's share summed over the scored jobs, and the jobs whose share has no cost."""

    totals: GraderTotals = field(default_factory=GraderTotals)
    jobs_without_cost: int = 0

    def add(self, share: GraderShare | None) -> None:
        if share is None:
            return
        self.totals.add(share)
        if share.calls and share.cost_ticks is None:
            self.jobs_without_cost += 1


def build_evals(
    results: Iterable[ResultLine | Mapping[str, Any]],
    errors: Iterable[ErrorLine | Mapping[str, Any]] = (),
) -> EvalsReport:
    """The ``evals`` section of ``usage.json``.

    Args:
        results: Lines of ``results.jsonl`` (records; plain dicts are decoded).
        errors: Lines of ``errors.jsonl``: jobs with an ``expect`` that failed at the
            API count as failed jobs (``errored``).

    Returns:
        ``jobs`` (scored and errored jobs), ``passed``, ``failed``, ``errored``,
        ``pass_rate`` (None when there are no jobs), ``score``, ``assertions``, the rates
        ``by_type``, ``by_task``, ``by_model`` and ``by_cell``, ``failures`` and ``grader``.
    """
    tally = _Tally()
    details: dict[str, tuple[int, list[dict[str, Any]]]] = {}  # id -> (position, failures)
    by_type: dict[str, list[int]] = {}
    grader = _GraderOfJobs()
    lines = LatestResults.from_lines(results)
    for line in lines:
        scores = scores_of(line)
        if scores is None:
            continue
        row = _Scored(
            line.index,
            sys.intern(line.task),
            sys.intern(line.model),
            _cell_of(line.meta.get("matrix") or {}),
            scores.passed,
            scores.score,
            scores.total,
            scores.failed,
        )
        tally.add(line.id, row)
        for a in scores.assertions:
            counts = by_type.setdefault(sys.intern(a.type), [0, 0])
            counts[0] += 1
            counts[1] += a.passed
        if not scores.passed:  # the first MAX_FAILURES failing jobs in plan order, bounded
            details[line.id] = (line.index, _failures(line, scores))
            if len(details) >= 2 * MAX_FAILURES:
                details = dict(_first_failures(details))
        grader.add(grader_share(scores))
    finals = [e for e in error_records(errors) if e.final]
    for failure in final_failures(finals, lines.with_result({e.id for e in finals})):
        if failure.expects:
            row = _Scored(
                failure.index,
                failure.task,
                failure.model,
                _cell_of(failure.matrix),
                False,
                0.0,
                0,
                0,
                errored=True,
            )
            tally.add(failure.id, row)
    return as_record(_document(tally, details, by_type, grader), EvalsReport, "evals section")


def _first_failures(
    details: dict[str, tuple[int, list[dict[str, Any]]]],
) -> list[tuple[str, tuple[int, list[dict[str, Any]]]]]:
    """The :data:`MAX_FAILURES` failing jobs of ``details`` first in plan order."""
    return sorted(details.items(), key=lambda item: (item[1][0], item[0]))[:MAX_FAILURES]


def _document(
    tally: _Tally,
    details: dict[str, tuple[int, list[dict[str, Any]]]],
    by_type: dict[str, list[int]],
    grader: _GraderOfJobs,
) -> dict[str, Any]:
    overall = tally.overall
    total, failed = tally.assertions, tally.assertions_failed
    doc = overall.to_dict()
    del doc["failing"], doc["failing_more"]
    doc["assertions"] = {
        "total": total,
        "passed": total - failed,
        "pass_rate": round((total - failed) / total, 4) if total else None,
    }
    doc["by_type"] = [
        {"type": t, "total": n, "passed": ok, "pass_rate": round(ok / n, 4)}
        for t, (n, ok) in sorted(by_type.items())
    ]
    doc["by_task"] = [r.to_dict(task=k) for k, r in sorted(tally.by_task.items())]
    doc["by_model"] = [r.to_dict(model=k) for k, r in sorted(tally.by_model.items())]
    doc["by_cell"] = [
        r.to_dict(task=task, cell=cell) for (task, cell), r in sorted(tally.by_cell.items())
    ]
    first = _first_failures(details)
    doc["failures"] = [f for _, (_, failures) in first for f in failures]
    doc["failures_more"] = max(0, overall.jobs - overall.errored - overall.passed - len(first))
    totals = grader.totals
    tokens = totals.to_dict()["tokens_by_kind"]
    doc["grader"] = {  # the same figures as usage.json's totals.grader (kept for readers of evals)
        "calls": totals.requests,
        "tokens": {k: tokens[k] for k in ("prompt", "completion", "reasoning")},
        "cost_usd_ticks": totals.cost_ticks,
        "cost_usd": round(ticks_to_usd(totals.cost_ticks), 6),
        "jobs_without_cost": grader.jobs_without_cost,
    }
    return doc


def pass_rate(usage: UsageReport | Mapping[str, Any]) -> float | None:
    """The run's job pass rate from a usage document (None: nothing was scored)."""
    return as_usage_report(usage).evals.pass_rate


def md_cell(text: Any) -> str:
    """Text safe inside a Markdown table cell or list item (no HTML, no cell breaks)."""
    s = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(s.replace("|", "\\|").replace("`", "'").split())


def _pct(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.1f}%"


def _ids(group: EvalGroup) -> str:
    shown = group.failing[:MD_FAILING_IDS]
    more = group.failing_more + len(group.failing) - len(shown)
    return ", ".join(f"`{md_cell(i)}`" for i in shown) + (f" (+{more} more)" if more else "")


def evals_headline(evals: EvalsReport | Mapping[str, Any], markdown: bool = False) -> str:
    """The pass rate in one line, jobs failed at the API named (they count as failed).

    ``39/43 jobs passed every assertion (90.7%) · 2 failed at the API (counted as
    failed) · 99/102 assertions (97.1%) · mean score 0.970``; with ``markdown`` the
    job pass rate is bold.
    """
    e = as_evals_report(evals)
    a = e.assertions
    rate = f"{e.passed}/{e.jobs} jobs passed every assertion ({_pct(e.pass_rate)})"
    parts = [f"**{rate}**" if markdown else rate]
    if e.errored:
        parts.append(f"{e.errored} failed at the API (counted as failed)")
    parts.append(f"{a.passed}/{a.total} assertions ({_pct(a.pass_rate)})")
    parts.append(f"mean score {e.score or 0.0:.3f}")
    return " · ".join(parts)


def _group_name(title: str, g: EvalGroup) -> str:
    if title == "matrix cell":
        return f"{unset_or(g.task, '')}: {unset_or(g.cell, '')}"
    return unset_or(g.task if title == "task" else g.model, "")


def render_evals_md(evals: EvalsReport | Mapping[str, Any] | None) -> list[str]:
    """The ``### Evals`` section of ``summary.md`` (no lines when nothing was scored)."""
    e = as_evals_report(evals)
    if not e.jobs:
        return []
    lines = ["### Evals", "", evals_headline(e, markdown=True), ""]
    tables = [("task", e.by_task), ("model", e.by_model)]
    if e.by_cell:
        tables.append(("matrix cell", e.by_cell))
    for title, rows in tables:
        lines += [
            f"| {title} | jobs | passed | pass rate | score | failing jobs |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for g in rows:
            cells = [f"`{md_cell(_group_name(title, g))}`", str(g.jobs), str(g.passed)]
            cells += [_pct(g.pass_rate), f"{g.score or 0.0:.3f}", _ids(g) or "–"]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    if e.failures:
        lines += ["Failed assertions:", ""]
        for f in e.failures[:MD_FAILURES]:
            name = unset_or(f.name, "")
            label = f.type + (f" ({md_cell(name)})" if name else "")
            output = f" output {f.output}" if f.output not in (None, 0) else ""
            lines.append(f"- `{md_cell(f.id)}`{output} · {label}: {md_cell(f.reason)}")
        hidden = len(e.failures[MD_FAILURES:])
        if hidden or e.failures_more:
            more = f"{hidden} more failed assertions" if hidden else "more"
            lines.append(f"- … {more} (usage.json, report.html, results.jsonl)")
        lines.append("")
    return lines
