"""Runs that attach local files (uploaded once per run) and share prompt prefixes (cache hits)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from xai_pipelines.emulator import Emulator
from xai_pipelines.run.attachments import resolve_files
from xai_pipelines.run.outcome import JobFailed
from xai_pipelines.run.prompt_cache import conversation_id
from xai_pipelines.run.session import PipelineRun, RunOptions
from xai_pipelines.sdk import Client
from xai_pipelines.spec import PipelineSpec
from xai_pipelines.store import read_jsonl

MakeSpec = Callable[..., PipelineSpec]
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f"
    b"\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


def _run(spec: PipelineSpec, out: Path, emu: Emulator) -> Any:
    opts = RunOptions(out_dir=out, api_key=emu.api_key, endpoint=emu.address, progress="quiet")
    return PipelineRun(spec, opts).run()


def test_local_files_are_uploaded_once_per_content_and_sent_by_id(
    make_spec: MakeSpec, emulator_factory: Callable[..., Emulator], tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("The meeting moved to Thursday at 10.\n")
    (tmp_path / "copy-of-notes.txt").write_text("The meeting moved to Thursday at 10.\n")
    (tmp_path / "ref.png").write_bytes(PNG)
    data = {
        "version": 1,
        "name": "files",
        "defaults": {"model": "grok-4.3", "max_tokens": 16, "seed": 1},
        "chats": [
            {
                "name": "ask",
                "id": "ask-{{ repeat }}",
                "repeat": 3,
                "messages": [
                    {
                        "user": [
                            {"text": "When is the meeting? ({{ repeat }})"},
                            {"type": "file", "path": "notes.txt"},
                        ]
                    }
                ],
            },
            {
                "name": "same-bytes",
                "id": "same-bytes",
                "messages": [{"user": [{"type": "file", "path": "copy-of-notes.txt"}]}],
            },
        ],
        "images": [
            {
                "name": "edit",
                "id": "edit",
                "model": "grok-imagine-image",
                "prompt": "Combine these",
                "image_urls": ["ref.png", "ref.png"],
            }
        ],
        "output": {"dir": "out"},
    }
    emu = emulator_factory()
    out = tmp_path / "out"
    outcome = _run(make_spec(data=data), out, emu)
    errors = list(read_jsonl(out / "errors.jsonl")) if (out / "errors.jsonl").exists() else []
    assert outcome.status == "completed", errors
    with Client(api_key=emu.api_key, api_host=emu.address) as client:
        stored = list(client.files.iter_files())
    # notes.txt and its byte-identical copy are one content; the image is the other.
    assert sorted(f.size for f in stored) == sorted(
        [len(PNG), len(b"The meeting moved to Thursday at 10.\n")]
    )
    results = {r["id"]: r for r in read_jsonl(out / "results.jsonl")}
    assert set(results) == {"ask-0", "ask-1", "ask-2", "same-bytes", "edit"}
    # the result line keeps the planned form (path and sha256), not the run's file ids
    part = results["ask-0"]["request"]["messages"][0]["content"][1]
    assert part["path"] == str(tmp_path / "notes.txt") and len(part["sha256"]) == 64


def test_a_file_changed_since_planning_fails_the_job_before_any_upload(
    emulator: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "doc.txt"
    path.write_text("now")
    request = {
        "model": "m",
        "messages": [
            {"role": "user", "content": [{"type": "file", "path": str(path), "sha256": "0" * 64}]}
        ],
    }
    with Client(api_key=emulator.api_key, api_host=emulator.address) as client:
        with pytest.raises(JobFailed) as info:
            resolve_files(request, client.uploads)
        assert info.value.code == "FILE_CHANGED" and str(path) in info.value.message
        assert len(client.uploads) == 0


def test_conversation_ids_group_jobs_by_model_and_prompt_prefix() -> None:
    system = {"role": "system", "content": "You are terse."}

    def ask(text: str, model: str = "grok-4.3") -> dict[str, Any]:
        return {"model": model, "messages": [system, {"role": "user", "content": text}]}

    a, b = conversation_id(ask("one"), "t"), conversation_id(ask("two"), "other-task")
    assert a == b and a.startswith("xai-pipelines-")
    assert conversation_id(ask("one", "grok-4.7"), "t") != a
    single = {"model": "grok-4.3", "messages": [{"role": "user", "content": "x"}]}
    assert conversation_id(single, "t") == conversation_id(
        {**single, "messages": [{"role": "user", "content": "y"}]}, "t"
    )
    assert conversation_id(single, "t") != conversation_id(single, "u")
    assert "terse" not in a


def test_jobs_sharing_a_prompt_prefix_hit_the_prompt_cache_and_reports_show_savings(
    make_spec: MakeSpec, emulator_factory: Callable[..., Emulator], tmp_path: Path
) -> None:
    rules = " ".join(f"Rule {i}: answer briefly and cite nothing." for i in range(60))
    data = {
        "version": 1,
        "name": "cache",
        "defaults": {"model": "grok-4.3", "max_tokens": 8, "seed": 2},
        "execution": {"concurrency": 1},
        "chats": [
            {
                "name": "q",
                "id": "q-{{ repeat }}",
                "repeat": 4,
                "messages": [{"system": rules}, {"user": "Question number {{ repeat }}?"}],
            }
        ],
        "output": {"dir": "out"},
    }
    emu = emulator_factory()
    out = tmp_path / "out"
    assert _run(make_spec(data=data), out, emu).status == "completed"
    lines = sorted(read_jsonl(out / "results.jsonl"), key=lambda r: r["id"])
    cached = [r["usage"].get("cached_prompt_tokens", 0) for r in lines]
    assert cached[0] == 0 and all(c > 0 for c in cached[1:]), cached
    usage = json.loads((out / "usage.json").read_text())
    assert usage["totals"]["tokens"]["cached_prompt"] == sum(cached)
    assert usage["totals"]["cache_savings_usd_ticks"] > 0
    assert "saved by the prompt cache" in (out / "summary.md").read_text()
