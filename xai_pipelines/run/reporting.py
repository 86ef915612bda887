"""Write ``usage.json``, ``summary.md`` and ``report.html`` of an output directory from its JSON lines.

The usage document is the one source of a run's figures: :func:`final_counts`
turns it into the manifest's ``counts`` and the run outcome's, and the terminal
summary (:func:`xai_pipelines.run.progress.run_summary`) reads it too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from xai_pipelines.catalog import ModelCatalog, load_catalog
from xai_pipelines.records import (
    UNSET,
    ErrorLine,
    UsageReport,
    encode_usage_report,
    to_plain,
)
from xai_pipelines.report import (
    ModelPrice,
    build_evals,
    build_usage,
    price_table_from_dict,
    render_summary,
)
from xai_pipelines.report.html import render_html
from xai_pipelines.report.junit import write_junit
from xai_pipelines.report.latest import LatestResults
from xai_pipelines.report.lines import as_usage_report, unset_or
from xai_pipelines.report.usage import concurrency_history, crashed_runs
from xai_pipelines.store import (
    OutputDir,
    atomic_write_bytes,
    atomic_write_text,
    read_jsonl,
    utc_now,
)

REPORT_HTML = "report.html"
#: Line files up to this size (results and errors together) are decoded once and the
#: records shared by the report writers; larger ones are streamed by each writer, so
#: memory stays bounded at any size.
SHARED_DECODE_MAX_BYTES = 32 << 20


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
    manifest = out.load_manifest()
    prices = price_table_from_dict(unset_or(manifest.prices, None) if manifest else None)
    results, errors = _line_sources(out)
    report = build_usage(results, errors(), prices)
    report.generated_at = utc_now()
    report.evals = build_evals(results, errors())
    report.totals.crashed_runs = crashed_runs(manifest) or UNSET
    report.concurrency = concurrency_history(manifest) or UNSET
    atomic_write_bytes(out.usage, encode_usage_report(report))
    usage = to_plain(report)  # what a reader of usage.json sees, schema_version included
    atomic_write_text(out.summary, render_summary(report, manifest))
    write_junit(out, manifest, results.superseded)  # its ids were read once, here
    html = render_html(report, manifest, results, errors=errors(), plan=read_jsonl(out.plan))
    atomic_write_text(out.root / REPORT_HTML, html)
    return usage


def _line_sources(out: OutputDir) -> tuple[LatestResults, Callable[[], Iterable[ErrorLine]]]:
    """How each report writer reads the result and error lines.

    Small files are decoded once (each writer used to decode them again: a third
    of the reports' cost); above :data:`SHARED_DECODE_MAX_BYTES` every writer
    streams each job's last result line from disk, in bounded memory.
    """
    size = sum(p.stat().st_size for p in (out.results, out.errors) if p.exists())
    if size > SHARED_DECODE_MAX_BYTES:
        return LatestResults.from_file(out.results), out.error_lines
    errors = list(out.error_lines())
    return LatestResults.from_lines(out.result_lines()), (lambda: errors)


def final_counts(
    snapshot: Mapping[str, Any], usage: UsageReport | Mapping[str, Any]
) -> dict[str, Any]:
    """The manifest's ``counts`` at the end of a run.

    ``total``, ``done`` and ``skipped`` are this run's (jobs planned, finished now,
    finished by an earlier run); every other figure is the usage document's, so
    the manifest, the terminal and the reports agree.
    """
    report = as_usage_report(usage)
    t = report.totals
    return {
        "total": snapshot["total"],
        "done": snapshot["done"],
        "skipped": snapshot["skipped"],
        "succeeded": t.jobs,
        "failed": t.failed,
        "cache_hits": t.cache_hits,
        "requests": t.requests,
        "retries": t.retries,
        "tokens": t.tokens.total,
        "images": t.images,
        "cost_usd": t.cost_usd,
        "cost_usd_ticks": t.cost_usd_ticks,
        "grader": {
            "requests": t.grader.requests,
            "tokens": t.grader.tokens,
            "cost_usd_ticks": t.grader.cost_usd_ticks,
        },
        "errors_by_code": dict(t.errors_by_code),
        "pass_rate": report.evals.pass_rate,
    }


def with_catalog_prices(
    table: Mapping[str, ModelPrice], catalog: ModelCatalog | None = None
) -> dict[str, ModelPrice]:
    """The run's price table, completed from the bundled catalog.

    With no table (the Models service was not reachable) it is the catalog's, every
    name, alias and retired name. Otherwise the service's prices stay and gain the
    catalog's long-context rate (its ratio to the normal price), which the
    service's gRPC answer does not carry.
    """
    catalog = catalog or load_catalog()
    if not table:
        models = [(m.name, m.aliases) for m in catalog.language_models]
        models += [(m.name, m.aliases) for m in catalog.image_models]
        names = [
            name
            for canonical, aliases in models
            for name in (canonical, *aliases, *catalog.retired_names(canonical))
        ]
        return {n: p for n in names if (p := catalog.price(n)) is not None}
    out: dict[str, ModelPrice] = {}
    for name, price in table.items():
        known = catalog.price(name)
        if known is None or known.long_context_threshold is None or price.image_price:
            out[name] = price
            continue

        def scaled(live: int, normal: int, long: int | None) -> int | None:
            # the catalog's long/normal ratio applied to the service's own price
            return None if long is None or not normal else round(live * long / normal)

        out[name] = dataclasses.replace(
            price,
            long_context_threshold=known.long_context_threshold,
            long_context_prompt_text_token_price=scaled(
                price.prompt_text_token_price,
                known.prompt_text_token_price,
                known.long_context_prompt_text_token_price,
            ),
            long_context_cached_prompt_token_price=scaled(
                price.cached_prompt_token_price,
                known.cached_prompt_token_price,
                known.long_context_cached_prompt_token_price,
            ),
            long_context_completion_text_token_price=scaled(
                price.completion_text_token_price,
                known.completion_text_token_price,
                known.long_context_completion_text_token_price,
            ),
        )
    return out
