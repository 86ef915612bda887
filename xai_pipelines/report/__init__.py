"""Reports of a run: usage and cost per model (``usage.json``) and ``summary.md``."""

from xai_pipelines.report.cost import (
    TICKS_PER_USD,
    ModelPrice,
    PriceTable,
    cost_from_prices,
    price_table_from_dict,
    resolve_cost,
    ticks_to_usd,
)
from xai_pipelines.report.summary import render_summary
from xai_pipelines.report.usage import build_usage, percentile

__all__ = [
    "TICKS_PER_USD",
    "ModelPrice",
    "PriceTable",
    "build_usage",
    "cost_from_prices",
    "percentile",
    "price_table_from_dict",
    "render_summary",
    "resolve_cost",
    "ticks_to_usd",
]
