"""Issue 11, item 5: streamed jobs against a bare generated stub's streams (concurrency 256).

A (the baseline): ``C`` asyncio tasks streaming ``ChatStub.GetCompletionChunk`` on one
plain ``grpc.aio`` channel, ``N`` streams in all, the requests the pipeline sends, in
its own process (``python -m benchmarks.streams ADDRESS N C``, which prints its
chunks/s and chunks per stream). B: ``xai-run`` with ``N`` stream jobs at concurrency
``C``; its chunks are the same requests' (the emulator answers a request the same way
every time), so its chunks/s is its jobs/s times A's chunks per stream. Every result
line must carry its time to first token. A and B alternate.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import grpc

from benchmarks.client_cost import bare_request
from benchmarks.common import (
    KEY,
    Stat,
    baseline_figures,
    emulator,
    ratios,
    write_pipeline,
    xai_run,
)
from benchmarks.figures import Context, Measured
from xai_pipelines.store import read_jsonl

CONCURRENCY = 256
JOBS, JOBS_QUICK = 4096, 512


async def _bare(address: str, streams: int, concurrency: int) -> tuple[float, float]:
    from xai_pipelines.proto import chat_pb2_grpc

    metadata = (("authorization", f"Bearer {KEY}"),)
    counter = iter(range(streams))
    chunks = 0
    async with grpc.aio.insecure_channel(address) as channel:
        stub = chat_pb2_grpc.ChatStub(channel)

        async def worker() -> None:
            nonlocal chunks
            for i in counter:
                request = bare_request(i)
                async for _chunk in stub.GetCompletionChunk(request, metadata=metadata, timeout=60):
                    chunks += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return chunks / elapsed, chunks / streams


def bare_process(address: str, streams: int, concurrency: int) -> tuple[float, float]:
    """The bare streams in their own process: (chunks/s, chunks per stream)."""
    figures = baseline_figures("benchmarks.streams", address, streams, concurrency)
    return float(figures["chunks_per_s"]), float(figures["chunks_per_stream"])


def stream_rate(ctx: Context) -> dict[str, Measured]:
    """Chunks/s of streamed ``xai-run`` jobs over the bare stub's, in one run."""
    jobs = ctx.size(JOBS, JOBS_QUICK)
    pipeline = write_pipeline(ctx.workdir, "streams", jobs, CONCURRENCY, mode="stream")
    bare: list[float] = []
    ours: list[float] = []
    per_stream = 0.0
    ttft_missing = 0
    with emulator() as address:
        bare_process(address, 200, CONCURRENCY)  # warm the server up
        for i in range(ctx.repeats):
            rate, per_stream = bare_process(address, jobs, CONCURRENCY)
            bare.append(rate)
            run = xai_run(pipeline, ctx.workdir / f"streams-{i}", address, jobs)
            ours.append(run.jobs_per_s * per_stream)
            lines = list(read_jsonl(run.out / "results.jsonl"))
            ttft_missing += sum(1 for line in lines if line.get("ttft_s") is None)
    note = (
        f"{jobs} streamed jobs at concurrency {CONCURRENCY}, no latency, {per_stream:.1f} "
        f"chunks per stream; bare stub {Stat.of(bare).median:.0f} chunks/s, xai-run "
        f"{Stat.of(ours).median:.0f} chunks/s; result lines without ttft_s: {ttft_missing}"
    )
    return {"stream-rate": Measured(ratios(ours, bare), note)}


if __name__ == "__main__":
    rate, each = asyncio.run(_bare(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
    print(json.dumps({"chunks_per_s": rate, "chunks_per_stream": each}))
