"""``python -m benchmarks``: every figure of issue 11 with its target, met or not.

Usage::

    python -m benchmarks                  # every row, issue sizes, 3 repeats (many minutes)
    python -m benchmarks --quick          # smoke sizes, 2 repeats (the figures are not the targets')
    python -m benchmarks --only rate-limit-errors --repeats 1 --out /tmp/r.json

Prints a table (row, issue item, target, median with min..max, status) and writes
every row to a JSON file (``benchmarks/results.json`` unless ``--out``). Ratios come
from one run with A and B alternating; each value is the median of ``--repeats``
repeats. A row whose machinery is not built yet says ``not built``; a baseline row
(no target: the floor a figure is read against) says ``baseline``; a row not
selected by ``--only`` says ``not run``; a measurement that crashed says ``failed``.
The machine's load shows in every figure: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.batch_million import batch_million
from benchmarks.client_cost import SMALL_JOBS, client_cost
from benchmarks.common import RunFailed
from benchmarks.emulator_concurrent import TARGET_CALLS, emulator_concurrent
from benchmarks.figures import Context, Measure, Outcome, Row, judged
from benchmarks.in_flight import in_flight_2048, in_flight_5000
from benchmarks.processes import processes
from benchmarks.rate_limits import rate_limit_errors, rpm_limit
from benchmarks.streams import stream_rate

DEFAULT_OUT = Path(__file__).parent / "results.json"
REPEATS, REPEATS_QUICK = 3, 2

#: Every figure of issue 11's "What must be true", in its order.
ROWS: tuple[Row, ...] = (
    Row("in-flight-2048-rate", "2", "jobs/s over the bound C/L, concurrency 2,048, 2 s latency",
        ">= 0.95", "x bound", lambda v: v >= 0.95, "in-flight-2048"),
    Row("in-flight-2048-bare", "2", "the same for a bare grpc.aio client and server (floor)",
        "baseline", "x bound", None, "in-flight-2048"),
    Row("in-flight-2048-rss", "2", "peak RSS of xai-run, concurrency 2,048", "< 400 MB",
        "MiB", lambda v: v < 400, "in-flight-2048"),
    Row("in-flight-5000-rate", "2", "jobs/s over the bound C/L, concurrency 5,000, 10 s latency",
        ">= 0.95", "x bound", lambda v: v >= 0.95, "in-flight-5000"),
    Row("in-flight-5000-bare", "2", "the same for a bare grpc.aio client and server (floor)",
        "baseline", "x bound", None, "in-flight-5000"),
    Row("in-flight-5000-rss", "2", "peak RSS of xai-run, concurrency 5,000", "< 400 MB",
        "MiB", lambda v: v < 400, "in-flight-5000"),
    Row("emulator-concurrent", "3", "concurrent delayed calls the emulator holds",
        ">= 10,000", "calls", lambda v: v >= TARGET_CALLS, "emulator-concurrent"),
    Row("client-cpu", "4", "client CPU per job over a bare stub's per call, concurrency 64",
        "<= 1.5", "x stub", lambda v: v <= 1.5, "client-cost"),
    Row("client-rate", "4", "jobs/s over a bare stub's calls/s, concurrency 64", ">= 0.8",
        "x stub", lambda v: v >= 0.8, "client-cost"),
    Row("stream-rate", "5", "streamed chunks/s over a bare stub's, concurrency 256", ">= 0.8",
        "x stub", lambda v: v >= 0.8, "stream-rate"),
    Row("processes", "5", "--processes 2 (with a resume): results, usage and reports "
        "against one process", "identical", "differences", lambda v: v == 0, "processes"),
    Row("rate-limit-errors", "6", "jobs/s with 5% RESOURCE_EXHAUSTED over fault-free",
        ">= 0.5", "x fault-free", lambda v: v >= 0.5, "rate-limit-errors"),
    Row("rpm-converged", "6", "successful calls/s once converged, over an emulator limit "
        "below the demand", ">= 0.9", "x limit", lambda v: v >= 0.9, "rpm-limit"),
    Row("rpm-refused", "6", "share of calls refused against that limit", "< 0.05", "share",
        lambda v: v < 0.05, "rpm-limit"),
    Row("batch-million", "7", "batch: 1,000,000 jobs submitted/collected, peak RSS "
        "(only with --only)", "< 400 MB", "MiB", lambda v: v < 400, "batch-million"),
)  # fmt: skip

#: The measurement of each group (a group fills the rows that name it).
MEASURES: dict[str, Measure] = {
    "in-flight-2048": in_flight_2048,
    "in-flight-5000": in_flight_5000,
    "emulator-concurrent": emulator_concurrent,
    "client-cost": client_cost,
    "stream-rate": stream_rate,
    "processes": processes,
    "rate-limit-errors": rate_limit_errors,
    "rpm-limit": rpm_limit,
    "batch-million": batch_million,
}
#: Groups measured only when named by ``--only`` (too long for every run).
ON_REQUEST = frozenset({"batch-million"})


def run(selected: set[str] | None, ctx: Context) -> list[Outcome]:
    """Measure the groups of the selected rows (all when None); one outcome per row."""
    outcomes = {row.key: Outcome(row) for row in ROWS}
    for row in ROWS:
        if row.group is None:
            outcomes[row.key].status = "not built"
    wanted = [
        r
        for r in ROWS
        if (selected is None and r.group not in ON_REQUEST)
        or (selected is not None and (r.key in selected or r.group in selected))
    ]
    groups = list(dict.fromkeys(r.group for r in wanted if r.group is not None))
    for group in groups:
        started = time.perf_counter()
        print(f"measuring {group} ...", file=sys.stderr, flush=True)
        try:
            measured = MEASURES[group](ctx)
        except (RunFailed, OSError) as exc:
            for row in ROWS:
                if row.group == group:
                    outcomes[row.key] = Outcome(row, "failed", None, str(exc))
            continue
        for key, value in measured.items():
            outcomes[key] = judged(outcomes[key].row, value)
        took = time.perf_counter() - started
        print(f"  {group}: {took:.0f} s", file=sys.stderr, flush=True)
    return [outcomes[row.key] for row in ROWS]


def table(outcomes: Sequence[Outcome]) -> str:
    """The outcomes as a fixed-width table."""
    lines = [f"{'row':22} {'item':4} {'target':10} {'median':>9} {'min..max':>19} status"]
    for o in outcomes:
        if o.stat is None:
            value, spread = "-", "-"
        else:
            value = f"{o.stat.median:.3g}"
            spread = f"{o.stat.min:.3g}..{o.stat.max:.3g}"
        lines.append(
            f"{o.row.key:22} {o.row.item:4} {o.row.target:10} {value:>9} {spread:>19} {o.status}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, measure, print the table and write the JSON file."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="smoke sizes (not the targets')")
    parser.add_argument(
        "--only",
        action="append",
        metavar="ROW",
        help="measure only this row or group (repeatable); the others say 'not run'",
    )
    parser.add_argument("--repeats", type=int, help="repeats per measurement (default 3; quick 2)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON file to write")
    parser.add_argument("--jobs", type=int, help="jobs per run instead of each row's (smoke tests)")
    args = parser.parse_args(argv)
    known = {r.key for r in ROWS} | set(MEASURES)
    unknown = sorted(set(args.only or ()) - known)
    if unknown:
        parser.error(f"unknown row {', '.join(unknown)}; rows: {', '.join(r.key for r in ROWS)}")
    repeats = args.repeats or (REPEATS_QUICK if args.quick else REPEATS)
    if repeats < 1 or (args.jobs is not None and args.jobs < 2 * SMALL_JOBS):
        parser.error(f"--repeats must be at least 1 and --jobs at least {2 * SMALL_JOBS}")
    with tempfile.TemporaryDirectory(prefix="xai-bench-") as tmp:
        ctx = Context(args.quick, repeats, Path(tmp), args.jobs)
        outcomes = run(set(args.only) if args.only else None, ctx)
    print(table(outcomes))
    for o in outcomes:
        if o.note:
            print(f"  {o.row.key}: {o.note}")
    document = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "quick": args.quick,
        "repeats": repeats,
        "jobs": args.jobs,
        "rows": [o.to_dict() for o in outcomes],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"written: {args.out}")
    return 1 if any(o.status == "failed" for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
