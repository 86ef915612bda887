"""Inline SVG charts for ``report.html``: a histogram and horizontal bars.

Pure functions from numbers and labels to SVG text; every label is escaped
here, so callers pass plain text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

WIDTH = 640
GREEN, AMBER, RED, BLUE, GREY = "#2e7d32", "#f9a825", "#c62828", "#1565c0", "#9e9e9e"


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def rate_color(rate: float) -> str:
    """Green at 90 % and above, amber from 50 %, red below."""
    return GREEN if rate >= 0.9 else AMBER if rate >= 0.5 else RED


def _fmt(value: float) -> str:
    return f"{value:.3g}" if value < 10 else f"{value:,.0f}" if value >= 1000 else f"{value:.1f}"


def histogram(
    values: Sequence[float],
    *,
    bins: int = 24,
    unit: str = "s",
    markers: Sequence[tuple[str, float]] = (),
    title: str = "",
) -> str:
    """A histogram of ``values`` with optional vertical markers (e.g. percentiles).

    Returns:
        An ``<svg>`` element (empty string when there are no values).
    """
    if not values:
        return ""
    top = max(values)
    span = top if top > 0 else 1.0
    width = span / bins
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int(v / width)))] += 1
    height, pad, base = 196, 30, 166
    plot = WIDTH - 2 * pad
    highest = max(counts)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{_e(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{_e(title)}</title>",
        f'<line x1="{pad}" y1="{base}" x2="{WIDTH - pad}" y2="{base}" stroke="{GREY}"/>',
    ]
    bar = plot / bins
    for i, count in enumerate(counts):
        if not count:
            continue
        h = max(1.0, (base - 20) * count / highest)
        lo, hi = i * width, (i + 1) * width
        parts.append(
            f'<rect x="{pad + i * bar + 1:.1f}" y="{base - h:.1f}" width="{bar - 2:.1f}" '
            f'height="{h:.1f}" fill="{BLUE}"><title>{_e(_fmt(lo))}–{_e(_fmt(hi))} {_e(unit)}: '
            f"{count} jobs</title></rect>"
        )
    for i, (label, value) in enumerate(markers):
        x = pad + plot * min(1.0, value / span)
        y = 12 + 12 * i  # staggered: close percentiles must not print over each other
        anchor = "end" if x > WIDTH / 2 else "start"
        parts.append(
            f'<line x1="{x:.1f}" y1="{y - 8}" x2="{x:.1f}" y2="{base}" stroke="{RED}" '
            f'stroke-dasharray="3 3"/><text x="{x + (-3 if anchor == "end" else 3):.1f}" '
            f'y="{y}" text-anchor="{anchor}" class="marker">'
            f"{_e(label)} {_e(_fmt(value))} {_e(unit)}</text>"
        )
    parts.append(f'<text x="{pad}" y="{base + 16}" class="axis">0</text>')
    parts.append(
        f'<text x="{WIDTH - pad}" y="{base + 16}" class="axis" text-anchor="end">'
        f"{_e(_fmt(top))} {_e(unit)}</text>"
    )
    parts.append(
        f'<text x="{pad}" y="{base + 28}" class="axis">{len(values)} jobs; tallest bar '
        f"{highest}</text></svg>"
    )
    return "".join(parts)


def bars(
    rows: Sequence[tuple[str, float, str]],
    *,
    scale: float | None = None,
    colors: Sequence[str] | None = None,
    title: str = "",
) -> str:
    """Horizontal bars, one per ``(label, value, shown text)``.

    Args:
        rows: Label, value (0..scale), and the text printed after the bar.
        scale: The value of a full bar (default: the largest value).
        colors: A color per row (default: blue).
        title: Accessible title of the chart.
    """
    if not rows:
        return ""
    full = scale if scale is not None else max(v for _, v, _ in rows)
    full = full if full and math.isfinite(full) and full > 0 else 1.0
    row_h, label_w, text_w = 22, 220, 90
    plot = WIDTH - label_w - text_w
    height = row_h * len(rows) + 6
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{_e(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{_e(title)}</title>",
    ]
    for i, (label, value, shown) in enumerate(rows):
        y = 4 + i * row_h
        w = plot * max(0.0, min(1.0, value / full))
        color = colors[i] if colors else BLUE
        short = label if len(label) <= 32 else label[:31] + "…"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" class="label">'
            f"{_e(short)}<title>{_e(label)}</title></text>"
            f'<rect x="{label_w}" y="{y + 2}" width="{plot:.1f}" height="{row_h - 6}" '
            f'fill="#eeeeee"/><rect x="{label_w}" y="{y + 2}" width="{w:.1f}" '
            f'height="{row_h - 6}" fill="{color}"/>'
            f'<text x="{label_w + plot + 6}" y="{y + 14}" class="label">{_e(shown)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
