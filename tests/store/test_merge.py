"""Sharded runs and ``xai-run merge``: two shards merged equal one unsharded run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from xai_pipelines.cli.app import app
from xai_pipelines.emulator import Emulator
from xai_pipelines.plan.shard import Shard, shard_of
from xai_pipelines.run.reporting import write_reports
from xai_pipelines.run.session import PipelineRun, RunInputError, RunOptions
from xai_pipelines.spec import PipelineSpec, load_pipeline
from xai_pipelines.store import read_jsonl
from xai_pipelines.store.merge import MergeError, merge_outputs

VOLATILE = {"run_id", "finished_at", "latency_s", "ttft_s", "cost_usd_ticks"}
CACHE_DEPENDENT = {"cached_prompt_tokens", "cost_usd_ticks"}


def _spec(tmp_path: Path, jobs: int = 8, temperature: float = 0) -> PipelineSpec:
    data: dict[str, Any] = {
        "version": 1,
        "name": "shards",
        "defaults": {"model": "grok-3-mini", "max_tokens": 16, "temperature": temperature,
                     "seed": 3},
        "chats": [{"name": "q", "id": "q-{{ repeat }}", "repeat": jobs,
                   "messages": [{"user": "A fact about {{ repeat }}."}]}],
        "images": [{"name": "img", "id": "pic-{{ repeat }}", "repeat": 2, "model": "grok-2-image",
                    "prompt": "a fox, take {{ repeat }}"}],
        "output": {"dir": "out"},
    }  # fmt: skip
    path = tmp_path / f"p-{temperature}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_pipeline(path)


def _run(spec: PipelineSpec, out: Path, emu: Emulator, shard: Shard | None = None) -> Any:
    opts = RunOptions(out_dir=out, api_key=emu.api_key, endpoint=emu.address, progress="quiet",
                      shard=shard)  # fmt: skip
    return PipelineRun(spec, opts).run()


def _content(out: Path) -> dict[str, dict[str, Any]]:
    by_id = {}
    for line in read_jsonl(out / "results.jsonl"):
        kept = {k: v for k, v in line.items() if k not in VOLATILE}
        # Prompt-cache hits depend on which jobs one emulator served before (a shard's
        # first job misses where the whole run hit): not a property of the merge.
        kept["usage"] = {k: v for k, v in kept["usage"].items() if k not in CACHE_DEPENDENT}
        for o in kept.get("outputs", []):
            o.pop("response_id")
        for image in kept.get("images", []):
            image["data"] = (out / image["path"]).read_bytes()
        by_id[line["id"]] = kept
    return by_id


@pytest.fixture
def shards(tmp_path: Path, emulator: Emulator) -> tuple[PipelineSpec, list[Path], Path]:
    """A pipeline run whole into ``whole`` and as shards 1/2 and 2/2."""
    spec = _spec(tmp_path)
    assert _run(spec, tmp_path / "whole", emulator).status == "completed"
    dirs = [tmp_path / f"s{k}" for k in (1, 2)]
    for k, out in enumerate(dirs, 1):
        assert _run(spec, out, emulator, Shard(k, 2)).status == "completed"
    return spec, dirs, tmp_path / "whole"


def test_shards_partition_the_run_and_merge_into_the_unsharded_run(shards, tmp_path) -> None:
    spec, dirs, whole = shards
    parts = [set(_content(d)) for d in dirs]
    assert parts[0] and parts[1] and not parts[0] & parts[1]
    assert all(shard_of(i, 2) == k for k, p in enumerate(parts, 1) for i in p)
    manifests = [json.loads((d / "manifest.json").read_text()) for d in dirs]
    assert [m["shard"] for m in manifests] == ["1/2", "2/2"]
    assert [m["plan"]["jobs"] for m in manifests] == [len(p) for p in parts]
    merged = tmp_path / "merged"
    summary = merge_outputs(merged, dirs, render=write_reports)
    assert summary.jobs == 10 and summary.images == 2 and summary.status == "completed"
    assert _content(merged) == _content(whole)
    lines = list(read_jsonl(merged / "results.jsonl"))
    assert [line["index"] for line in lines] == list(range(10))  # plan order
    assert [j["id"] for j in read_jsonl(merged / "plan.jsonl")] == [
        j["id"] for j in read_jsonl(whole / "plan.jsonl")
    ]
    usage, expected = (
        json.loads((d / "usage.json").read_text())["totals"] for d in (merged, whole)
    )
    for key in ("jobs", "failed", "images"):
        assert usage[key] == expected[key], key
    for key in ("prompt", "completion", "reasoning", "total"):
        assert usage["tokens"][key] == expected["tokens"][key], key
    assert usage["cost_usd_ticks"] == sum(
        line["cost_usd_ticks"] for line in read_jsonl(merged / "results.jsonl")
    )
    manifest = json.loads((merged / "manifest.json").read_text())
    assert manifest["spec"]["digest"] == spec.digest
    assert [s["shard"] for s in manifest["merged_from"]] == ["1/2", "2/2"]
    assert manifest["shards"] == {"shards": ["1/2", "2/2"], "count": 2, "missing": []}
    assert (merged / "summary.md").read_text().strip()
    image = next(line for line in read_jsonl(merged / "results.jsonl") if line["kind"] == "image")
    copy, source = merged / image["images"][0]["path"], None
    for d in dirs:
        if (d / image["images"][0]["path"]).exists():
            source = d / image["images"][0]["path"]
    assert source is not None and os.path.samefile(copy, source)  # hard-linked
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".merged")]


def test_overlapping_directories_are_deduplicated(shards, tmp_path) -> None:
    _, dirs, whole = shards
    summary = merge_outputs(tmp_path / "m", [*dirs, whole])
    assert summary.jobs == 10 and summary.duplicates == 10
    assert _content(tmp_path / "m") == _content(whole)
    missing = merge_outputs(tmp_path / "half", dirs[:1])
    manifest = json.loads((tmp_path / "half" / "manifest.json").read_text())
    assert missing.jobs < 10 and manifest["shards"]["missing"] == [2]


def test_conflicting_results_are_refused_unless_forced(tmp_path, emulator) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert _run(_spec(tmp_path, 3), a, emulator).status == "completed"
    changed = _spec(tmp_path, 3, temperature=0.5)  # other requests under the same ids
    assert _run(changed, b, emulator).status == "completed"
    with pytest.raises(MergeError, match="different specs"):
        merge_outputs(tmp_path / "m", [a, b])
    # same digests in the manifests but different requests per id: still a conflict
    manifest = json.loads((b / "manifest.json").read_text())
    manifest["spec"]["digest"] = json.loads((a / "manifest.json").read_text())["spec"]["digest"]
    (b / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(MergeError, match=r"3 job\(s\) finished with different requests"):
        merge_outputs(tmp_path / "m", [a, b])
    assert not (tmp_path / "m").exists()
    summary = merge_outputs(tmp_path / "m", [a, b], force=True)
    assert sorted(summary.conflicts) == ["q-0", "q-1", "q-2"]  # images did not change
    assert _content(tmp_path / "m") == _content(b)
    forced = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert sorted(forced["forced_conflicts"]) == ["q-0", "q-1", "q-2"]


def test_merge_refuses_bad_targets(shards, tmp_path) -> None:
    _, dirs, _ = shards
    with pytest.raises(MergeError, match="already exists"):
        merge_outputs(dirs[0], dirs[1:])
    with pytest.raises(MergeError, match="named twice"):
        merge_outputs(tmp_path / "m", [dirs[0], dirs[0]])
    (tmp_path / "empty").mkdir()
    with pytest.raises(MergeError, match="not an xai-run output"):
        merge_outputs(tmp_path / "m", [tmp_path / "empty"])
    with pytest.raises(MergeError, match="at least one"):
        merge_outputs(tmp_path / "m", [])


def test_a_resumed_run_keeps_its_shard(tmp_path, emulator) -> None:
    spec = _spec(tmp_path)
    out = tmp_path / "s"
    first = _run(spec, out, emulator, Shard(1, 3))
    again = _run(spec, out, emulator)  # no --shard: the recorded one
    assert again.stats["skipped"] == first.stats["done"] and again.stats["done"] == 0
    assert json.loads((out / "manifest.json").read_text())["shard"] == "1/3"
    with pytest.raises(RunInputError, match="holds shard 1/3"):
        _run(spec, out, emulator, Shard(2, 3))


def test_merge_command(shards, tmp_path) -> None:
    _, dirs, _ = shards
    runner = CliRunner()
    result = runner.invoke(app, ["merge", str(tmp_path / "m"), *map(str, dirs)])
    assert result.exit_code == 0, result.output
    assert "10 jobs" in result.output and (tmp_path / "m" / "usage.json").exists()
    refused = runner.invoke(app, ["merge", str(tmp_path / "m"), *map(str, dirs)])
    assert refused.exit_code == 2 and "already exists" in refused.output


@pytest.mark.slow
def test_sharded_cli_runs_merge_in_a_subprocess(tmp_path) -> None:
    path = tmp_path / "p.yaml"
    spec = _spec(tmp_path, 4)
    path.write_text(Path(spec.path).read_text())
    env = {k: v for k, v in os.environ.items() if k != "XAI_API_KEY"}

    def xai_run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "xai_pipelines.cli.app", *args],
                              capture_output=True, text=True, timeout=120, env=env)  # fmt: skip

    for k in (1, 2):
        proc = xai_run("run", str(path), "--local", "-q", "--shard", f"{k}/2",
                       "--out", str(tmp_path / f"s{k}"))  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    proc = xai_run("merge", str(tmp_path / "all"), str(tmp_path / "s1"), str(tmp_path / "s2"))
    assert proc.returncode == 0, proc.stderr
    ids = {line["id"] for line in read_jsonl(tmp_path / "all" / "results.jsonl")}
    assert ids == {"q-0", "q-1", "q-2", "q-3", "pic-0", "pic-1"}
    bad = xai_run("run", str(path), "--local", "-q", "--shard", "2/1")
    assert bad.returncode == 2 and "shard must be in [1, 1]" in bad.stderr
