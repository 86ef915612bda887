"""Throughput of ``xai-run`` against a bare loop of generated-stub calls, and peak RSS.

Usage: ``python benchmarks/bench_executor.py [--jobs N] [--concurrency C] [--rss-jobs M]``

The emulator runs in its own process (``xai-run serve``, no injected latency) so
that neither side shares its interpreter with the server. Measured in one run:

* baseline: ``C`` threads calling ``ChatStub.GetCompletion`` on one plain channel,
  ``N`` calls in all (the same requests the pipeline makes);
* xai-run: ``xai-run PIPELINE --concurrency C`` as a subprocess, ``N`` jobs; jobs/s
  over the executor phase (manifest ``elapsed_s``) and over the whole process;
* memory: peak RSS of ``xai-run`` for ``M`` jobs (default 100,000), next to a
  1,000-job run as the baseline; a plan that were materialized would show here.

``--latency S`` adds latency to every emulator call, to compare the two where the
API rather than the client's CPU sets the pace.

Prints the figures and the ratios to the baselines.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
import psutil
import yaml

from xai_pipelines.proto import chat_pb2, chat_pb2_grpc

XAI_RUN = [sys.executable, "-c", "from xai_pipelines.cli.app import main; main()"]
KEY = "bench-key"
MODEL, MAX_TOKENS = "grok-3-mini", 16


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_emulator(latency_s: float = 0.0) -> tuple[subprocess.Popen[bytes], str]:
    """``xai-run serve`` on a free port, once it accepts connections."""
    port = free_port()
    proc = subprocess.Popen(
        [*XAI_RUN, "serve", "--port", str(port), "--api-key", KEY, "--latency", str(latency_s)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    address = f"127.0.0.1:{port}"
    with grpc.insecure_channel(address) as channel:
        grpc.channel_ready_future(channel).result(timeout=60)
    return proc, address


def prompt(i: int) -> str:
    """The user message of job ``i`` (the pipeline renders the same text)."""
    return f"A fact about {i}, please."


def write_pipeline(directory: Path, jobs: int) -> Path:
    """A pipeline of ``jobs`` small chat jobs (``repeat`` is at most 10,000, so a var
    matrix multiplies it for bigger plans)."""
    parts = max(1, -(-jobs // 10_000))
    if jobs % parts:
        raise SystemExit(f"--jobs above 10,000 must be a multiple of {parts}")
    data = {
        "version": 1,
        "name": "bench",
        "defaults": {"model": MODEL, "max_tokens": MAX_TOKENS, "temperature": 0, "seed": 1},
        "execution": {"concurrency": 64},
        "vars": {"part": 0},
        "matrix": {"part": list(range(parts))},
        "chats": [
            {
                "name": "q",
                "id": "q-{{ part }}-{{ repeat }}",
                "repeat": jobs // parts,
                "messages": [{"user": "A fact about {{ part * 10000 + repeat }}, please."}],
            }
        ],
        "output": {"dir": str(directory / "out")},
    }
    path = directory / f"bench-{jobs}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def bare_loop(address: str, calls: int, concurrency: int) -> float:
    """Jobs/s of ``concurrency`` threads making ``calls`` stub calls in all."""
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
            request = chat_pb2.GetCompletionsRequest(
                model=MODEL,
                messages=[
                    chat_pb2.Message(
                        role=chat_pb2.ROLE_USER, content=[chat_pb2.Content(text=prompt(i))]
                    )
                ],
                max_tokens=MAX_TOKENS,
                temperature=0,
                seed=1,
            )
            stub.GetCompletion(request, metadata=metadata, timeout=60)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    channel.close()
    return calls / elapsed


def xai_run(address: str, jobs: int, concurrency: int, workdir: Path) -> dict[str, float]:
    """Run ``xai-run`` on ``jobs`` jobs; jobs/s and peak RSS (MiB) of the process."""
    pipeline = write_pipeline(workdir, jobs)
    out = workdir / f"out-{jobs}"
    env = {**os.environ, "XAI_API_KEY": KEY}
    cmd = [*XAI_RUN, str(pipeline), "--out", str(out), "--endpoint", address, "--quiet"]
    start = time.perf_counter()
    proc = subprocess.Popen([*cmd, "--concurrency", str(concurrency)], env=env)
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, ps.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"xai-run exited {proc.returncode}")
    manifest = json.loads((out / "manifest.json").read_text())
    return {
        "jobs_per_s": jobs / manifest["elapsed_s"],
        "jobs_per_s_wall": jobs / wall,
        "peak_rss_mib": peak / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3000, help="jobs (and bare calls) to time")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rss-jobs", type=int, default=100_000, help="jobs of the memory run")
    parser.add_argument("--skip-rss", action="store_true", help="skip the memory runs")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="emulator latency per call (s); 0 by default"
    )
    args = parser.parse_args()

    server, address = start_emulator(args.latency)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            bare_loop(address, 200, args.concurrency)  # warm the server up
            bare = bare_loop(address, args.jobs, args.concurrency)
            run = xai_run(address, args.jobs, args.concurrency, work)
            latency = f"{args.latency * 1000:g} ms latency" if args.latency else "no latency"
            print(f"concurrency {args.concurrency}, {args.jobs} jobs, emulator with {latency}")
            print(f"  bare generated-stub loop : {bare:8.1f} calls/s")
            print(
                f"  xai-run (executor phase) : {run['jobs_per_s']:8.1f} jobs/s"
                f"  ({run['jobs_per_s'] / bare:.2f}x the bare loop)"
            )
            print(
                f"  xai-run (whole process)  : {run['jobs_per_s_wall']:8.1f} jobs/s"
                f"  ({run['jobs_per_s_wall'] / bare:.2f}x the bare loop)"
            )
            if not args.skip_rss:
                small = xai_run(address, 1000, args.concurrency, work)
                big = xai_run(address, args.rss_jobs, args.concurrency, work)
                print("peak RSS of xai-run")
                print(f"  1,000 jobs               : {small['peak_rss_mib']:8.1f} MiB")
                print(
                    f"  {args.rss_jobs:,} jobs".ljust(27) + f": {big['peak_rss_mib']:8.1f} MiB"
                    f"  ({big['peak_rss_mib'] / small['peak_rss_mib']:.2f}x the 1,000-job run;"
                    f" {big['jobs_per_s']:.0f} jobs/s)"
                )
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
