"""``--processes N``: real worker processes against the emulator over loopback.

The same plan with one process and with two gives the same results, usage and
reports; budgets, fail-fast, signals and a dead worker behave as with one process;
no worker outlives its parent, and the API key never shows in a command line.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import pytest

from benchmarks.processes import differences
from xai_pipelines.defaults import DEFAULTS
from xai_pipelines.emulator import Emulator, EmulatorConfig, FaultConfig
from xai_pipelines.records import ConcurrencyHistory, LimitChange
from xai_pipelines.run.processes import merged_history, shares
from xai_pipelines.run.session import PipelineRun, RunOptions
from xai_pipelines.spec import PipelineSpec
from xai_pipelines.spec.flags import RunFlags, with_flags
from xai_pipelines.spec.model import Execution
from xai_pipelines.store import read_jsonl

MakeSpec = Callable[..., PipelineSpec]
Data = Callable[..., dict[str, Any]]

XAI_RUN = [sys.executable, "-c", "from xai_pipelines.cli.app import main; main()"]
#: A key the emulator accepts (it takes any non-empty key) and a test can look for.
SECRET = "xai-processes-test-secret-5f1c9a"


def _run(spec: PipelineSpec, out: Path, emu: Emulator, processes: int = 1) -> Any:
    spec = with_flags(spec, RunFlags(processes=processes))
    opts = RunOptions(out_dir=out, api_key=emu.api_key, endpoint=emu.address, progress="quiet")
    run = PipelineRun(spec, opts)
    outcome = run.run()
    return run, outcome


def _results(out: Path) -> list[dict[str, Any]]:
    return list(read_jsonl(out / "results.jsonl"))


def _calls(emu: Emulator) -> int:
    return emu.stats.calls.get("GetCompletion", 0)


def test_one_process_is_the_default_and_takes_todays_path(
    make_spec: MakeSpec, emulator: Emulator, tmp_path: Path
) -> None:
    assert DEFAULTS["execution.processes"] == 1 and Execution().processes == 1
    spec = make_spec(jobs=4)
    assert spec.execution.processes == 1
    run, outcome = _run(spec, tmp_path / "out", emulator)
    assert outcome.status == "completed" and run._pool is None
    assert "worker processes" not in (tmp_path / "out" / "run.log").read_text()


@pytest.mark.slow
def test_two_processes_give_the_results_usage_and_reports_of_one(
    make_spec: MakeSpec, pipeline_data: Data, emulator_factory: Callable[..., Emulator],
    tmp_path: Path,
) -> None:  # fmt: skip
    data = pipeline_data(
        jobs=24,
        extra_chats=[
            {
                "name": "s",
                "id": "s-{{ repeat }}",
                "repeat": 6,
                "mode": "stream",
                "messages": [{"user": "Stream a fact about {{ repeat }}."}],
                "expect": [{"contains": "a"}, {"max_tokens": 10}],
            }
        ],
        images=[{"name": "img", "id": "img-{{ repeat }}", "repeat": 2,
                 "model": "grok-imagine-image", "prompt": "A cat number {{ repeat }}"}],
    )  # fmt: skip
    spec = make_spec(data=data)
    one, two = tmp_path / "one", tmp_path / "two"
    # a fresh emulator for each run: its prompt cache remembers the prompts it served
    emu_one, emu_two = emulator_factory(), emulator_factory()
    _, first = _run(spec, one, emu_one)
    run, second = _run(spec, two, emu_two, processes=2)
    assert first.status == second.status == "completed"
    assert differences(one, two) == []
    changed = tmp_path / "changed"  # the comparison does see a changed answer
    shutil.copytree(two, changed)
    lines = (changed / "results.jsonl").read_text().splitlines()
    lines[0] = lines[0].replace('"completion_tokens":', '"completion_tokens":1', 1)
    (changed / "results.jsonl").write_text("\n".join(lines) + "\n")
    assert any("usage" in d for d in differences(one, changed))
    assert emu_one.stats.calls == emu_two.stats.calls  # the same calls, each once
    assert _calls(emu_one) == 24
    assert first.usage["totals"] == second.usage["totals"]
    log = (two / "run.log").read_text()
    assert "2 worker processes started (concurrency 4+4)" in log
    images = sorted(
        p.relative_to(one).as_posix()
        for p in one.rglob("*")
        if p.suffix in (".png", ".jpg", ".jpeg", ".webp")
    )
    assert len(images) >= 2, "the image jobs saved files"
    for name in images:
        assert (one / name).read_bytes() == (two / name).read_bytes()
    assert run._pool is not None and all(p.popen.returncode == 0 for p in run._pool.processes)


@pytest.mark.slow
def test_budget_and_fail_fast_hold_across_processes(
    make_spec: MakeSpec, pipeline_data: Data, emulator: Emulator, tmp_path: Path
) -> None:
    spec = make_spec(jobs=200, execution={"concurrency": 2, "budget_usd": 0.000005})
    _, outcome = _run(spec, tmp_path / "budget", emulator, processes=2)
    assert outcome.status == "budget_exhausted" and outcome.exit_code == 1
    results = _results(tmp_path / "budget")
    spent = sum(r["cost_usd_ticks"] for r in results)
    per_job = max(r["cost_usd_ticks"] for r in results)
    assert spent >= 50_000 and spent - per_job * 2 < 50_000  # at most the jobs in flight past it

    data = pipeline_data(jobs=30, execution={"concurrency": 2})
    data["chats"].insert(
        0, {"name": "bad", "id": "bad", "model": "no-such-model", "messages": [{"user": "x"}]}
    )
    spec = with_flags(make_spec(data=data), RunFlags(fail_fast=True))
    _, outcome = _run(spec, tmp_path / "ff", emulator, processes=2)
    assert outcome.status == "failed" and outcome.stats["done"] < 15
    (final,) = [e for e in read_jsonl(tmp_path / "ff" / "errors.jsonl") if e["final"]]
    assert final["id"] == "bad" and final["code"] in ("NOT_FOUND", "INVALID_ARGUMENT")
    # no job started after the failure: only the one in flight beside it ended later
    later = [r for r in _results(tmp_path / "ff") if r["finished_at"] > final["at"]]
    assert len(later) <= 1


@pytest.mark.slow
def test_retries_are_recorded_by_the_parent(
    make_spec: MakeSpec, emulator_factory: Callable[..., Emulator], tmp_path: Path
) -> None:
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(seed=7, unavailable_rate=0.3)))
    spec = make_spec(jobs=30, execution={"concurrency": 4})
    _, outcome = _run(spec, tmp_path / "out", emu, processes=2)
    assert outcome.status == "completed"
    ids = Counter(r["id"] for r in _results(tmp_path / "out"))
    assert len(ids) == 30 and set(ids.values()) == {1}
    retried = [e for e in read_jsonl(tmp_path / "out" / "errors.jsonl") if not e["final"]]
    assert retried and all(e["code"] == "UNAVAILABLE" for e in retried)
    assert outcome.stats["retries"] == len(retried) == outcome.usage["totals"]["retries"]


@pytest.mark.slow
def test_the_workers_store_and_serve_the_response_cache(
    make_spec: MakeSpec, emulator_factory: Callable[..., Emulator], tmp_path: Path
) -> None:
    emu = emulator_factory()
    cache = {"dir": str(tmp_path / "cache")}
    spec = make_spec(jobs=12, execution={"concurrency": 4, "cache": cache})
    _, first = _run(spec, tmp_path / "a", emu, processes=2)
    assert first.status == "completed" and _calls(emu) == 12
    _, second = _run(spec, tmp_path / "b", emu, processes=2)  # stored once each line was written
    assert second.status == "completed" and _calls(emu) == 12
    assert second.usage["totals"]["cache_hits"] == 12


@pytest.mark.slow
def test_the_rate_limit_is_split_between_the_workers(
    make_spec: MakeSpec, emulator: Emulator, tmp_path: Path
) -> None:
    rpm = 1800  # 30 requests/s in all, 15 for each worker, over ~3 s
    limit = {"requests_per_minute": rpm}
    spec = make_spec(jobs=90, execution={"concurrency": 16, "rate_limit": limit})
    _, outcome = _run(spec, tmp_path / "out", emulator, processes=2)
    assert outcome.status == "completed"
    ended = sorted(datetime.fromisoformat(r["finished_at"]) for r in _results(tmp_path / "out"))
    # the steady part: not the first calls (a worker may connect late) nor the last ones
    steady = ended[10:80]
    rate_per_min = (len(steady) - 1) / (steady[-1] - steady[0]).total_seconds() * 60
    assert rpm * 0.5 <= rate_per_min <= rpm * 1.25  # the whole rpm in each worker would be 2x


@pytest.mark.slow
def test_after_the_grace_period_the_workers_cancel_their_calls(
    make_spec: MakeSpec, emulator_factory: Callable[..., Emulator], tmp_path: Path
) -> None:
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(latency_s=8.0)))
    spec = with_flags(make_spec(jobs=8, execution={"concurrency": 4}), RunFlags(processes=2))
    opts = RunOptions(out_dir=tmp_path / "out", api_key=emu.api_key, endpoint=emu.address,
                      progress="quiet", grace_s=0.3)  # fmt: skip
    run = PipelineRun(spec, opts)
    stopped: list[float] = []

    def stop_once_calls_are_in_flight() -> None:
        deadline = time.monotonic() + 60
        while emu.stats.in_flight < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        stopped.append(time.monotonic())
        run.interrupts.stop.set()  # what the first Ctrl-C does

    watcher = threading.Thread(target=stop_once_calls_are_in_flight)
    watcher.start()
    outcome = run.run()
    ended = time.monotonic()
    watcher.join()
    assert outcome.status == "interrupted" and outcome.stats["done"] == 0
    assert ended - stopped[0] < 6.0  # the 8 s calls were cancelled, not waited for
    assert run._pool is not None and all(p.popen.returncode == 0 for p in run._pool.processes)
    deadline = time.monotonic() + 1.0  # well before the calls' 8 s would end
    while emu.stats.in_flight and time.monotonic() < deadline:
        time.sleep(0.05)
    assert emu.stats.in_flight == 0  # the server saw the calls cancelled


def test_shares_and_merged_history() -> None:
    assert shares(8, 2) == [4, 4] and shares(5, 2) == [3, 2] and sum(shares(7, 3)) == 7
    start = ConcurrencyHistory(maximum=8, floor=1, final=8,
                               changes=[LimitChange(at_s=0.0, limit=8, reason="start")])  # fmt: skip
    quiet = ConcurrencyHistory(maximum=4, floor=1, final=4,
                               changes=[LimitChange(at_s=0.0, limit=4, reason="start")])  # fmt: skip
    assert merged_history(start, [quiet, quiet]) is start
    cut = ConcurrencyHistory(
        maximum=4, floor=1, final=3, cuts=1, rate_limited=2,
        changes=[LimitChange(at_s=0.0, limit=4, reason="start"),
                 LimitChange(at_s=1.5, limit=2, reason="cut"),
                 LimitChange(at_s=3.0, limit=3, reason="grow")],
    )  # fmt: skip
    merged = merged_history(start, [quiet, cut])
    assert (merged.maximum, merged.final, merged.cuts, merged.rate_limited) == (8, 7, 1, 2)
    assert [(c.at_s, c.limit, c.reason) for c in merged.changes] == [
        (0.0, 8, "start"), (1.5, 6, "cut"), (3.0, 7, "grow")
    ]  # fmt: skip


# --- the command, as a user starts it ---------------------------------------------------


@pytest.fixture
def slow_emulator(emulator_factory: Callable[..., Emulator]) -> Emulator:
    """Every call takes 0.25 s: a run of 60 jobs at concurrency 6 lasts a few seconds."""
    return emulator_factory(EmulatorConfig(faults=FaultConfig(latency_s=0.25)))


def _pipeline(tmp_path: Path, jobs: int = 60, concurrency: int = 6) -> Path:
    import yaml

    data = {
        "version": 1,
        "name": "procs",
        "defaults": {"model": "grok-4.20-non-reasoning", "max_tokens": 8, "temperature": 0,
                     "seed": 1},
        "execution": {"concurrency": concurrency, "processes": 2},
        "chats": [{"name": "q", "id": "q-{{ repeat }}", "repeat": jobs,
                   "messages": [{"user": "Fact {{ repeat }}"}]}],
    }  # fmt: skip
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _start(pipeline: Path, out: Path, emu: Emulator) -> subprocess.Popen[str]:
    env = {**os.environ, "XAI_API_KEY": SECRET}
    cmd = [*XAI_RUN, "run", str(pipeline), "--out", str(out), "--endpoint", emu.address, "-q"]
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip


def _lines(out: Path) -> int:
    try:
        return (out / "results.jsonl").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _workers_once_running(
    proc: subprocess.Popen[str], out: Path, at_least: int
) -> list[psutil.Process]:
    """The run's worker processes, once ``at_least`` results are on disk."""
    deadline = time.monotonic() + 60
    while _lines(out) < at_least:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no results in time"
        time.sleep(0.05)
    workers = psutil.Process(proc.pid).children()
    assert len(workers) == 2
    return workers


