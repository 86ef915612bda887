"""Thousands of calls in flight without a thread each (issue 11, item 2).

A run at concurrency 1,000 against the emulator with 1 s of latency: every job is
a task of the executor's event loop and its call a ``grpc.aio`` call, so the
process's thread count stays that of a small pool while the emulator sees the
calls arrive together, and memory stays bounded. Ctrl-C with five hundred calls in
flight cancels them once the grace period is over.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from xai_pipelines.emulator import Emulator, EmulatorConfig, FaultConfig
from xai_pipelines.run.executor import WORK_THREADS
from xai_pipelines.run.session import PipelineRun, RunOptions
from xai_pipelines.spec import PipelineSpec
from xai_pipelines.store import read_jsonl

MakeSpec = Callable[..., PipelineSpec]
Data = Callable[..., dict[str, Any]]

JOBS = CONCURRENCY = 1000
LATENCY_S = 1.0
#: Threads a run may add to the process: its pool, the appenders' fsync threads,
#: the manifest's checkpoints and gRPC's own (a thread per call would add 1,000).
EXTRA_THREADS = WORK_THREADS + 16
#: Growth of the resident memory allowed during the run (1,000 calls and results).
EXTRA_RSS_MIB = 200


def _rss_mib() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / 2**20


class Peaks:
    """Samples the thread count and resident memory every 10 ms."""

    def __init__(self) -> None:
        self.threads = threading.active_count()
        self.rss_mib = _rss_mib()
        self._done = threading.Event()

    @contextmanager
    def sampling(self) -> Iterator[Peaks]:
        thread = threading.Thread(target=self._sample, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._done.set()
            thread.join()

    def _sample(self) -> None:
        while not self._done.wait(0.01):
            self.threads = max(self.threads, threading.active_count() - 1)  # not the sampler
            self.rss_mib = max(self.rss_mib, _rss_mib())


def _spec(make_spec: MakeSpec, pipeline_data: Data, jobs: int, concurrency: int) -> PipelineSpec:
    data = pipeline_data(jobs=jobs, execution={"concurrency": concurrency})
    data["defaults"]["model"] = "grok-4.20-non-reasoning"  # current: no retirement warning
    return make_spec(data=data)


def _options(out: Path, emu: Emulator, **kwargs: Any) -> RunOptions:
    return RunOptions(
        out_dir=out, api_key=emu.api_key, endpoint=emu.address, progress="quiet", **kwargs
    )


@pytest.mark.slow
def test_a_thousand_calls_in_flight_hold_no_thread_each(
    make_spec: MakeSpec,
    pipeline_data: Data,
    emulator_factory: Callable[..., Emulator],
    tmp_path: Path,
) -> None:
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(latency_s=LATENCY_S)))
    spec = _spec(make_spec, pipeline_data, JOBS, CONCURRENCY)
    before_threads, before_rss = threading.active_count(), _rss_mib()
    with Peaks().sampling() as peaks:
        outcome = PipelineRun(spec, _options(tmp_path / "out", emu)).run()
    assert outcome.status == "completed", outcome.stats
    lines = list(read_jsonl(tmp_path / "out" / "results.jsonl"))
    assert len({line["id"] for line in lines}) == JOBS
    assert all(line["latency_s"] >= LATENCY_S for line in lines)
    # the calls were in flight together: far more than any thread pool of the run holds
    assert emu.stats.peak_in_flight >= CONCURRENCY // 4, emu.stats.peak_in_flight
    assert peaks.threads <= before_threads + EXTRA_THREADS, (before_threads, peaks.threads)
    assert peaks.rss_mib - before_rss < EXTRA_RSS_MIB, (before_rss, peaks.rss_mib)


@pytest.mark.slow
def test_ctrl_c_with_five_hundred_calls_in_flight_cancels_them_after_the_grace_period(
    make_spec: MakeSpec,
    pipeline_data: Data,
    emulator_factory: Callable[..., Emulator],
    tmp_path: Path,
) -> None:
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(latency_s=30.0)))
    spec = _spec(make_spec, pipeline_data, 1500, 500)
    run = PipelineRun(spec, _options(tmp_path / "out", emu, grace_s=0.3))

    def interrupt() -> None:  # as the first Ctrl-C does, once the calls are under way
        deadline = time.monotonic() + 30
        while emu.stats.in_flight < 500 and time.monotonic() < deadline:
            time.sleep(0.01)
        run.interrupts.stop.set()

    threading.Thread(target=interrupt, daemon=True).start()
    started = time.monotonic()
    outcome = run.run()
    assert outcome.status == "interrupted"
    assert time.monotonic() - started < 20  # not the calls' 30 s
    assert emu.stats.calls["GetCompletion"] == 500  # nothing dispatched after the stop
    assert not list(read_jsonl(tmp_path / "out" / "results.jsonl"))
    deadline = time.monotonic() + 10
    while emu.stats.in_flight and time.monotonic() < deadline:  # the calls were cancelled
        time.sleep(0.05)
    assert emu.stats.in_flight == 0
