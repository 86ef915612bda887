"""A small, fixed model catalog for tests of the model check.

Built with ``parse_catalog`` so that the tests do not move when the bundled
``models.yaml`` is updated. Its shape follows the real file: reasoning models that
reject ``stop`` and the penalties, one that rejects ``reasoning_effort``, one
without image input, an image model that edits with up to 3 inputs, one that
does not edit, and the old names as retired names with redirects.
"""

from __future__ import annotations

from typing import Any

from xai_pipelines.catalog import ModelCatalog, parse_catalog

AS_OF = "2026-11-29"
DOCS = "https://docs.x.ai/developers/models"


def _chat(name: str, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": name,
        "aliases": [],
        "context_length": 1_000_000,
        "prices_usd_per_million_tokens": {"input": 1.25, "cached_input": 0.2, "output": 2.5},
        "reasoning": True,
        "reasoning_efforts": ["none", "low", "medium", "high"],
        "rejects": ["stop", "presence_penalty", "frequency_penalty"],
        "image_input": True,
        "source": "models",
    }
    return {**row, **extra}


DATA: dict[str, Any] = {
    "as_of": AS_OF,
    "sources": {
        "models": {"url": DOCS, "read": AS_OF},
        "migration": {"url": "https://docs.x.ai/developers/migration", "read": AS_OF},
    },
    "language_models": [
        _chat("grok-4.3", aliases=["grok-4.3-latest"]),
        _chat("grok-4.7", reasoning_efforts=["low", "medium", "high", "xhigh"]),
        _chat("grok-4.20-0309-reasoning", reasoning_efforts=[]),
        _chat(
            "grok-text-only",
            reasoning=False,
            reasoning_efforts=[],
            rejects=[],
            image_input=False,
        ),
    ],
    "image_models": [
        {
            "name": "grok-imagine-image",
            "aliases": ["grok-imagine-image-latest"],
            "price_usd_per_image": 0.02,
            "max_images": 10,
            "edit": True,
            "max_input_images": 3,
            "source": "models",
        },
        {
            "name": "grok-imagine-lite",
            "price_usd_per_image": 0.01,
            "max_images": 4,
            "edit": False,
            "source": "models",
        },
    ],
    "retired": [
        {"name": n, "redirect": "grok-4.3", "retired": "2026-05-15", "source": "migration"}
        for n in ("grok-4", "grok-4-latest", "grok-3", "grok-3-mini", "grok-4-0709")
    ]
    + [
        {
            "name": "grok-2-image",
            "redirect": "grok-imagine-image",
            "retired": None,
            "source": "migration",
        }
    ],
}

SMALL: ModelCatalog = parse_catalog(DATA)