@pytest.fixture
def cleanup() -> Iterator[list[psutil.Process]]:
    """Processes a failed test must not leave behind."""
    started: list[psutil.Process] = []
    yield started
    for p in started:
        if p.is_running():
            p.kill()


def _all_gone(workers: list[psutil.Process], within_s: float = 10.0) -> bool:
    _, alive = psutil.wait_procs(workers, timeout=within_s)
    return not alive


def _run_with_workers(
    tmp_path: Path, emu: Emulator, cleanup: list[psutil.Process]
) -> tuple[Path, Path, subprocess.Popen[str], list[psutil.Process]]:
    """``xai-run run`` of a 60-job, two-process pipeline, once its workers have written 6
    results: (pipeline, out, the parent, its workers; the workers are cleaned up after)."""
    pipeline, out = _pipeline(tmp_path), tmp_path / "out"
    proc = _start(pipeline, out, emu)
    workers = _workers_once_running(proc, out, 6)
    cleanup.extend(workers)
    return pipeline, out, proc, workers


@pytest.mark.slow
def test_sigkill_of_the_parent_leaves_no_worker_and_the_rerun_pays_no_job_twice(
    tmp_path: Path, slow_emulator: Emulator, cleanup: list[psutil.Process]
) -> None:
    pipeline, out, proc, workers = _run_with_workers(tmp_path, slow_emulator, cleanup)
    for w in workers:  # the key went through the pipe, not the command line
        assert SECRET not in " ".join(w.cmdline())
    assert SECRET not in " ".join(psutil.Process(proc.pid).cmdline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert _all_gone(workers), "a worker outlived its killed parent"
    done_before = _lines(out)
    rerun = _start(pipeline, out, slow_emulator)
    _, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr
    ids = Counter(r["id"] for r in _results(out))
    assert len(ids) == 60 and set(ids.values()) == {1}
    # paid once each, but for the calls in flight when the parent died (6 at most)
    assert _calls(slow_emulator) <= 60 + 6
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["plan"]["already_done"] >= done_before - 1


@pytest.mark.slow
@pytest.mark.parametrize("how", ["sigterm-to-the-parent", "ctrl-c-to-the-group"])
def test_sigterm_and_ctrl_c_stop_every_worker_with_130(
    tmp_path: Path, slow_emulator: Emulator, cleanup: list[psutil.Process], how: str
) -> None:
    _, out, proc, workers = _run_with_workers(tmp_path, slow_emulator, cleanup)
    if how == "sigterm-to-the-parent":
        os.kill(proc.pid, signal.SIGTERM)
    else:  # a terminal's Ctrl-C reaches the whole process group; workers leave it to the parent
        os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert _all_gone(workers)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    ids = Counter(r["id"] for r in _results(out))
    assert set(ids.values()) == {1} and len(ids) < 60
    # the jobs in flight finished within the grace period and were recorded
    assert manifest["counts"]["done"] == len(ids)


@pytest.mark.slow
def test_a_worker_that_dies_fails_the_run_with_one_message_and_keeps_its_results(
    tmp_path: Path, slow_emulator: Emulator, cleanup: list[psutil.Process]
) -> None:
    pipeline, out, proc, workers = _run_with_workers(tmp_path, slow_emulator, cleanup)
    workers[0].kill()
    _, stderr = proc.communicate(timeout=60)  # not a hang
    assert proc.returncode == 1
    assert "Traceback" not in stderr
    [message] = stderr.strip().splitlines()
    assert message.startswith("error: worker process ")
    assert "was killed by SIGKILL" in message and "rerun the same command to resume" in message
    assert _all_gone(workers)
    kept = _results(out)
    assert kept and len({r["id"] for r in kept}) == len(kept)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    rerun = _start(pipeline, out, slow_emulator)
    _, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr
    ids = Counter(r["id"] for r in _results(out))
    assert len(ids) == 60 and set(ids.values()) == {1}
