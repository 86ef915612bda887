"""Jinja2 templates of ``report.html`` and its charts, and the page's inline CSS and JS.

Every template renders with autoescape on, so any text from a run (answers,
prompts, ids, reasons) that reaches a template as a plain string is escaped;
only markup this package builds itself is passed as :class:`markupsafe.Markup`.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from importlib.resources import files
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _pct(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.1f}%"


def _usd(value: float | None) -> str:
    return "–" if value is None else f"${value:.4f}"


@cache
def environment() -> Environment:
    """The shared environment: package templates, autoescape on, undefined names are errors."""
    env = Environment(
        loader=PackageLoader("xai_pipelines.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["num"] = _num
    env.filters["pct"] = _pct
    env.filters["usd"] = _usd
    return env


@cache
def static_text(name: str) -> Markup:
    """A static asset of the page (``report.css``, ``report.js``) as trusted markup."""
    return Markup(files(__package__).joinpath(name).read_text(encoding="utf-8"))


def csp_hash(text: str) -> str:
    """The Content-Security-Policy source that allows exactly this inline script."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"
