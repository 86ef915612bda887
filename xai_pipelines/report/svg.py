"""Inline SVG charts for ``report.html``: a histogram and horizontal bars.

Pure functions from numbers and labels to SVG markup: the geometry is worked
out here, the markup comes from the autoescaping templates ``histogram.svg.j2``
and ``bars.svg.j2``, so callers pass plain text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from xai_pipelines.report.templates import environment

WIDTH = 640
GREEN, AMBER, RED, BLUE, GREY = "#2e7d32", "#f9a825", "#c62828", "#1565c0", "#9e9e9e"


def rate_color(rate: float) -> str:
    """Green at 90 % and above, amber from 50 %, red below."""
    return GREEN if rate >= 0.9 else AMBER if rate >= 0.5 else RED


def _fmt(value: float) -> str:
    return f"{value:.3g}" if value < 10 else f"{value:,.0f}" if value >= 1000 else f"{value:.1f}"


@dataclass(frozen=True)
class _Bin:
    x: float
    y: float
    width: float
    height: float
    tip: str


@dataclass(frozen=True)
class _Marker:
    x: float
    y: int
    anchor: str
    text_x: float
    text: str


@dataclass(frozen=True)
class _Bar:
    y: int
    label: str
    short: str
    width: float
    color: str
    shown: str


def histogram(
    values: Sequence[float],
    *,
    bins: int = 24,
    unit: str = "s",
    markers: Sequence[tuple[str, float]] = (),
    title: str = "",
) -> Markup:
    """A histogram of ``values`` with optional vertical markers (e.g. percentiles).

    Returns:
        An ``<svg>`` element (empty when there are no values).
    """
    if not values:
        return Markup("")
    top = max(values)
    span = top if top > 0 else 1.0
    width = span / bins
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int(v / width)))] += 1
    height, pad, base = 196, 30, 166
    plot = WIDTH - 2 * pad
    highest = max(counts)
    bar = plot / bins
    shapes = []
    for i, count in enumerate(counts):
        if not count:
            continue
        h = max(1.0, (base - 20) * count / highest)
        tip = f"{_fmt(i * width)}–{_fmt((i + 1) * width)} {unit}: {count} jobs"
        shapes.append(_Bin(pad + i * bar + 1, base - h, bar - 2, h, tip))
    lines = []
    for i, (label, value) in enumerate(markers):
        x = pad + plot * min(1.0, value / span)
        y = 12 + 12 * i  # staggered: close percentiles must not print over each other
        anchor = "end" if x > WIDTH / 2 else "start"
        text = f"{label} {_fmt(value)} {unit}"
        lines.append(_Marker(x, y, anchor, x + (-3 if anchor == "end" else 3), text))
    return Markup(
        environment()
        .get_template("histogram.svg.j2")
        .render(
            width=WIDTH,
            height=height,
            pad=pad,
            base=base,
            title=title,
            bins=shapes,
            markers=lines,
            top=f"{_fmt(top)} {unit}",
            footer=f"{len(values)} jobs; tallest bar {highest}",
            red=RED,
            blue=BLUE,
            grey=GREY,
        )
    )


def bars(
    rows: Sequence[tuple[str, float, str]],
    *,
    scale: float | None = None,
    colors: Sequence[str] | None = None,
    title: str = "",
) -> Markup:
    """Horizontal bars, one per ``(label, value, shown text)``.

    Args:
        rows: Label, value (0..scale), and the text printed after the bar.
        scale: The value of a full bar (default: the largest value).
        colors: A color per row (default: blue).
        title: Accessible title of the chart.
    """
    if not rows:
        return Markup("")
    full = scale if scale is not None else max(v for _, v, _ in rows)
    full = full if full and math.isfinite(full) and full > 0 else 1.0
    row_h, label_w, text_w = 22, 220, 90
    plot = WIDTH - label_w - text_w
    shapes = [
        _Bar(
            4 + i * row_h,
            label,
            label if len(label) <= 32 else label[:31] + "…",
            plot * max(0.0, min(1.0, value / full)),
            colors[i] if colors else BLUE,
            shown,
        )
        for i, (label, value, shown) in enumerate(rows)
    ]
    return Markup(
        environment()
        .get_template("bars.svg.j2")
        .render(
            width=WIDTH,
            height=row_h * len(rows) + 6,
            row_h=row_h,
            label_w=label_w,
            plot=plot,
            title=title,
            bars=shapes,
        )
    )
