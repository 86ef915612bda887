"""What the benchmark rows share: the emulator and ``xai-run`` as processes, pipelines, statistics.

Every measured figure runs the emulator (``xai-run serve``) in its own process and
``xai-run`` in another, so neither shares an interpreter with the benchmark; the
client's CPU time and peak RSS come from the kernel (``os.wait4``).
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import yaml

XAI_RUN = [sys.executable, "-c", "from xai_pipelines.cli.app import main; main()"]
KEY = "bench-key"
#: A current non-reasoning model (catalog, 2026-11-29): the cheapest answer to generate.
MODEL = "grok-4.20-non-reasoning"
MAX_TOKENS = 16
#: Longest an emulator may take to accept connections.
START_TIMEOUT_S = 60.0
#: Longest an ``xai-run`` process may run before it counts as failed (killed).
RUN_TIMEOUT_S = 600.0


def baseline_figures(module: str, *args: object) -> dict[str, Any]:
    """Run a bare baseline (``python -m module ARGS``) in its own process; its JSON figures.

    In its own process the baseline shares no interpreter (GIL, allocator) with the
    emulator or with the run it is compared to.
    """
    out = subprocess.run(
        [sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True, check=True
    ).stdout
    figures: dict[str, Any] = json.loads(out)
    return figures


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def emulators(*flag_sets: Sequence[str], launcher: Sequence[str] = XAI_RUN) -> Iterator[list[str]]:
    """One ``xai-run serve FLAGS`` per flag set, each on a free port in its own process,
    started together; yields their addresses once all accept connections.

    Args:
        flag_sets: ``serve`` flags of each (``--latency``, ``--rpm``, ...).
        launcher: The command before ``serve`` (another entry for a patched emulator).
    """
    procs: list[subprocess.Popen[bytes]] = []
    addresses: list[str] = []
    try:
        for flags in flag_sets:
            port = free_port()
            procs.append(
                subprocess.Popen(
                    [*launcher, "serve", "--port", str(port), "--api-key", KEY, *flags],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            addresses.append(f"127.0.0.1:{port}")
        for address in addresses:
            with grpc.insecure_channel(address) as channel:
                grpc.channel_ready_future(channel).result(timeout=START_TIMEOUT_S)
        yield addresses
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def emulator(*flags: str, launcher: Sequence[str] = XAI_RUN) -> Iterator[str]:
    """One emulator (:func:`emulators`); yields its address."""
    with emulators(flags, launcher=launcher) as (address,):
        yield address


def write_pipeline(
    directory: Path,
    name: str,
    jobs: int,
    concurrency: int,
    *,
    mode: str = "sample",
    retries: int = 8,
) -> Path:
    """A pipeline of ``jobs`` small chat jobs (``repeat`` is at most 10,000, so a var
    matrix multiplies it for bigger plans)."""
    parts = max(1, -(-jobs // 10_000))
    if jobs % parts:
        raise SystemExit(f"jobs above 10,000 must be a multiple of {parts}")
    data = {
        "version": 1,
        "name": name,
        "defaults": {"model": MODEL, "max_tokens": MAX_TOKENS, "temperature": 0, "seed": 1},
        "execution": {"concurrency": concurrency, "retries": {"max_attempts": retries}},
        "vars": {"part": 0},
        "matrix": {"part": list(range(parts))},
        "chats": [
            {
                "name": "q",
                "id": "q-{{ part }}-{{ repeat }}",
                "repeat": jobs // parts,
                "mode": mode,
                "messages": [{"user": "A fact about {{ part * 10000 + repeat }}, please."}],
            }
        ],
        "output": {"dir": str(directory / "out")},
    }
    path = directory / f"{name}-{jobs}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@dataclass(frozen=True)
class RunFigures:
    """One ``xai-run`` process.

    Attributes:
        jobs: Jobs the plan had.
        elapsed_s: The executor phase (the manifest's ``elapsed_s``).
        wall_s: The whole process.
        cpu_s: User + system CPU of the process.
        peak_rss_mib: Its peak resident memory.
        usage: ``usage.json``.
        out: The output directory.
    """

    jobs: int
    elapsed_s: float
    wall_s: float
    cpu_s: float
    peak_rss_mib: float
    usage: dict[str, Any]
    out: Path

    @property
    def jobs_per_s(self) -> float:
        """Jobs per second of the executor phase."""
        return self.jobs / self.elapsed_s


class RunFailed(RuntimeError):
    """An ``xai-run`` process failed or outlived its time limit."""


def xai_run(
    pipeline: Path, out: Path, address: str, jobs: int, timeout_s: float = RUN_TIMEOUT_S
) -> RunFigures:
    """Run ``xai-run PIPELINE`` against ``address`` into a fresh ``out``.

    Raises:
        RunFailed: The run did not exit 0, or was killed after ``timeout_s``.
    """
    env = {**os.environ, "XAI_API_KEY": KEY}
    cmd = [*XAI_RUN, "run", str(pipeline), "--out", str(out), "--endpoint", address, "--quiet"]
    start = time.perf_counter()
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        timer = threading.Timer(timeout_s, proc.kill)
        timer.start()
        _, status, rusage = os.wait4(proc.pid, 0)
        timer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        stderr.seek(0)
        said = stderr.read().decode(errors="replace").strip()[-500:]
    if wall >= timeout_s:
        raise RunFailed(f"xai-run did not finish {jobs} jobs in {timeout_s:g} s")
    if proc.returncode != 0:
        raise RunFailed(f"xai-run exited {proc.returncode}: {said}")
    manifest = json.loads((out / "manifest.json").read_text())
    return RunFigures(
        jobs=jobs,
        elapsed_s=float(manifest["elapsed_s"]),
        wall_s=wall,
        cpu_s=rusage.ru_utime + rusage.ru_stime,
        peak_rss_mib=rusage.ru_maxrss / 1024,  # KiB on Linux
        usage=json.loads((out / "usage.json").read_text()),
        out=out,
    )


@dataclass(frozen=True)
class Stat:
    """The median of several repeats, with their min and max."""

    median: float
    min: float
    max: float
    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        """The statistics of ``values`` (at least one)."""
        return cls(statistics.median(values), min(values), max(values), tuple(values))

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "median": self.median,
            "min": self.min,
            "max": self.max,
            "values": list(self.values),
        }


def alternate(
    a: Callable[[int], float], b: Callable[[int], float], repeats: int
) -> tuple[list[float], list[float]]:
    """Run ``a`` and ``b`` in turns (A B A B ...), ``repeats`` times each, so that noise on
    a shared machine hits both alike; each gets the repeat's index."""
    first: list[float] = []
    second: list[float] = []
    for i in range(repeats):
        first.append(a(i))
        second.append(b(i))
    return first, second


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> Stat:
    """Per-pair ratios (repeat ``i`` of B over repeat ``i`` of A)."""
    return Stat.of([n / d for n, d in zip(numerators, denominators, strict=True)])
