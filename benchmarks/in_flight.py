"""Issue 11, item 2: thousands of calls in flight.

``xai-run`` at concurrency ``C`` against the emulator with ``L`` seconds of latency per
call: jobs/s of the executor phase over the bound ``C / L``, and the process's peak
RSS. The issue's sizes: 2,048 with 2 s (8,192 jobs) and 5,000 with 10 s (20,000 jobs);
quick: 256 with 0.5 s (1,024 jobs), which says nothing about the targets.
"""

from __future__ import annotations

from benchmarks.common import Stat, emulator, write_pipeline, xai_run
from benchmarks.figures import Context, Measured

#: (concurrency, latency s, jobs) of each measurement, and its quick stand-in.
HIGH = (2048, 2.0, 8192)
HIGHER = (5000, 10.0, 20_000)
QUICK = (256, 0.5, 1024)


def _bound(ctx: Context, size: tuple[int, float, int], name: str) -> dict[str, Measured]:
    concurrency, latency, jobs = QUICK if ctx.quick else size
    jobs = ctx.jobs or jobs
    pipeline = write_pipeline(ctx.workdir, name, jobs, concurrency)
    bound = concurrency / latency
    shares: list[float] = []
    rss: list[float] = []
    with emulator("--latency", str(latency)) as address:
        for i in range(ctx.repeats):
            limit = max(120.0, 5 * jobs / bound)  # five times the ideal time
            figures = xai_run(pipeline, ctx.workdir / f"{name}-{i}", address, jobs, limit)
            shares.append(figures.jobs_per_s / bound)
            rss.append(figures.peak_rss_mib)
    note = f"concurrency {concurrency}, latency {latency:g} s, {jobs} jobs, bound {bound:g}/s"
    return {
        f"{name}-rate": Measured(Stat.of(shares), note),
        f"{name}-rss": Measured(Stat.of(rss), note),
    }


def in_flight_2048(ctx: Context) -> dict[str, Measured]:
    """Concurrency 2,048 with 2 s latency."""
    return _bound(ctx, HIGH, "in-flight-2048")


def in_flight_5000(ctx: Context) -> dict[str, Measured]:
    """Concurrency 5,000 with 10 s latency."""
    return _bound(ctx, HIGHER, "in-flight-5000")
