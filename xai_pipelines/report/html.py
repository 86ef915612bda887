"""``report.html``: one self-contained page (inline CSS and SVG, no scripts, no network).

Totals, a per-model table with latency percentile bars, a latency histogram,
eval pass rates with the failing assertions and their reasons, failed jobs by
error code, and a gallery of generated images (relative, lazy-loaded links to
``images/<job-id>/<index>.<ext>``). Built from the usage document and the
result lines alone; every piece of text from a run (outputs, reasons, ids,
prompts) is HTML-escaped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import quote

from xai_pipelines.report import svg
from xai_pipelines.report.usage import percentile

#: Images shown in the gallery.
MAX_GALLERY = 120
#: A gallery path must look like what the executor writes (no absolute or remote links).
_IMAGE_PATH = re.compile(r"^images/[A-Za-z0-9._-]+/[0-9]+\.[A-Za-z0-9]+$")

MODEL_COLUMNS: tuple[str, ...] = ("model", "kind", "jobs", "failed", "tokens", "images", "cost")
MODEL_COLUMNS += ("p50 s", "p90 s", "p99 s", "TTFT p50 s")

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#212121;background:#fafafa}
header{background:#263238;color:#fff;padding:16px 24px}header h1{margin:0 0 4px;font-size:20px}
header p{margin:0;color:#cfd8dc}main{padding:8px 24px 40px;max-width:1100px}
section{margin-top:24px}h2{font-size:17px;border-bottom:1px solid #ddd;padding-bottom:4px}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{background:#fff;border:1px solid #e0e0e0;
border-radius:6px;padding:8px 14px;min-width:110px}.card b{display:block;font-size:20px}
.card span{color:#616161;font-size:12px}table{border-collapse:collapse;background:#fff;width:100%}
th,td{border:1px solid #e0e0e0;padding:4px 8px;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f5f5f5}
.pass{color:#2e7d32}.fail{color:#c62828}code{font-size:12px;word-break:break-all}
.chart{width:100%;max-width:640px;height:auto;display:block;margin:8px 0}
.chart .label,.chart .axis,.chart .marker{font-size:11px;fill:#424242}.chart .marker{fill:#c62828}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:10px}
figure{margin:0;background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:6px}
figure img{width:100%;height:auto;display:block}figcaption{font-size:12px;color:#616161;
word-break:break-all}.muted{color:#757575}
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else _e(value)


def _pct(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.1f}%"


@dataclass
class _Collected:
    """What the page needs of the result lines, kept small (last line of an id wins)."""

    latencies: dict[str, float] = field(default_factory=dict)
    images: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    image_count: int = 0

    def add(self, line: Mapping[str, Any]) -> None:
        job_id = str(line.get("id"))
        self.latencies.pop(job_id, None)
        self.image_count -= len(self.images.pop(job_id, []))
        if line.get("latency_s") is not None:
            self.latencies[job_id] = float(line["latency_s"])
        shown: list[dict[str, Any]] = []
        for img in line.get("images") or []:
            path = str(img.get("path") or "")
            if self.image_count + len(shown) >= MAX_GALLERY or not _IMAGE_PATH.match(path):
                continue
            shown.append({"path": path, "index": img.get("index"), "mime": img.get("mime_type")})
        if shown:
            self.images[job_id] = [dict(s, prompt=line.get("prompt")) for s in shown]
            self.image_count += len(shown)


def _cards(usage: Mapping[str, Any]) -> str:
    t = usage["totals"]
    evals = usage.get("evals") or {}
    items = [
        ("jobs ok", _num(t["jobs"])),
        ("failed", _num(t["failed"])),
        ("requests", _num(t["requests"])),
        ("retries", _num(t["retries"])),
        ("tokens", _num(t["tokens"]["total"])),
        ("images", _num(t["images"])),
        ("cost", f"${t['cost_usd']:.4f}"),
    ]
    if t["tokens"]["cached_prompt"]:
        items.append(("cached prompt tokens", _num(t["tokens"]["cached_prompt"])))
        items.append(("saved by prompt cache", f"${t['cache_savings_usd']:.4f}"))
    if evals.get("jobs"):
        items.append(("eval pass rate", _pct(evals.get("pass_rate"))))
    cards = "".join(f'<div class="card"><b>{v}</b><span>{_e(k)}</span></div>' for k, v in items)
    return f'<section id="totals"><h2>Totals</h2><div class="cards">{cards}</div></section>'


def _models(usage: Mapping[str, Any]) -> str:
    rows = []
    bars = []
    for g in usage["by_model"]:
        lat = g["latency_s"]
        rows.append(
            "<tr>"
            + f"<td><code>{_e(g['model'])}</code></td><td>{_e(g['kind'])}</td>"
            + "".join(
                f'<td class="n">{_num(v)}</td>'
                for v in (g["jobs"], g["failed"], g["tokens"]["total"], g["images"])
            )
            + f'<td class="n">${g["cost_usd"]:.4f}</td>'
            + "".join(f'<td class="n">{_num(lat[k])}</td>' for k in ("p50", "p90", "p99"))
            + f'<td class="n">{_num(g["ttft_s"]["p50"])}</td></tr>'
        )
        for q in ("p50", "p90", "p99"):
            if lat[q] is not None:
                bars.append((f"{g['model']} ({g['kind']}) {q}", float(lat[q]), f"{lat[q]:.3f} s"))
    head = "".join(
        f'<th class="{"n" if i > 1 else ""}">{h}</th>' for i, h in enumerate(MODEL_COLUMNS)
    )
    chart = svg.bars(bars, title="Latency percentiles per model (seconds)")
    return (
        f'<section id="models"><h2>By model</h2><table><tr>{head}</tr>{"".join(rows)}</table>'
        f"<h3>Latency percentiles</h3>{chart}</section>"
    )


def _latency(latencies: list[float]) -> str:
    if not latencies:
        return '<section id="latency"><h2>Latency</h2><p class="muted">No jobs.</p></section>'
    latencies.sort()
    markers = [(f"p{q}", percentile(latencies, q) or 0.0) for q in (50, 90, 99)]
    chart = svg.histogram(latencies, markers=markers, title="Job latency histogram (seconds)")
    return f'<section id="latency"><h2>Latency</h2>{chart}</section>'


def _rate_table(title: str, key: str, rows: list[Mapping[str, Any]]) -> str:
    out = [
        f"<h3>By {_e(title)}</h3><table><tr><th>{_e(title)}</th><th class='n'>jobs</th>"
        "<th class='n'>passed</th><th class='n'>pass rate</th><th class='n'>score</th>"
        "<th>failing jobs</th></tr>"
    ]
    for g in rows:
        name = f"{g['task']}: {g['cell']}" if key == "cell" else g[key]
        failing = ", ".join(f"<code>{_e(i)}</code>" for i in g["failing"])
        if g["failing_more"]:
            failing += f" <span class='muted'>(+{g['failing_more']} more)</span>"
        color = svg.rate_color(g["pass_rate"] or 0.0)
        out.append(
            f"<tr><td><code>{_e(name)}</code></td><td class='n'>{g['jobs']}</td>"
            f"<td class='n'>{g['passed']}</td>"
            f"<td class='n' style='color:{color}'>{_pct(g['pass_rate'])}</td>"
            f"<td class='n'>{_num(g['score'])}</td><td>{failing or '–'}</td></tr>"
        )
    out.append("</table>")
    return "".join(out)


def _evals(usage: Mapping[str, Any]) -> str:
    evals = usage.get("evals") or {}
    if not evals.get("jobs"):
        return (
            '<section id="evals"><h2>Evals</h2><p class="muted">No job had expectations.</p>'
            "</section>"
        )
    a = evals["assertions"]
    parts = [
        '<section id="evals"><h2>Evals</h2>',
        f"<p><b>{evals['passed']}/{evals['jobs']}</b> jobs passed every assertion "
        f"(<b>{_pct(evals['pass_rate'])}</b>); {a['passed']}/{a['total']} assertions "
        f"({_pct(a['pass_rate'])}); mean score {_num(evals['score'])}.</p>",
    ]
    groups = [("task", "task", evals["by_task"]), ("model", "model", evals["by_model"])]
    if evals["by_cell"]:
        groups.append(("matrix cell", "cell", evals["by_cell"]))
    for title, key, rows in groups:
        chart_rows = [
            (
                f"{g['task']}: {g['cell']}" if key == "cell" else str(g[key]),
                g["pass_rate"] or 0.0,
                f"{_pct(g['pass_rate'])} of {g['jobs']}",
            )
            for g in rows
        ]
        colors = [svg.rate_color(g["pass_rate"] or 0.0) for g in rows]
        parts.append(_rate_table(title, key, rows))
        parts.append(svg.bars(chart_rows, scale=1.0, colors=colors, title=f"Pass rate by {title}"))
    types = "".join(
        f"<tr><td><code>{_e(t['type'])}</code></td><td class='n'>{t['total']}</td>"
        f"<td class='n'>{t['passed']}</td><td class='n'>{_pct(t['pass_rate'])}</td></tr>"
        for t in evals["by_type"]
    )
    parts.append(
        "<h3>By assertion type</h3><table><tr><th>type</th><th class='n'>checked</th>"
        f"<th class='n'>passed</th><th class='n'>pass rate</th></tr>{types}</table>"
    )
    grader = evals.get("grader") or {}
    if grader.get("calls"):
        parts.append(
            f"<p class='muted'>Grader: {grader['calls']} calls, ${grader['cost_usd']:.4f} "
            "(not included in the totals).</p>"
        )
    parts.append("</section>")
    parts.append(_failures(evals))
    return "".join(parts)


def _failures(evals: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><td><code>{_e(f['id'])}</code></td><td><code>{_e(f['model'])}</code></td>"
        f"<td>{_e(f['type'])}{' (' + _e(f['name']) + ')' if f.get('name') else ''}</td>"
        f"<td class='n'>{_e(f['output']) if f.get('output') is not None else '–'}</td>"
        f"<td class='fail'>{_e(f['reason'])}</td></tr>"
        for f in evals["failures"]
    )
    more = evals.get("failures_more") or 0
    note = (
        f"<p class='muted'>… and {more} more failing jobs (see results.jsonl).</p>" if more else ""
    )
    body = (
        "<table><tr><th>job</th><th>model</th><th>assertion</th><th class='n'>output</th>"
        f"<th>reason</th></tr>{rows}</table>{note}"
        if rows
        else "<p class='pass'>Every assertion passed.</p>"
    )
    return f'<section id="failures"><h2>Failing assertions</h2>{body}</section>'


def _errors(usage: Mapping[str, Any]) -> str:
    codes = usage["totals"].get("errors_by_code") or {}
    if not codes:
        return ""
    items = "".join(f"<li><code>{_e(c)}</code>: {n}</li>" for c, n in codes.items())
    return f'<section id="errors"><h2>Failed jobs by error code</h2><ul>{items}</ul></section>'


def _gallery(collected: _Collected, total_images: int) -> str:
    figures = []
    for job_id, images in collected.images.items():
        for img in images:
            href = quote(img["path"])
            caption = f"{job_id} #{img['index']}"
            figures.append(
                f'<figure><a href="{_e(href)}"><img src="{_e(href)}" loading="lazy" '
                f'decoding="async" alt="{_e(img.get("prompt") or caption)}"></a>'
                f"<figcaption>{_e(caption)}</figcaption></figure>"
            )
    if not figures:
        return ""
    more = total_images - len(figures)
    note = f"<p class='muted'>{more} more images in images/.</p>" if more > 0 else ""
    return (
        f'<section id="gallery"><h2>Images</h2><div class="gallery">{"".join(figures)}</div>'
        f"{note}</section>"
    )


def render_html(
    usage: Mapping[str, Any],
    manifest: Mapping[str, Any] | None,
    results: Iterable[Mapping[str, Any]],
) -> str:
    """The whole ``report.html`` page.

    Args:
        usage: The usage document (with its ``evals`` section).
        manifest: The run's manifest, when present (name, status, timing).
        results: The result lines (read once, lazily).
    """
    collected = _Collected()
    for line in results:
        collected.add(line)
    spec = (manifest or {}).get("spec") or {}
    name = spec.get("name") or "pipeline run"
    info = []
    if manifest:
        elapsed = manifest.get("elapsed_s")
        took = f" in {elapsed:.1f} s" if isinstance(elapsed, int | float) else ""
        info.append(f"status {manifest.get('status', 'unknown')}{took}")
        info.append(f"run {manifest.get('run_id', '?')}")
    info.append(f"generated {usage.get('generated_at', '')}")
    body = "".join(
        [
            _cards(usage),
            _models(usage),
            _latency(list(collected.latencies.values())),
            _evals(usage),
            _errors(usage),
            _gallery(collected, int(usage["totals"].get("images") or 0)),
        ]
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src 'self' file: data:; style-src 'unsafe-inline'\">"
        f"<title>xai-run: {_e(name)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>xai-run: {_e(name)}</h1><p>{_e(' · '.join(info))}</p></header>"
        f"<main>{body}</main></body></html>\n"
    )
