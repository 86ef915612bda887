"""Issue 11, item 2: thousands of calls in flight.

``xai-run`` at concurrency ``C`` against the emulator with ``L`` seconds of latency per
call: jobs/s of the executor phase over the bound ``C / L``, and the process's peak
RSS. The issue's sizes: 2,048 with 2 s (8,192 jobs) and 5,000 with 10 s (20,000 jobs);
quick: 256 with 0.5 s (1,024 jobs), which says nothing about the targets.

In turns with each run (A B A B ...), a bare grpc.aio client against a bare grpc.aio
server at the same sizes (:mod:`benchmarks.bare_in_flight`) gives the ``-bare`` row:
the share of the bound gRPC and asyncio alone reach on this machine, the floor under
``-rate``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from benchmarks.common import (
    START_TIMEOUT_S,
    Stat,
    alternate,
    baseline_figures,
    emulator,
    free_port,
    write_pipeline,
    xai_run,
)
from benchmarks.figures import Context, Measured

#: (concurrency, latency s, jobs) of each measurement, and its quick stand-in.
HIGH = (2048, 2.0, 8192)
HIGHER = (5000, 10.0, 20_000)
QUICK = (256, 0.5, 1024)


@contextmanager
def bare_server(latency: float) -> Iterator[str]:
    """A bare grpc.aio server (:mod:`benchmarks.bare_in_flight`) in its own process; its address."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bare_in_flight", "server", str(port), str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the bare server did not start within {START_TIMEOUT_S:g} s")
        yield f"127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


def _bound(ctx: Context, size: tuple[int, float, int], name: str) -> dict[str, Measured]:
    concurrency, latency, jobs = QUICK if ctx.quick else size
    jobs = ctx.jobs or jobs
    pipeline = write_pipeline(ctx.workdir, name, jobs, concurrency)
    bound = concurrency / latency
    rss: list[float] = []
    with emulator("--latency", str(latency)) as address, bare_server(latency) as bare_address:

        def ours(i: int) -> float:
            limit = max(120.0, 5 * jobs / bound)  # five times the ideal time
            figures = xai_run(pipeline, ctx.workdir / f"{name}-{i}", address, jobs, limit)
            rss.append(figures.peak_rss_mib)
            return figures.jobs_per_s / bound

        def bare(i: int) -> float:
            figures = baseline_figures(
                "benchmarks.bare_in_flight", "client", bare_address, concurrency, jobs
            )
            return float(figures["calls_per_s"]) / bound

        shares, floors = alternate(ours, bare, ctx.repeats)
    note = f"concurrency {concurrency}, latency {latency:g} s, {jobs} jobs, bound {bound:g}/s"
    return {
        f"{name}-rate": Measured(Stat.of(shares), note),
        f"{name}-bare": Measured(
            Stat.of(floors), note + "; a bare grpc.aio client and server, in turns with -rate"
        ),
        f"{name}-rss": Measured(Stat.of(rss), note),
    }


def in_flight_2048(ctx: Context) -> dict[str, Measured]:
    """Concurrency 2,048 with 2 s latency."""
    return _bound(ctx, HIGH, "in-flight-2048")


def in_flight_5000(ctx: Context) -> dict[str, Measured]:
    """Concurrency 5,000 with 10 s latency."""
    return _bound(ctx, HIGHER, "in-flight-5000")
