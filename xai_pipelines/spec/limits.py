"""Bounds on what a pipeline may ask for: the one table of hostile-input limits.

A pipeline, its datasets and its ``--set`` values are input from anyone who can
hand over a file. These limits keep a small file from hanging ``validate`` or
``run``, from filling a disk, or from ending in a traceback. Each is far above
what an honest pipeline needs; docs/pipelines.md ("Limits") lists them, and
the schema builder, the loader, the templating sandbox and the flag merge read
them from here.
"""

from __future__ import annotations

#: Most jobs in flight at once (``execution.concurrency`` and ``--concurrency``). The highest
#: rate tier (500 requests/s, FIELD-NOTES) at 10 s a call needs 5,000 in flight; the executor
#: holds no thread per call, and the emulator serves 20,000 calls at once.
MAX_CONCURRENCY = 20_000

#: Most worker processes of one run (``execution.processes`` and ``--processes``). Not the
#: CPU count: a run may be moved to a larger machine, and past a few dozen processes the
#: parent, the one writer of the results, is the limit (each worker also holds its own
#: interpreter, ~60 MB).
MAX_PROCESSES = 64

#: Deepest nesting of lists and mappings, in the pipeline, a dataset row or a ``--set`` value.
MAX_DEPTH = 64

#: Most decimal digits of an integer anywhere in the input (Python refuses more
#: than 4,300 when converting; 64-bit values need 20).
MAX_INT_DIGITS = 100

#: Largest duration setting (timeouts, backoffs, cache ttl), in seconds: one year.
MAX_DURATION_S = 365 * 24 * 3600

#: Largest integer setting that has no tighter bound of its own (token and row
#: counts, seeds, rates): the API's integers are 32-bit.
MAX_INT32 = 2**31 - 1

#: Most jobs one row expands into (matrix cells times ``repeat``): a few lines of
#: matrix must not make a plan that takes days to walk.
MAX_JOBS_PER_ROW = 100_000

#: Template budget, per render of one templated string. Loop iterations, calls,
#: filters and operators each count one step (``range(n)`` counts ``n``).
MAX_TEMPLATE_STEPS = 250_000

#: Most characters one render may produce, and all renders of one job together (or
#: of the pipeline's vars and paths), and the largest string or list one template
#: operation or filter may build (8M characters: a 2M-token context).
MAX_TEMPLATE_OUTPUT = 8_000_000

#: Wall-clock seconds one render may take.
MAX_TEMPLATE_SECONDS = 5.0


def limits_table() -> str:
    """The limits as a markdown table (docs/pipelines.md, between its ``limits`` markers)."""
    rows = [
        ("Jobs in flight (`execution.concurrency`, `--concurrency`)", f"{MAX_CONCURRENCY:,}"),
        ("Worker processes (`execution.processes`, `--processes`)", f"{MAX_PROCESSES}"),
        ("Nesting of lists and mappings (pipeline, dataset rows, `--set`)", f"{MAX_DEPTH}"),
        ("Digits of an integer", f"{MAX_INT_DIGITS}"),
        ("Jobs of one row (matrix cells times `repeat`)", f"{MAX_JOBS_PER_ROW:,}"),
        ("A duration setting", f"{MAX_DURATION_S:,} s (one year)"),
        ("Other integer settings (tokens, rows, seeds, rates)", f"{MAX_INT32:,}"),
        (
            "Template steps per render (loop iterations, calls, filters, operators)",
            f"{MAX_TEMPLATE_STEPS:,}",
        ),
        (
            "Template output per render, per job (all its templates), for the vars and "
            "paths together, and any string or list a template builds",
            f"{MAX_TEMPLATE_OUTPUT:,} characters",
        ),
        ("Template time per render", f"{MAX_TEMPLATE_SECONDS:g} s"),
    ]
    lines = ["| Limit | Value |", "| --- | --- |"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines) + "\n"
