"""Issue 11, item 4: client cost against a bare generated stub (no latency, concurrency 64).

A (the baseline): ``C`` threads calling ``ChatStub.GetCompletion`` on one plain channel,
``N`` calls in all, the requests the pipeline sends, in its own process
(``python -m benchmarks.client_cost ADDRESS N C``, which prints its calls/s and the
CPU seconds of its loop). B: ``xai-run`` with ``N`` jobs at concurrency ``C`` (call,
accounting, result write). A and B alternate. The CPU per job of ``xai-run`` is the
difference between an ``N``-job and a :data:`SMALL_JOBS`-job run divided by the jobs
between them, so that interpreter start-up is not counted as per-job cost.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

import grpc

from benchmarks.common import (
    KEY,
    MAX_TOKENS,
    MODEL,
    Stat,
    baseline_figures,
    emulator,
    ratios,
    write_pipeline,
    xai_run,
)
from benchmarks.figures import Context, Measured

CONCURRENCY = 64
JOBS, JOBS_QUICK = 3000, 300
#: Jobs of the run whose CPU is subtracted (start-up, planning, reports).
SMALL_JOBS = 10


def prompt(i: int) -> str:
    """The user message of job ``i`` (the pipeline renders the same text)."""
    return f"A fact about {i}, please."


def bare_request(i: int) -> Any:
    """The GetCompletionsRequest the pipeline's job ``i`` sends, built by hand for bare stubs."""
    from xai_pipelines.proto import chat_pb2

    return chat_pb2.GetCompletionsRequest(
        model=MODEL,
        messages=[
            chat_pb2.Message(role=chat_pb2.ROLE_USER, content=[chat_pb2.Content(text=prompt(i))])
        ],
        max_tokens=MAX_TOKENS,
        temperature=0,
        seed=1,
    )


def bare_loop(address: str, calls: int, concurrency: int) -> tuple[float, float]:
    """``concurrency`` threads making ``calls`` stub calls in all: (calls/s, CPU seconds)."""
    from xai_pipelines.proto import chat_pb2_grpc

    channel = grpc.insecure_channel(address)
    stub = chat_pb2_grpc.ChatStub(channel)
    metadata = (("authorization", f"Bearer {KEY}"),)
    counter = iter(range(calls))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            request = bare_request(i)
            stub.GetCompletion(request, metadata=metadata, timeout=60)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    cpu, start = time.process_time(), time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    channel.close()
    return calls / elapsed, cpu


def bare_process(address: str, calls: int, concurrency: int) -> tuple[float, float]:
    """:func:`bare_loop` in its own process (so it shares no interpreter with anything)."""
    figures = baseline_figures("benchmarks.client_cost", address, calls, concurrency)
    return float(figures["calls_per_s"]), float(figures["cpu_s"])


def client_cost(ctx: Context) -> dict[str, Measured]:
    """CPU per job and jobs/s of ``xai-run`` over the bare stub's, in one run."""
    jobs = ctx.size(JOBS, JOBS_QUICK)
    pipeline = write_pipeline(ctx.workdir, "cost", jobs, CONCURRENCY)
    small = write_pipeline(ctx.workdir, "cost-small", SMALL_JOBS, CONCURRENCY)
    bare_rate: list[float] = []
    bare_cpu: list[float] = []
    run_rate: list[float] = []
    run_cpu: list[float] = []
    with emulator() as address:
        bare_process(address, 200, CONCURRENCY)  # warm the server up
        for i in range(ctx.repeats):
            rate, cpu = bare_process(address, jobs, CONCURRENCY)
            bare_rate.append(rate)
            bare_cpu.append(cpu / jobs)
            base = xai_run(small, ctx.workdir / f"cost-small-{i}", address, SMALL_JOBS)
            full = xai_run(pipeline, ctx.workdir / f"cost-{i}", address, jobs)
            run_rate.append(full.jobs_per_s)
            run_cpu.append((full.cpu_s - base.cpu_s) / (jobs - SMALL_JOBS))
    note = (
        f"{jobs} jobs at concurrency {CONCURRENCY}, no latency; bare stub "
        f"{Stat.of(bare_cpu).median * 1e3:.2f} ms CPU/call, {Stat.of(bare_rate).median:.0f} "
        f"calls/s; xai-run {Stat.of(run_cpu).median * 1e3:.2f} ms CPU/job, "
        f"{Stat.of(run_rate).median:.0f} jobs/s"
    )
    return {
        "client-cpu": Measured(ratios(run_cpu, bare_cpu), note),
        "client-rate": Measured(ratios(run_rate, bare_rate), note),
    }


if __name__ == "__main__":
    rate, cpu = bare_loop(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
    print(json.dumps({"calls_per_s": rate, "cpu_s": cpu}))
