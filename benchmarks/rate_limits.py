"""Issue 11, item 6: rate limits as the hosted API applies them.

* ``rate-limit-errors``: with 5% of calls refused RESOURCE_EXHAUSTED (no latency), the
  run's jobs/s over a fault-free run's, A (fault-free) and B (faulty) alternating, one
  emulator each.
* ``rpm-limit``: against an emulator request limit below the demand (``xai-run serve
  --rpm``, which the emulator enforces per second as the hosted API does: RPM / 60 a
  second, see ``xai_pipelines/emulator/ratelimit.py``), the successful calls per second
  once the run has converged (:func:`steady_rate`) over the limit, and the share of calls
  refused over the whole run (convergence included).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from benchmarks.common import (
    Stat,
    alternate,
    emulator,
    emulators,
    ratios,
    write_pipeline,
    xai_run,
)
from benchmarks.figures import Context, Measured

#: Share of calls refused in the faulty runs (the issue's figure).
ERROR_RATE = 0.05
#: Jobs per run: the issue measured 3,056; quick: a smoke size.
ERROR_JOBS, ERROR_JOBS_QUICK = 3056, 300
ERROR_CONCURRENCY = 64
#: The per-second limit (3,000 RPM = 50 requests/s) and the call latency: 10 calls in
#: flight fill it, against 64 allowed, so the demand is 6.4 times the limit.
RPM, RPM_LATENCY_S, RPM_CONCURRENCY = 3000, 0.2, 64
RPM_JOBS, RPM_JOBS_QUICK = 2500, 500


def rate_limit_errors(ctx: Context) -> dict[str, Measured]:
    """Jobs/s with 5% RESOURCE_EXHAUSTED over fault-free jobs/s."""
    jobs = ctx.size(ERROR_JOBS, ERROR_JOBS_QUICK)
    pipeline = write_pipeline(ctx.workdir, "errors", jobs, ERROR_CONCURRENCY)
    faulty_flags = ("--resource-exhausted-rate", str(ERROR_RATE), "--fault-seed", "1")
    failed: list[int] = []

    def runner(address: str, tag: str) -> Callable[[int], float]:
        def run(i: int) -> float:
            figures = xai_run(pipeline, ctx.workdir / f"errors-{tag}-{i}", address, jobs)
            failed.append(int(figures.usage["totals"]["failed"]))
            return figures.jobs_per_s

        return run

    with emulators((), faulty_flags) as (clean, faulty):
        a, b = alternate(runner(clean, "clean"), runner(faulty, "faulty"), ctx.repeats)
    stat = ratios(b, a)
    note = (
        f"{jobs} jobs, concurrency {ERROR_CONCURRENCY}; fault-free {Stat.of(a).median:.0f} "
        f"jobs/s, with {ERROR_RATE:.0%} errors {Stat.of(b).median:.0f} jobs/s; "
        f"jobs failed: {sum(failed)}"
    )
    return {"rate-limit-errors": Measured(stat, note)}


def rpm_limit(ctx: Context) -> dict[str, Measured]:
    """Converged throughput against a per-second limit, and the share of calls refused."""
    jobs = ctx.size(RPM_JOBS, RPM_JOBS_QUICK)
    pipeline = write_pipeline(ctx.workdir, "rpm", jobs, RPM_CONCURRENCY)
    limit_per_s = RPM / 60
    converged: list[float] = []
    whole: list[float] = []
    refused: list[float] = []
    with emulator("--rpm", str(RPM), "--latency", str(RPM_LATENCY_S)) as address:
        for i in range(ctx.repeats):
            figures = xai_run(pipeline, ctx.workdir / f"rpm-{i}", address, jobs)
            converged.append(steady_rate(figures.out) / limit_per_s)
            whole.append(figures.jobs_per_s / limit_per_s)
            totals = figures.usage["totals"]
            rejected = sum(
                group["retried_errors_by_code"].get("RESOURCE_EXHAUSTED", 0)
                + group["errors_by_code"].get("RESOURCE_EXHAUSTED", 0)
                for group in figures.usage["by_model"]
            )
            refused.append(rejected / max(1, totals["requests"]))
    note = (
        f"limit {limit_per_s:g}/s (--rpm {RPM}, per second), latency {RPM_LATENCY_S} s, "
        f"concurrency {RPM_CONCURRENCY}, {jobs} jobs; whole run {Stat.of(whole).median:.2f} "
        "of the limit"
    )
    return {
        "rpm-converged": Measured(Stat.of(converged), note),
        "rpm-refused": Measured(Stat.of(refused), note),
    }


def steady_rate(out: Path) -> float:
    """Results per second over the middle half of the run (by ``finished_at``): after the
    first quarter of the jobs (the limit's convergence) and before the last quarter (the
    tail of jobs still backing off)."""
    stamps = sorted(
        datetime.fromisoformat(json.loads(line)["finished_at"].replace("Z", "+00:00")).timestamp()
        for line in (out / "results.jsonl").read_text().splitlines()
        if line.strip()
    )
    first, last = len(stamps) // 4, 3 * len(stamps) // 4
    span = stamps[last] - stamps[first]
    return (last - first) / span if span > 0 else float("nan")
