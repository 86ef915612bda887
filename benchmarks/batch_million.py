"""Issue 11 item 7: ``execution.mode: batch`` at a million jobs, in bounded memory.

One ``xai-run`` process submits a plan of a million short chat jobs as one batch to an
emulator process (``xai-run serve``), waits for it and collects every result; the row
is that process's peak RSS (reports included), with its wall time in the note. Run only
when asked for (``python -m benchmarks --only batch-million``): it takes about half an
hour on 2 cores, most of it the emulator answering the requests one by one (336 us of
emulator CPU a chat request, measured in-process 2026-11-29: about 6 minutes of one core
for a million, the rest the client's submission and collection sharing the cores).
The note names the submission path from the manifest: a million lines pass the Files
API's 50 MB, so ``auto`` adds them with AddBatchRequests; the quick size (20,000) goes
by a JSONL input file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import MAX_TOKENS, MODEL, RunFailed, Stat, emulator, xai_run
from benchmarks.figures import Context, Measured

JOBS, JOBS_QUICK = 1_000_000, 20_000
#: Jobs per task: the spec's cap on the jobs one task may make.
TASK_JOBS = 100_000
#: The run's time limit.
TIMEOUT_S = 4 * 3600.0


def batch_pipeline(directory: Path, jobs: int) -> Path:
    """A batch pipeline of ``jobs`` small chat jobs (tasks of up to 100,000: a var matrix of
    100 cells times ``repeat``); ``jobs`` must be a multiple of 100."""
    if jobs % 100:
        raise SystemExit("batch jobs must be a multiple of 100")
    tasks = []
    for first in range(0, jobs, TASK_JOBS):
        n, size = first // TASK_JOBS, min(TASK_JOBS, jobs - first)
        tasks.append({
            "name": f"t{n}", "id": f"t{n}-{{{{ k }}}}-{{{{ repeat }}}}",
            "matrix": {"k": list(range(100))}, "repeat": size // 100,
            "messages": [{"user": "One word about {{ k }} and {{ repeat }}."}],
        })  # fmt: skip
    data: dict[str, Any] = {
        "version": 1,
        "name": "batch-million",
        "vars": {"k": 0},
        "defaults": {"model": MODEL, "max_tokens": MAX_TOKENS, "temperature": 0},
        "execution": {"mode": "batch", "concurrency": 16},
        "chats": tasks,
        "output": {"dir": str(directory / "out")},
    }
    path = directory / f"batch-{jobs}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def batch_million(ctx: Context) -> dict[str, Measured]:
    """Peak RSS of one batch run of a million jobs (one repeat: it is long)."""
    jobs = ctx.size(JOBS, JOBS_QUICK)
    pipeline = batch_pipeline(ctx.workdir, jobs)
    with emulator() as address:
        run = xai_run(pipeline, ctx.workdir / "batch-out", address, jobs, TIMEOUT_S)
    with (run.out / "results.jsonl").open("rb") as results:
        done = sum(1 for _ in results)
    if done != jobs:
        raise RunFailed(f"the batch run wrote {done:,} results for {jobs:,} jobs")
    batch = json.loads((run.out / "manifest.json").read_text()).get("batch") or {}
    how = {"file": "a JSONL input file", "requests": "AddBatchRequests"}.get(
        batch.get("submitted", ""), "an unrecorded path"
    )
    note = (
        f"{jobs:,} jobs submitted (by {how}) and collected in {run.wall_s:.0f} s ({done:,} results)"
    )
    return {"batch-million": Measured(Stat.of([run.peak_rss_mib]), note)}
