"""The project's protos must match the official SDK's wire shape field for field."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

DUMP = Path(__file__).with_name("descriptor_dump.py")
ROOT = Path(__file__).resolve().parents[2]


def _shape(which: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(DUMP), which], capture_output=True, text=True, check=True, timeout=60
    )
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def shapes() -> tuple[dict[str, Any], dict[str, Any]]:
    # Never import xai_sdk here: its stubs and ours both define xai_api.* in the default pool.
    assert importlib.util.find_spec("xai_sdk") is not None, "xai-sdk is a test dependency"
    return _shape("ours"), _shape("xai_sdk")


def test_every_message_field_matches_official_sdk(shapes):
    ours, theirs = shapes
    assert len(ours["messages"]) > 80
    mismatches = []
    for name, fields in ours["messages"].items():
        assert name in theirs["messages"], f"{name} is not a message of the hosted API"
        for field, spec in fields.items():
            other = theirs["messages"][name].get(field)
            if other != spec:
                mismatches.append(f"{name}.{field}: ours {spec} vs sdk {other}")
    assert not mismatches, "\n".join(mismatches)


def test_every_enum_value_matches_official_sdk(shapes):
    ours, theirs = shapes
    for name, values in ours["enums"].items():
        for value, number in values.items():
            assert theirs["enums"][name].get(value) == number, f"{name}.{value}"


def test_services_and_methods_match_official_sdk(shapes):
    ours, theirs = shapes
    assert set(ours["services"]) == {
        "xai_api.Chat",
        "xai_api.Image",
        "xai_api.Models",
        "xai_api.Tokenize",
        "xai_api.BatchMgmt",
    }
    for name, methods in ours["services"].items():
        for method, sig in methods.items():
            assert theirs["services"][name][method] == sig, f"{name}/{method}"
    assert len(ours["services"]["xai_api.Chat"]) == 7


def test_checked_in_stubs_are_current():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
