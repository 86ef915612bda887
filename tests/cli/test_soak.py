"""Seeded random SIGKILLs across a run, resumed each time, compared with an uninterrupted run.

Each kill lands at a seeded point: a number of seconds after the start (loading,
plan expansion, the price list, the manifest, the first jobs) or after a number
of further results. After the last kill one more run finishes the plan. Then:

* ``results.jsonl`` holds one line per job of the plan, no job missing, none twice,
  and the answers per job id equal the uninterrupted run's;
* ``usage.json`` counts the same jobs and tokens;
* the emulator served at most ``concurrency`` calls per kill beyond the plan (only
  the calls in flight at a kill are lost and paid again);
* the manifest ends ``completed`` and its history has one entry per killed run.

The short version runs with the suite; the long one (50 kills over 3,000 jobs) is
marked ``soak`` and runs with ``--soak`` or ``XAI_SOAK=1`` (see ``conftest.py``).
Set ``XAI_SOAK_SEED`` to replay or vary the long one.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_run_cmd import _comparable, _invoke, _lines, _lines_tolerant, _pipeline, _spawn
from xai_pipelines.emulator import Emulator, EmulatorConfig, FaultConfig


@dataclass(frozen=True)
class Soak:
    """One soak's size: jobs in the plan, kills, jobs in flight, the seed of the kill points."""

    jobs: int
    kills: int
    concurrency: int
    seed: int


SHORT = Soak(jobs=60, kills=2, concurrency=6, seed=20261129)
LONG = Soak(jobs=3000, kills=50, concurrency=16, seed=int(os.environ.get("XAI_SOAK_SEED", "1129")))


def _count(path: Path) -> int:
    return len({line["id"] for line in _lines_tolerant(path)})


def _kill_once(
    pipeline: Path, out: Path, emu: Emulator, rng: random.Random, target: int
) -> tuple[str, float | int]:
    """Start a run, SIGKILL it at a seeded point; returns the point chosen."""
    results = out / "results.jsonl"
    proc = _spawn(pipeline, out, emu)
    if rng.random() < 0.3:  # anywhere in the start: loading, plan, prices, manifest, first jobs
        point: tuple[str, float | int] = ("seconds", round(rng.uniform(0.2, 3.0), 2))
        deadline = time.monotonic() + float(point[1])
        while time.monotonic() < deadline and proc.poll() is None:
            # a fast machine may be done with the start (and the jobs) before the deadline:
            # the kill then lands at the results target, never after the end
            if results.exists() and results.read_bytes().count(b"\n") >= target:
                point = ("results", target)
                break
            time.sleep(0.005)
    else:
        point = ("results", target)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if results.exists() and results.read_bytes().count(b"\n") >= target:
                break
            time.sleep(0.002)
    assert proc.poll() is None, f"the run ended before the kill at {point}: {proc.communicate()}"
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    return point


def _usage_figures(usage: dict[str, Any]) -> dict[str, Any]:
    """What the usage report must count alike (cache-dependent figures left out)."""
    totals = usage["totals"]
    tokens = {k: totals["tokens"][k] for k in ("prompt", "completion", "reasoning")}
    return {"jobs": totals["jobs"], "failed": totals["failed"], "tokens": tokens}


def _run_soak(
    tmp_path: Path,
    emulator: Emulator,
    emulator_factory: Callable[..., Emulator],
    soak: Soak,
) -> None:
    pipeline = _pipeline(tmp_path, soak.jobs, concurrency=soak.concurrency)
    reference = tmp_path / "reference"
    args = ["run", str(pipeline), "--out", str(reference), "--endpoint", emulator.address]
    ok = _invoke(*args, "--quiet", key=emulator.api_key)
    assert ok.exit_code == 0, ok.stderr

    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(latency_s=0.01, jitter_s=0.01)))
    out = tmp_path / "killed"
    rng = random.Random(soak.seed)
    points, seen, killed_runs = [], 0, []
    for kill in range(soak.kills):
        left = soak.kills - kill
        step = max(1, (soak.jobs - seen) // (left + 1))
        target = min(soak.jobs - 1, seen + rng.randint(1, 2 * step))
        points.append(_kill_once(pipeline, out, emu, rng, target))
        done = _count(out / "results.jsonl")
        assert done >= seen, f"results were lost at kill {kill + 1} ({points[-1]})"
        seen = done
        manifest = out / "manifest.json"
        if manifest.exists():  # a kill before the run wrote its manifest leaves no run behind
            run_id = json.loads(manifest.read_text())["run_id"]
            if run_id not in killed_runs:
                killed_runs.append(run_id)
    assert seen < soak.jobs, points  # the last kill landed before the end

    proc = _spawn(pipeline, out, emu)
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr.decode()

    results = _lines(out / "results.jsonl")
    ids = [r["id"] for r in results]
    planned = [p["id"] for p in _lines(out / "plan.jsonl")]
    assert len(ids) == len(set(ids)) == soak.jobs, "a job is missing or twice"
    assert set(ids) == set(planned)
    assert _comparable(results) == _comparable(_lines(reference / "results.jsonl"))
    usage = json.loads((out / "usage.json").read_text())
    assert _usage_figures(usage) == _usage_figures(
        json.loads((reference / "usage.json").read_text())
    )
    served = emu.stats.calls.get("GetCompletion", 0)
    assert soak.jobs <= served <= soak.jobs + soak.kills * soak.concurrency, points
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["plan"]["already_done"] == seen
    if killed_runs:  # the resume said the run before it crashed
        assert "did not finish: it crashed or was killed; resuming" in stderr.decode()
    history = manifest.get("history", [])
    kept = [h["run_id"] for h in history]  # the manifest keeps the latest runs only
    assert kept == killed_runs[-len(kept) :] and len(kept) >= min(len(killed_runs), 20)
    assert {h["status"] for h in history} <= {"running", "crashed"}  # none finished


@pytest.mark.slow
def test_seeded_sigkills_then_resume_match_an_uninterrupted_run(
    tmp_path: Path, emulator: Emulator, emulator_factory: Callable[..., Emulator]
) -> None:
    _run_soak(tmp_path, emulator, emulator_factory, SHORT)


@pytest.mark.soak
@pytest.mark.timeout(3600)
def test_long_sigkill_soak_matches_an_uninterrupted_run(
    tmp_path: Path, emulator: Emulator, emulator_factory: Callable[..., Emulator]
) -> None:
    _run_soak(tmp_path, emulator, emulator_factory, LONG)
