"""The typed records of the output files: old (version 1) files decode, new ones round-trip.

The fixtures under ``data/v1/`` were written by the code of before ``schema_version``
(commit bb4c65c): a run of pipelines/eval.yaml against the emulator with scripted
answers and every stream failing (errors), the interview task again without faults
(multi-turn, stream, model-graded check) and a second run through the response cache
(a cache hit).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import msgspec
import pytest

from xai_pipelines.records import (
    SCHEMA_VERSION,
    UNSET,
    ErrorLine,
    Manifest,
    RecordError,
    ResultLine,
    Usage,
    decode_error_line,
    decode_manifest,
    decode_result_line,
    encode_line,
    encode_manifest,
    to_plain,
)
from xai_pipelines.store import (
    OutputDir,
    SpecChangedError,
    check_spec,
    load_resume_state,
    read_jsonl,
)
from xai_pipelines.store.merge import merge_outputs

V1 = Path(__file__).parent / "data" / "v1"


def _lines(name: str) -> list[bytes]:
    return [line for line in (V1 / name).read_bytes().splitlines() if line.strip()]


def test_v1_result_lines_decode_to_typed_records_and_back_to_the_same_keys() -> None:
    raws = _lines("results.jsonl")
    records = [decode_result_line(raw) for raw in raws]
    by_id = {(r.id, r.cached is True): r for r in records}

    chat = by_id["capital-france-grok-4.3", False]
    assert chat.schema_version == 1
    assert chat.kind == "chat" and chat.mode == "sample" and chat.content == "Paris"
    assert chat.outputs is not UNSET and chat.outputs[0].finish_reason == "stop"
    assert chat.usage.reasoning_tokens > 0 and chat.usage.images is UNSET
    assert chat.images is UNSET and chat.cache is UNSET

    image = by_id["flag-france", False]
    assert image.images is not UNSET and [i.index for i in image.images] == [0, 1]
    assert image.images[0].path.startswith("images/flag-france/")
    assert image.usage.images == 2 and image.usage.image_count == 2

    interview = next(r for r in records if r.task == "interview")
    assert interview.turns is not UNSET and len(interview.turns) == 2
    assert interview.turns[0].user == {"role": "user", "content": "What is its capital?"}
    assert interview.ttft_s is not None and interview.calls == 3
    assert interview.scores is not None and "grader" in interview.scores

    hit = by_id["capital-france-grok-4.3", True]
    assert hit.cost_usd_ticks == 0 and hit.cost_source == "cache"
    assert hit.cache is not UNSET and hit.cache.job_id == "capital-france-grok-4.3"

    for raw, record in zip(raws, records, strict=True):
        again = json.loads(encode_line(record))
        assert again.pop("schema_version") == SCHEMA_VERSION
        assert again == json.loads(raw)  # same keys, same values


def test_v1_error_lines_keep_final_only_keys_absent_on_retried_attempts() -> None:
    raws = _lines("errors.jsonl")
    retried, final = (decode_error_line(raw) for raw in raws)
    assert retried.final is False and retried.index is UNSET and retried.matrix is UNSET
    assert final.final is True and final.expects == 2 and final.index == 21
    assert final.matrix == {"model": "grok-4.20-non-reasoning"}
    for raw, record in zip(raws, (retried, final), strict=True):
        assert record.schema_version == 1
        again = json.loads(encode_line(record))
        assert again.pop("schema_version") == SCHEMA_VERSION
        assert again == json.loads(raw)


def test_v1_manifest_decodes_and_reencodes_to_the_same_document() -> None:
    raw = (V1 / "manifest.json").read_bytes()
    manifest = decode_manifest(raw)
    assert manifest.schema_version == 1
    assert manifest.status == "failed" and manifest.spec.name == "capitals-eval"
    assert manifest.plan is not UNSET and manifest.plan.jobs == 43
    assert manifest.batch is UNSET and manifest.merged_from is UNSET
    again = json.loads(encode_manifest(manifest))
    assert again.pop("schema_version") == SCHEMA_VERSION
    assert again == json.loads(raw)


def test_new_records_carry_the_current_version_and_round_trip() -> None:
    line = ResultLine(id="a", kind="chat", usage=Usage(prompt_tokens=3), calls=1)
    assert line.schema_version == SCHEMA_VERSION
    raw = encode_line(line)
    assert raw.endswith(b"\n") and json.loads(raw)["schema_version"] == SCHEMA_VERSION
    assert decode_result_line(raw) == line
    assert to_plain(line) == json.loads(raw)
    error = ErrorLine(id="a", code="UNAVAILABLE", final=True, index=0, matrix={}, expects=0)
    assert decode_error_line(encode_line(error)) == error
    manifest = Manifest(run_id="r")
    assert decode_manifest(encode_manifest(manifest)) == manifest


def test_decoding_is_strict_about_types_unknown_keys_and_newer_versions() -> None:
    with pytest.raises(RecordError, match="calls"):
        decode_result_line(b'{"id": "a", "calls": "one"}')
    with pytest.raises(RecordError, match="surprise"):
        decode_result_line(b'{"id": "a", "surprise": 1}')
    with pytest.raises(RecordError, match="id"):
        decode_error_line(b'{"code": "X"}')
    with pytest.raises(RecordError, match="schema_version 3"):
        decode_manifest(b'{"run_id": "r", "schema_version": 3}')
    with pytest.raises(RecordError):
        decode_result_line(b"[1, 2]")


def test_usage_addition_sums_tokens_and_keeps_an_unknown_cost_unknown() -> None:
    a = Usage(prompt_tokens=10, completion_tokens=2, total_tokens=12, cost_usd_ticks=5)
    b = Usage(prompt_tokens=1, reasoning_tokens=4, total_tokens=5, cost_usd_ticks=7)
    both = a + b
    assert (both.prompt_tokens, both.completion_tokens, both.reasoning_tokens) == (11, 2, 4)
    assert both.total_tokens == 17 and both.cost_usd_ticks == 12 and both.tokens == 17
    assert both.images is UNSET
    unknown = both + Usage(prompt_tokens=1)
    assert unknown.cost_usd_ticks is None and unknown.prompt_tokens == 12
    assert (unknown + a).cost_usd_ticks is None  # stays None once any part lacked it
    images = Usage(images=2, cost_usd_ticks=0) + Usage(cost_usd_ticks=1)
    assert images.images == 2 and images.cost_usd_ticks == 1 and images.image_count == 2
    assert "images" not in msgspec.to_builtins(a)


def _v1_dir(root: Path) -> OutputDir:
    """An output directory written by the code of before ``schema_version``."""
    out = OutputDir(root)
    out.create()
    for name in ("results.jsonl", "errors.jsonl", "manifest.json"):
        shutil.copy(V1 / name, root / name)
    for line in out.result_lines():
        for image in line.images or ():
            (root / image.path).parent.mkdir(parents=True, exist_ok=True)
            (root / image.path).write_bytes(b"\x89PNG fixture")
    return out


def test_a_v1_directory_resumes_from_its_typed_lines_and_manifest(tmp_path: Path) -> None:
    out = _v1_dir(tmp_path / "v1")
    state = load_resume_state(out)
    assert state.is_done("capital-france-grok-4.3", "d5ba79c313664ac4")
    assert state.manifest is not None and state.manifest.schema_version == 1
    assert state.previous_manifest is not None and state.previous_manifest["run_id"]
    digest = state.manifest.spec.digest
    assert digest is not None
    resolved = state.manifest.spec.resolved
    assert check_spec(state, digest, resolved, "v1", force=False) == []
    with pytest.raises(SpecChangedError, match="name"):
        check_spec(state, "other", {**resolved, "name": "renamed"}, "v1", force=False)


def test_written_lines_and_manifests_carry_the_version_and_are_checked(tmp_path: Path) -> None:
    out = OutputDir(tmp_path / "out")
    out.create()
    with out.open_results() as results:
        results.append_record(ResultLine(id="a", usage=Usage(prompt_tokens=1)))
    (line,) = out.result_lines()
    assert line.id == "a" and line.schema_version == SCHEMA_VERSION
    assert json.loads(out.results.read_bytes())["schema_version"] == SCHEMA_VERSION
    out.write_manifest({"run_id": "r", "status": "running", "counts": {}})
    assert json.loads(out.manifest.read_text())["schema_version"] == SCHEMA_VERSION
    with pytest.raises(RecordError, match="surprise"):
        out.write_manifest({"run_id": "r", "surprise": True})
    out.results.write_bytes(b'{"id": "a"}\n{"id": 7}\n')
    with pytest.raises(ValueError, match=r"results.jsonl:2: not a valid result line"):
        list(out.result_lines())


def test_merging_v1_directories_writes_the_same_lines_in_todays_version(tmp_path: Path) -> None:
    a = _v1_dir(tmp_path / "a")
    b = _v1_dir(tmp_path / "b")
    b.results.write_bytes(b"")  # b holds only the errors and the manifest
    summary = merge_outputs(tmp_path / "merged", [a.root, b.root])
    merged = OutputDir(tmp_path / "merged")
    originals = {d["id"] + str(d.get("cached")): d for d in read_jsonl(V1 / "results.jsonl")}
    lines = list(read_jsonl(merged.results))
    assert summary.jobs == len(lines) == len({d["id"] for d in originals.values()})
    for line in lines:
        assert line.pop("schema_version") == SCHEMA_VERSION
        assert line == originals[line["id"] + str(line.get("cached"))]
    manifest = merged.load_manifest()
    assert manifest is not None and manifest.merged_from is not UNSET
    assert [s.run_id for s in manifest.merged_from] == ["20261129T035412-3bee19e9"] * 2
    assert [e.final for e in merged.error_lines()] == [False, True]
