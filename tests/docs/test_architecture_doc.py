"""docs/ARCHITECTURE.md names APIs that exist: every import it shows resolves."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMPORT = re.compile(r"^from (xai_pipelines[\w.]*) import ([\w, ]+)", re.MULTILINE)


def test_every_import_in_the_architecture_doc_resolves():
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    shown = IMPORT.findall(text)
    assert len(shown) >= 5, "the doc's API sections were expected to show imports"
    missing = []
    for module_name, names in shown:
        module = importlib.import_module(module_name)
        for name in (n.strip() for n in names.split(",")):
            if not hasattr(module, name):
                missing.append(f"{module_name}.{name}")
    assert missing == []


def test_every_module_path_in_the_architecture_doc_exists():
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    paths = set(re.findall(r"`((?:xai_pipelines/|tests/|scripts/)[\w/]+\.py)`", text))
    paths |= {
        f"xai_pipelines/{p}" for p in re.findall(r"`((?:run|store|report|plan|sdk)/\w+\.py)`", text)
    }
    assert paths, "the doc was expected to name modules"
    assert sorted(p for p in paths if not (ROOT / p).exists()) == []
