"""Write ``usage.json``, ``summary.md`` and ``report.html`` of an output directory from its JSON lines."""

from __future__ import annotations

from typing import Any

from xai_pipelines.report import build_evals, build_usage, price_table_from_dict, render_summary
from xai_pipelines.report.html import render_html
from xai_pipelines.report.junit import write_junit
from xai_pipelines.store import OutputDir, atomic_write_json, atomic_write_text, utc_now

REPORT_HTML = "report.html"


def write_reports(out: OutputDir) -> dict[str, Any]:
    """(Re)build the reports from ``results.jsonl`` and ``errors.jsonl``.

    The manifest, when present, adds the run's name and status to the summary and
    its price table prices lines that carry no cost; neither is required.

    Returns:
        The usage document written to ``usage.json``.

    Raises:
        FileNotFoundError: The directory holds no ``results.jsonl`` nor ``errors.jsonl``.
    """
    if not out.results.exists() and not out.errors.exists():
        raise FileNotFoundError(f"{out.root} holds no results.jsonl (is it an xai-run output?)")
    manifest = out.read_manifest() if out.manifest.exists() else None
    prices = price_table_from_dict((manifest or {}).get("prices"))
    usage = build_usage(out.iter_results(), out.iter_errors(), prices)
    usage = {"generated_at": utc_now(), **usage, "evals": build_evals(out.iter_results())}
    atomic_write_json(out.usage, usage)
    atomic_write_text(out.summary, render_summary(usage, manifest))
    write_junit(out, manifest)
    atomic_write_text(out.root / REPORT_HTML, render_html(usage, manifest, out.iter_results()))
    return usage
