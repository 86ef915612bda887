"""Reports of a run: usage and cost per model (``usage.json``), eval pass rates, ``summary.md``.

``report.html`` is rendered by :mod:`xai_pipelines.report.html`.
"""

from xai_pipelines.report.cost import (
    TICKS_PER_USD,
    ModelPrice,
    PriceTable,
    cost_from_prices,
    price_table_from_dict,
    resolve_cost,
    ticks_to_usd,
)
from xai_pipelines.report.evals import build_evals, pass_rate
from xai_pipelines.report.summary import render_summary
from xai_pipelines.report.usage import build_usage, percentile

__all__ = [
    "TICKS_PER_USD",
    "ModelPrice",
    "PriceTable",
    "build_evals",
    "build_usage",
    "cost_from_prices",
    "pass_rate",
    "percentile",
    "price_table_from_dict",
    "render_summary",
    "resolve_cost",
    "ticks_to_usd",
]
