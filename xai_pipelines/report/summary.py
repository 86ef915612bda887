"""``summary.md``: a short Markdown report that fits a CI step summary."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xai_pipelines.records import ErrorGroup, Manifest, ReportTotals, UnsetType, UsageReport
from xai_pipelines.report.evals import md_cell, render_evals_md
from xai_pipelines.report.failures import MAX_EXAMPLE_IDS
from xai_pipelines.report.lines import as_manifest, as_usage_report, unset_or

#: Error groups listed in ``summary.md`` (the rest are counted).
MD_ERROR_GROUPS = 10


def _num(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _usd(value: float) -> str:
    return f"${value:.4f}" if value < 100 else f"${value:,.2f}"


def render_summary(
    usage: UsageReport | Mapping[str, Any], manifest: Manifest | Mapping[str, Any] | None = None
) -> str:
    """Render the usage document (and the manifest, when known) as Markdown.

    Args:
        usage: The usage report (output of :func:`xai_pipelines.report.build_usage`,
            with its ``evals``; a plain document is decoded into a ``UsageReport``).
        manifest: ``manifest.json`` of the run, for its name, status and timing.
    """
    report = as_usage_report(usage)
    totals = report.totals
    lines: list[str] = []
    run = as_manifest(manifest)
    name = (run.spec.name if run else None) or "pipeline run"
    lines.append(f"## xai-run: {name}")
    lines.append("")
    if run:
        took = "" if run.elapsed_s is None else f" in {run.elapsed_s:.1f} s"
        lines.append(f"**Status:** {run.status}{took} · run `{run.run_id}`")
        lines.append("")
    cost = _usd(totals.cost_usd)
    if totals.jobs_without_cost:
        cost += f" (+{totals.jobs_without_cost} jobs of unknown cost)"
    tokens = totals.tokens
    lines += [
        "| jobs ok | failed | cache hits | requests | retries | prompt tok | completion tok | reasoning tok | cached tok | images | cost |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        "| "
        + " | ".join(
            _num(v)
            for v in (
                totals.jobs,
                totals.failed,
                totals.cache_hits,
                totals.requests,
                totals.retries,
                tokens.prompt,
                tokens.completion,
                tokens.reasoning,
                tokens.cached_prompt,
                totals.images,
            )
        )
        + f" | {cost} |",
        "",
    ]
    grader = totals.grader
    if grader.requests:
        lines += [
            f"**Grader** (llm_rubric, included in the totals above): {grader.requests:,} "
            f"requests, {grader.tokens:,} tokens, {_usd(grader.cost_usd)}.",
            "",
        ]
    if totals.cache_hits:
        lines += [
            f"**Response cache:** {totals.cache_hits:,} jobs served from the cache "
            "(no request, no cost).",
            "",
        ]
    lines += render_errors_md(totals)
    lines += render_crashes_md(totals)
    if tokens.cached_prompt:
        saved = f"{_usd(totals.cache_savings_usd)} saved by the prompt cache"
        if totals.jobs_with_unknown_cache_savings:
            saved += f" (+{totals.jobs_with_unknown_cache_savings} jobs at unknown prices)"
        lines += [
            f"**Prompt cache:** {tokens.cached_prompt:,} cached prompt tokens, {saved}.",
            "",
        ]
    if report.by_model:
        lines += [
            "### By model",
            "",
            *(
                ["The jobs' own calls; the grader's share is in the totals above.", ""]
                if grader.requests
                else []
            ),
            "| model | kind | jobs | failed | tokens | images | cost | p50 s | p90 s | p99 s | TTFT p50 s |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for g in report.by_model:
            lat, ttft = g.latency_s, g.ttft_s
            cells = [
                f"`{g.model}`",
                g.kind,
                _num(g.jobs),
                _num(g.failed),
                _num(g.tokens.total),
                _num(g.images),
                _usd(g.cost_usd),
                _num(lat.p50),
                _num(lat.p90),
                _num(unset_or(lat.p99, None)),
                _num(ttft.p50),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += render_evals_md(report.evals)
    return "\n".join(lines)


def render_crashes_md(totals: ReportTotals) -> list[str]:
    """A note on runs that crashed: their in-flight calls are not in the figures above."""
    crashed = totals.crashed_runs
    if isinstance(crashed, UnsetType) or not crashed.runs:
        return []
    runs = "1 earlier run" if crashed.runs == 1 else f"{crashed.runs:,} earlier runs"
    ids = ", ".join(f"`{md_cell(i)}`" for i in crashed.run_ids[:MAX_EXAMPLE_IDS])
    bound = ""
    if crashed.jobs_in_flight:
        bound = f" (at least {crashed.jobs_in_flight:,} jobs were in flight)"
    unknown = ""
    if crashed.runs_without_checkpoint:
        unknown = f"; {crashed.runs_without_checkpoint:,} left no progress checkpoint"
    return [
        f"**Crashed runs:** {runs} ({ids}) crashed or were killed. What they finished is "
        f"counted above; the calls they had in flight{bound} are not{unknown}.",
        "",
    ]


def render_errors_md(totals: ReportTotals) -> list[str]:
    """``### Why jobs failed``: the error groups of ``usage.json`` as a table."""
    groups = totals.error_groups
    if isinstance(groups, UnsetType):  # a usage.json written before error groups
        groups = [ErrorGroup(code=c, count=n) for c, n in totals.errors_by_code.items()]
    if not groups:
        return []
    lines = [
        "### Why jobs failed",
        "",
        f"{totals.failed:,} jobs failed at the API, by error:",
        "",
        "| error | jobs | for example |",
        "|---|---:|---|",
    ]
    for g in groups[:MD_ERROR_GROUPS]:
        message = f": {md_cell(g.message)}" if g.message else ""
        shown = g.example_ids[:MAX_EXAMPLE_IDS]
        ids = ", ".join(f"`{md_cell(i)}`" for i in shown)
        more = g.count - len(shown)
        ids += f" (+{more:,} more)" if ids and more > 0 else ""
        lines.append(f"| `{md_cell(g.code)}`{message} | {g.count:,} | {ids or '–'} |")
    hidden = groups[MD_ERROR_GROUPS:]
    if hidden:
        jobs = sum(g.count for g in hidden)
        lines.append(f"| … {len(hidden)} more errors (usage.json) | {jobs:,} | |")
    lines.append("")
    return lines
