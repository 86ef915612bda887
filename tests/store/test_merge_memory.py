"""``merge`` keeps bounded memory: its peak RSS does not grow with the number of lines.

Two shard directories of N synthetic result, error and plan lines are merged in a
subprocess (a fresh interpreter: its peak RSS is the merge's), for N = 5,000 and
50,000. Measured 2026-11-29 on the 2-core box at 10,000 and 100,000 lines: the merge
that held the lines in dicts peaked at 61 MB and 327 MB, the on-disk index at 40 MB
and 49 MB (its 8 MB page cache filling), in about the same time (17 s against 15 s).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from xai_pipelines.records import ErrorLine, ImageRecord, ResultLine, Usage, encode_line
from xai_pipelines.store import read_jsonl

#: Peak RSS the 10x larger merge may add (MB): the SQLite page cache and allocator slack.
RSS_GROWTH_LIMIT_MB = 24

_MEASURE = """
import json, resource, sys
from xai_pipelines.store.merge import merge_outputs
summary = merge_outputs(sys.argv[1], sys.argv[2:])
print(json.dumps({"rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "jobs": summary.jobs, "errors": summary.errors,
                  "duplicates": summary.duplicates, "status": summary.status}))
"""


def _shards(root: Path, count: int) -> list[Path]:
    """Two shard directories: jobs split by parity, every 10th job in both (duplicates),
    every 7th job failed once before succeeding, the last job failed for good."""
    dirs = [root / "s1", root / "s2"]
    for d in dirs:
        d.mkdir(parents=True)
        manifest = {"run_id": d.name, "status": "completed", "spec": {"digest": "d" * 12}}
        (d / "manifest.json").write_text(json.dumps(manifest))
    files = [
        {n: (d / n).open("wb") for n in ("results.jsonl", "errors.jsonl", "plan.jsonl")}
        for d in dirs
    ]
    text = "x" * 600  # a result line of about 1 KB
    for i in range(count):
        job_id = f"job-{i:07d}"
        homes = (0, 1) if i % 10 == 0 else (i % 2,)
        for home in homes:
            f = files[home]
            plan = {"id": job_id, "index": i, "task": "t", "kind": "chat", "request": {}}
            f["plan.jsonl"].write(json.dumps(plan).encode() + b"\n")
            if i % 7 == 0:
                error = ErrorLine(id=job_id, attempt=1, code="UNAVAILABLE", run_id="r",
                                  at="2026-11-29T00:00:00Z")  # fmt: skip
                f["errors.jsonl"].write(encode_line(error))
            if i == count - 1:
                final = ErrorLine(id=job_id, attempt=2, final=True, code="INTERNAL", run_id="r")
                f["errors.jsonl"].write(encode_line(final))
                continue
            line = ResultLine(id=job_id, digest=f"{i:016x}", task="t", index=i,
                              model="grok-4.3", mode="sample", content=text,
                              usage=Usage(prompt_tokens=10, completion_tokens=20),
                              images=[] if i % 1000 else [ImageRecord(path="")])  # fmt: skip
            f["results.jsonl"].write(encode_line(line))
    for group in files:
        for handle in group.values():
            handle.close()
    return dirs


def _merge(root: Path, count: int) -> dict[str, int]:
    dirs = _shards(root, count)
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(root / "merged"), *map(str, dirs)],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    report = json.loads(proc.stdout)
    assert report["jobs"] == count - 1  # the last job failed for good
    assert report["duplicates"] == len(range(0, count - 1, 10))
    assert report["status"] == "failed"
    ids = [line["id"] for line in read_jsonl(root / "merged" / "results.jsonl")]
    assert ids == [f"job-{i:07d}" for i in range(count - 1)]  # plan order, one line each
    plan = [line["index"] for line in read_jsonl(root / "merged" / "plan.jsonl")]
    assert plan == list(range(count))
    assert report["errors"] == len(range(0, count, 7)) + 1  # repeats in both shards dropped
    manifest = json.loads((root / "merged" / "manifest.json").read_text())
    assert manifest["counts"] == {"total": count, "done": count - 1, "failed": 1}
    assert not list(root.glob(".merged*"))  # neither the temp directory nor its index is left
    return report


@pytest.mark.slow
def test_merge_memory_does_not_grow_with_the_lines(tmp_path: Path) -> None:
    small = _merge(tmp_path / "small", 2_000)
    large = _merge(tmp_path / "large", 20_000)
    growth_mb = (large["rss_kb"] - small["rss_kb"]) / 1024
    assert growth_mb < RSS_GROWTH_LIMIT_MB, (small, large)
