"""Issue 11, item 5: ``--processes N`` gives the results, resume and reports of one process.

A: ``xai-run`` with one process over the whole plan. B: ``xai-run --processes 2`` over
part of the plan (``--limit``), then the same command over all of it (a resume: the
jobs the first part finished are skipped). :func:`differences` compares the two
output directories: the same job ids, each with the same answer, usage and cost; the
same ``usage.json``, ``summary.md``, ``junit.xml`` and ``report.html``, once what
differs between any two runs is masked (times, latencies, run ids, response ids).
The figure is the number of differences (target 0); the note has the client CPU
of both runs (``os.wait4``), for the record, not as a target.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import KEY, XAI_RUN, Stat, emulators, write_pipeline
from benchmarks.figures import Context, Measured
from xai_pipelines.store import read_jsonl

JOBS, JOBS_QUICK = 400, 120
CONCURRENCY = 32
PROCESSES = 2

#: Keys whose values differ between any two runs of one plan (times, ids of the run
#: and of the server's responses), left out of the comparison.
TIMING_KEYS = frozenset(
    {"generated_at", "finished_at", "latency_s", "ttft_s", "at_s", "run_id", "response_id"}
)
#: The same in the text reports: the latency charts, a run id, a time or a duration,
#: a 3-decimal latency.
_MASKS = (
    re.compile(r'<svg[^>]*aria-label="[^"]*[Ll]atency[^"]*".*?</svg>', re.DOTALL),
    re.compile(r"\d{8}T\d{6}-[0-9a-f]{8}"),
    re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?"),
    re.compile(r'time="[0-9.]+"'),
    re.compile(r"\b\d+(\.\d+)?\s?(ms|s|min|h)\b"),
    re.compile(r"\b\d+\.\d{3}\b"),
)
REPORTS = ("summary.md", "junit.xml", "report.html")
#: report.html's embedded case table: the columns that index one of its tables.
_INTERNED = {"task": "tasks", "model": "models", "kind": "kinds", "cell": "cells",
             "vars": "vars", "prompt": "prompts"}  # fmt: skip
_FIGURE = re.compile(r"<figure>.*?</figure>", re.DOTALL)
_SCRIPT = re.compile(
    r'<script type="application/json" id="(xr-tables|xr-jobs)">(.*?)</script>', re.DOTALL
)


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _masked(text: str) -> str:
    for mask in _MASKS:
        text = mask.sub("~", text)
    return text


def _cases(html: str) -> tuple[str, Any]:
    """report.html without its embedded case table and image gallery, and those in an
    order-free form (the file lists jobs, interns their texts and shows their images in
    the order they ended)."""
    found = {name: json.loads(body) for name, body in _SCRIPT.findall(html)}
    tables, jobs = found.get("xr-tables", {}), found.get("xr-jobs", [])
    fields = tables.get("fields", [])
    rows = []
    for job in jobs:
        row = dict(zip(fields, job, strict=False))
        for name, table in _INTERNED.items():
            if isinstance(row.get(name), int) and row[name] >= 0:
                row[name] = tables[table][row[name]]
        row.pop("latency", None)
        rows.append(row)
    rows.sort(key=lambda r: str(r.get("id")))
    gallery = sorted(_FIGURE.findall(html))
    return _FIGURE.sub("", _SCRIPT.sub("", html)), (rows, gallery)


def _results(out: Path) -> dict[str, Any]:
    return {line["id"]: _strip(line) for line in read_jsonl(out / "results.jsonl")}


def differences(a: Path, b: Path) -> list[str]:
    """What differs between two output directories of one plan, beyond times and ids.

    Results are compared by job id (their order in the file is the order jobs ended).
    """
    found: list[str] = []
    ra, rb = _results(a), _results(b)
    if sorted(ra) != sorted(rb):
        found.append(f"job ids: {len(set(ra) ^ set(rb))} in one run only")
    for job in sorted(set(ra) & set(rb)):
        if ra[job] != rb[job]:
            keys = sorted(
                k for k in ra[job].keys() | rb[job].keys() if ra[job].get(k) != rb[job].get(k)
            )
            found.append(f"results.jsonl {job}: {', '.join(keys)}")
    ua = _strip(json.loads((a / "usage.json").read_text()))
    ub = _strip(json.loads((b / "usage.json").read_text()))
    if ua != ub:
        found.append("usage.json: " + ", ".join(sorted(k for k in ua if ua.get(k) != ub.get(k))))
    for name in REPORTS:
        ta, tb = (a / name).read_text(), (b / name).read_text()
        if name == "report.html":
            (ta, cases_a), (tb, cases_b) = _cases(ta), _cases(tb)
            if cases_a != cases_b:
                found.append("report.html: its table of cases or its gallery differs")
        ta, tb = _masked(ta), _masked(tb)
        if ta != tb:
            la, lb = ta.splitlines(), tb.splitlines()
            first = next(
                (i for i, (x, y) in enumerate(zip(la, lb, strict=False)) if x != y),
                min(len(la), len(lb)),
            )
            found.append(f"{name}: line {first + 1} differs")
    errors_a = [_strip(e) for e in read_jsonl(a / "errors.jsonl")]
    errors_b = [_strip(e) for e in read_jsonl(b / "errors.jsonl")]
    key = lambda e: (e["id"], e["attempt"], e["final"])  # noqa: E731
    if sorted(errors_a, key=key) != sorted(errors_b, key=key):
        found.append("errors.jsonl differs")
    return found


def _xai_run(pipeline: Path, out: Path, address: str, *extra: str) -> float:
    """One ``xai-run`` process (and its workers); its CPU seconds, children included."""
    env = {**os.environ, "XAI_API_KEY": KEY}
    cmd = [*XAI_RUN, "run", str(pipeline), "--out", str(out), "--endpoint", address, "--quiet"]
    before = os.times()
    proc = subprocess.run([*cmd, *extra], env=env, capture_output=True, text=True, timeout=600)
    after = os.times()
    if proc.returncode != 0:
        raise RuntimeError(
            f"xai-run {' '.join(extra)} exited {proc.returncode}: {proc.stderr[-400:]}"
        )
    return (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )


def processes(ctx: Context) -> dict[str, Measured]:
    """Differences between one process and ``--processes 2`` with a resume, per repeat."""
    jobs = ctx.size(JOBS, JOBS_QUICK)
    pipeline = write_pipeline(ctx.workdir, "processes", jobs, CONCURRENCY)
    counts: list[float] = []
    cpu_one: list[float] = []
    cpu_two: list[float] = []
    seen: list[str] = []
    for i in range(ctx.repeats):
        # a fresh emulator for each run: its prompt cache remembers the prompts it served
        with emulators((), ()) as (first, second):
            one, two = ctx.workdir / f"processes-1-{i}", ctx.workdir / f"processes-2-{i}"
            cpu_one.append(_xai_run(pipeline, one, first))
            limit = ("--processes", str(PROCESSES), "--limit", str(jobs // 3))
            part = _xai_run(pipeline, two, second, *limit)
            cpu_two.append(part + _xai_run(pipeline, two, second, "--processes", str(PROCESSES)))
        manifest = json.loads((two / "manifest.json").read_text())
        found = differences(one, two)
        if manifest["plan"]["already_done"] != jobs // 3:
            found.append(f"resume skipped {manifest['plan']['already_done']}, not {jobs // 3}")
        counts.append(float(len(found)))
        seen += found
    note = (
        f"{jobs} jobs at concurrency {CONCURRENCY}: one process, against --processes {PROCESSES} "
        f"over {jobs // 3} jobs then resumed over all; client CPU (parent and workers) "
        f"{Stat.of(cpu_one).median:.1f} s vs {Stat.of(cpu_two).median:.1f} s"
        + (f"; differences: {'; '.join(seen[:5])}" if seen else "")
    )
    return {"processes": Measured(Stat.of(counts), note)}


def _main(argv: Sequence[str]) -> None:  # pragma: no cover (a developer's aid)
    for line in differences(Path(argv[0]), Path(argv[1])):
        print(line)


if __name__ == "__main__":
    import sys

    _main(sys.argv[1:])
