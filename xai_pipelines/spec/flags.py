"""Command-line flags that override pipeline settings for one run: the one merge.

``--concurrency``, ``--processes``, ``--fail-fast``, ``--fail-under``, ``--cache`` and
``--no-cache`` are sugar for the settings of the same meaning (see the table in
:mod:`xai_pipelines.defaults`). :func:`with_flags` applies them to the typed
spec; the spec's digest and its resolved document stay those of the file and its
``--set`` overrides, so a flag never makes a resumed run's spec "changed".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from xai_pipelines.spec.errors import Problem, SpecError
from xai_pipelines.spec.limits import MAX_CONCURRENCY, MAX_PROCESSES
from xai_pipelines.spec.model import Cache, PipelineSpec


@dataclass(frozen=True, slots=True)
class RunFlags:
    """The settings flags of ``xai-run run`` (``None``/``False``: not given).

    Attributes:
        concurrency: ``--concurrency N`` -> ``execution.concurrency``.
        processes: ``--processes N`` -> ``execution.processes`` (last, as it was added).
        fail_fast: ``--fail-fast`` -> ``execution.on_error: fail_fast``.
        fail_under: ``--fail-under RATE`` -> ``evals.fail_under``.
        cache_dir: ``--cache DIR`` -> ``execution.cache.dir`` (the pipeline's ttl stays).
        no_cache: ``--no-cache`` -> no ``execution.cache``, whatever the pipeline says.
    """

    concurrency: int | None = None
    fail_fast: bool = False
    fail_under: float | None = None
    cache_dir: Path | None = None
    no_cache: bool = False
    processes: int | None = None


def _in_range(flag: str, key: str, value: int | None, top: int, what: str) -> None:
    """Raise the one-line error of a count flag outside what its setting accepts."""
    if value is not None and not 1 <= value <= top:
        raise SpecError(
            [
                Problem(
                    flag, 1, 1, key, f"out of range (expected 1 to {top:,} {what}, got {value:,})"
                )
            ]
        )


def with_flags(spec: PipelineSpec, flags: RunFlags) -> PipelineSpec:
    """``spec`` with the settings the flags override (the same object when none is given).

    Raises:
        SpecError: ``--concurrency`` or ``--processes`` outside what its setting accepts.
    """
    _in_range("--concurrency", "execution.concurrency", flags.concurrency, MAX_CONCURRENCY,
              "jobs in flight")  # fmt: skip
    _in_range("--processes", "execution.processes", flags.processes, MAX_PROCESSES,
              "worker processes")  # fmt: skip
    ex, evals = spec.execution, spec.evals
    cache = ex.cache
    if flags.no_cache:
        cache = None
    elif flags.cache_dir is not None:
        cache = Cache(flags.cache_dir.absolute(), ex.cache.ttl_s if ex.cache is not None else None)
    execution = dataclasses.replace(
        ex,
        concurrency=ex.concurrency if flags.concurrency is None else flags.concurrency,
        processes=ex.processes if flags.processes is None else flags.processes,
        on_error="fail_fast" if flags.fail_fast else ex.on_error,
        cache=cache,
    )
    if flags.fail_under is not None:
        evals = dataclasses.replace(evals, fail_under=flags.fail_under)
    if execution == ex and evals == spec.evals:
        return spec
    return dataclasses.replace(spec, execution=execution, evals=evals)
