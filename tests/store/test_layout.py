"""Output directory layout, manifest, image saving and resume state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xai_pipelines.store import (
    ManifestWriter,
    OutputDir,
    SpecChangedError,
    check_spec,
    load_resume_state,
    redact_args,
    safe_name,
    spec_changes,
)


def test_safe_name_keeps_plain_ids_and_disambiguates_others() -> None:
    assert safe_name("capital-France_1.a") == "capital-France_1.a"
    a, b = safe_name("a/b"), safe_name("a_b")
    assert a != b and "/" not in a
    assert safe_name("..") != ".."


def test_save_image_renames_into_place(tmp_path: Path) -> None:
    out = OutputDir(tmp_path)
    path = out.save_image("poster/1", 0, "png", b"\x89PNG data")
    assert path.read_bytes() == b"\x89PNG data"
    assert path.parent.parent == out.images
    assert [p.name for p in path.parent.iterdir()] == ["0.png"]


def test_manifest_writer_keeps_history_and_redacts(tmp_path: Path) -> None:
    out = OutputDir(tmp_path)
    first = ManifestWriter(out, "run-1", {"digest": "d1"}, {"api_key": "sk-secret"}, "local")
    first.write()
    first.finish("interrupted", {"done": 3}, 1.5)
    second = ManifestWriter(
        out,
        "run-2",
        {"digest": "d1"},
        {"set": ["vars.topic=x", "api_token=sk-secret"]},
        "local",
        previous=out.read_manifest(),
    )
    second.finish("completed", {"done": 5}, 2.0)
    data = json.loads(out.manifest.read_text())
    assert data["status"] == "completed" and data["run_id"] == "run-2"
    assert data["history"][0]["status"] == "interrupted"
    assert "sk-secret" not in out.manifest.read_text()
    assert redact_args({"max_tokens": 5})["max_tokens"] == 5


def test_resume_state_reads_finished_digests(tmp_path: Path) -> None:
    out = OutputDir(tmp_path)
    out.results.write_text('{"id": "a", "digest": "1"}\n{"id": "b", "digest": "2"}\n{"id": "c"')
    state = load_resume_state(out)
    assert state.finished == {"a": "1", "b": "2"}
    assert state.is_done("a", "1") and not state.is_done("a", "9") and not state.is_done("c", "")


def test_check_spec_refuses_a_changed_spec_unless_forced(tmp_path: Path) -> None:
    out = OutputDir(tmp_path)
    old = {"execution": {"concurrency": 4}, "chats": [{"id": "x", "temperature": 0}]}
    new = {"execution": {"concurrency": 4}, "chats": [{"id": "x", "temperature": 0.7}]}
    ManifestWriter(out, "r", {"digest": "d1", "resolved": old}, {}, "local").write()
    state = load_resume_state(out)
    assert check_spec(state, "d1", old, str(tmp_path), force=False) == []
    with pytest.raises(SpecChangedError, match=r"chats\[0\]\.temperature: 0 -> 0.7"):
        check_spec(state, "d2", new, str(tmp_path), force=False)
    assert check_spec(state, "d2", new, str(tmp_path), force=True) == [
        "chats[0].temperature: 0 -> 0.7"
    ]


def test_spec_changes_lists_added_and_removed() -> None:
    assert spec_changes({"a": 1}, {"b": 2}) == ["a: removed (was 1)", "b: added 2"]
