"""``--processes N``: the run's jobs spread over N worker processes, recorded by the parent.

The parent does everything a one-process run does but the calls: it plans,
resumes, holds the lock, dispatches through the same :class:`~xai_pipelines.run.executor.Executor`
(so ``concurrency``, resume skips, ``budget_usd``, fail-fast, Ctrl-C and its grace
period behave as in one process), and is the one writer of ``results.jsonl``,
``errors.jsonl``, the manifest and the reports. The executor's job function is
:meth:`ProcessPool.run`: it hands the job to the worker with the fewest jobs in
flight and waits for what it sends back, which then goes through the run's sink as
a local result would. Each worker (:mod:`xai_pipelines.run.worker`) has its own
event loop, pool, async client and channels, and its share of the concurrency
and of the client rate limits.

A worker that dies (killed, out of memory, a crash in the interpreter) fails the
run with one :class:`WorkerLost` message once the jobs in flight elsewhere ended; its
jobs in flight get no line, so a rerun runs them. Workers die with the parent
(``PR_SET_PDEATHSIG``, and their stdin closing).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno as errno_codes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import msgspec

from xai_pipelines.plan import ChatJob, Job
from xai_pipelines.records import ConcurrencyHistory, LimitChange
from xai_pipelines.run.executor import WorkerLost
from xai_pipelines.run.outcome import DeferredWrite, JobFailed, JobResult
from xai_pipelines.run.sink import ResultSink
from xai_pipelines.run.worker import FrameReader, WorkerConfig, write_frame
from xai_pipelines.sdk.errors import AuthenticationError
from xai_pipelines.store import WriteError

log = logging.getLogger(__name__)

#: How long a worker may take to start (imports, channels) before the run gives up on it.
START_TIMEOUT_S = 60.0
#: After ``stop``, how long a worker may take to send its history and exit before it is killed.
STOP_TIMEOUT_S = 10.0
#: Lines of a dead worker's stderr quoted in the run's error.
STDERR_LINES = 5


def shares(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` near-equal positive shares (the first ones larger)."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def merged_history(
    configured: ConcurrencyHistory, histories: list[ConcurrencyHistory]
) -> ConcurrencyHistory:
    """The run's concurrency history from its workers' (each limits its own share).

    With no change in any worker it is ``configured`` (the parent's untouched limit:
    what a one-process run without rate limits records). Otherwise the counters are
    summed and each change is the sum of the workers' limits at that time.
    """
    moved = (any(c.reason != "start" for c in h.changes) for h in histories)
    if not any(moved) and not any(h.cuts or h.pauses or h.rate_limited for h in histories):
        return configured
    current = [h.maximum for h in histories]
    events = sorted(
        ((c.at_s, i, c) for i, h in enumerate(histories) for c in h.changes if c.reason != "start"),
        key=lambda e: (e[0], e[1]),
    )
    changes = [LimitChange(at_s=0.0, limit=sum(current), reason="start")]
    for _, i, change in events:
        current[i] = change.limit
        changes.append(msgspec.structs.replace(change, limit=sum(current)))
    return ConcurrencyHistory(
        maximum=configured.maximum,
        floor=configured.floor,
        final=min(configured.maximum, sum(h.final for h in histories)),
        cuts=sum(h.cuts for h in histories),
        rate_limited=sum(h.rate_limited for h in histories),
        pauses=sum(h.pauses for h in histories),
        changes=changes,
        dropped=sum(h.dropped for h in histories),
    )


def wire(job: Job) -> dict[str, Any]:
    """What a worker needs of ``job`` to rebuild it (``job_from_dict``): its plan line but
    the digest, which the worker computes for its result line (the parent seldom needs it)."""
    data: dict[str, Any] = {
        "id": job.id,
        "kind": job.kind,
        "task": job.task,
        "index": job.index,
        "request": job.request,
        "expect": job.expect,
        "meta": dict(job.meta),
    }
    if isinstance(job, ChatJob):
        data["mode"], data["turns"] = job.mode, job.turns
    return data


@dataclass
class _Pending:
    """A job handed to a worker, waiting for its answer."""

    job: Job
    future: asyncio.Future[tuple[Any, ...]]


class _Process:
    """One worker process and the parent's end of its pipes."""

    def __init__(self, index: int, popen: subprocess.Popen[bytes]) -> None:
        self.index = index
        self.popen = popen
        assert popen.stdin is not None and popen.stdout is not None
        self.stdin: IO[bytes] = popen.stdin
        self.stdout: IO[bytes] = popen.stdout
        self.inbox = FrameReader(popen.stdout.fileno())
        self.lock = threading.Lock()
        self.flush_due = False
        self.pending: dict[str, _Pending] = {}
        self.ready = threading.Event()
        self.history: ConcurrencyHistory | None = None
        self.gone = False
        self.stderr: deque[str] = deque(maxlen=STDERR_LINES)

    def send(self, *message: Any, flush: bool = True) -> bool:
        """Send a message (``flush=False``: left in the buffer for :meth:`flush`); False
        when the worker's pipe is closed (it died)."""
        try:
            with self.lock:
                write_frame(self.stdin, message, flush=flush)
        except (BrokenPipeError, ValueError, OSError):
            return False
        return True

    def flush(self) -> None:
        """Write what :meth:`send` left in the buffer."""
        with self.lock:
            self.flush_due = False
            with contextlib.suppress(BrokenPipeError, ValueError, OSError):
                self.stdin.flush()

    def death(self, detail: str = "") -> str:
        """How the process ended (and ``detail``), for the run's one message."""
        code = self.popen.poll()
        if code is None:
            how = "closed its pipe"
        elif code < 0:
            how = f"was killed by {signal.Signals(-code).name}"
        else:
            how = f"exited with status {code}"
        tail = " | ".join(line for line in self.stderr if line.strip())
        said = f" (its stderr: {tail})" if tail else ""
        return f"worker process {self.index} (pid {self.popen.pid}) {how}{detail}{said}"


class ProcessPool:
    """N worker processes that run the executor's jobs (see the module docstring).

    Args:
        count: Worker processes to start.
        abort: The executor's abort event (forwarded to the workers: no further call).
    """

    def __init__(self, count: int, abort: threading.Event) -> None:
        self.count = count
        self.abort = abort
        self.processes: list[_Process] = []
        self.sink: ResultSink | None = None  # set by bind()
        self.notify: Callable[[str], None] = lambda text: log.warning("%s", text)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lost: WorkerLost | None = None
        self._stopping = False
        self._aborted = False
        self._watcher: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the worker processes (they wait for :meth:`configure`)."""
        env = dict(os.environ, XAI_PIPELINES_PARENT_PID=str(os.getpid()))
        for index in range(self.count):
            popen = subprocess.Popen(
                [sys.executable, "-m", "xai_pipelines.run.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                close_fds=True,
            )
            proc = _Process(index, popen)
            self.processes.append(proc)
            threading.Thread(target=self._read, args=(proc,), daemon=True,
                             name=f"worker-{index}-out").start()  # fmt: skip
            threading.Thread(target=self._read_stderr, args=(proc,), daemon=True,
                             name=f"worker-{index}-err").start()  # fmt: skip

    def configure(self, configs: list[WorkerConfig]) -> None:
        """Send each worker its config and wait until every one is ready.

        Raises:
            WorkerLost: A worker died or did not start in time.
        """
        for proc, config in zip(self.processes, configs, strict=True):
            if not proc.send("init", config):
                raise WorkerLost(proc.death(" before it started"))
        deadline = time.monotonic() + START_TIMEOUT_S
        for proc in self.processes:
            while not proc.ready.wait(0.05):
                if proc.gone or time.monotonic() > deadline:
                    raise WorkerLost(proc.death(" before it started"))

    def bind(self, sink: ResultSink, notify: Callable[[str], None] | None = None) -> None:
        """The run's sink (failed attempts the workers report are recorded there) and
        where the workers' messages for the user go."""
        self.sink = sink
        if notify is not None:
            self.notify = notify

    async def run(self, job: Job) -> JobResult:
        """Run ``job`` on the least busy worker (the executor's job function).

        Raises:
            JobFailed: The job failed for good (as in one process).
            WriteError: A file of the job could not be written.
            WorkerLost: A worker died.
        """
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            self._watcher = loop.create_task(self._watch_abort())
        if self._lost is not None:
            raise self._lost
        proc = min(
            (p for p in self.processes if not p.gone), key=lambda p: len(p.pending), default=None
        )
        if proc is None:
            raise self._lost or WorkerLost("every worker process is gone")
        pending = _Pending(job, loop.create_future())
        proc.pending[job.id] = pending
        if not proc.send("job", wire(job), flush=False):
            proc.pending.pop(job.id, None)
            raise self._lost or WorkerLost(proc.death())
        if not proc.flush_due:  # the jobs dispatched in this round of the loop: one write
            proc.flush_due = True
            loop.call_soon(proc.flush)
        try:
            answer = await pending.future
        except asyncio.CancelledError:  # the grace period ran out: cancel its call too
            proc.pending.pop(job.id, None)
            proc.send("cancel", job.id)
            raise
        return self._result(proc, job, answer)

    def _result(self, proc: _Process, job: Job, answer: tuple[Any, ...]) -> JobResult:
        kind = answer[0]
        if kind == "result":
            _, _, line, tokens, images, cost, stores, deferred = answer

            def recorded() -> None:  # the line is written: the worker stores the job in the cache
                proc.send("recorded", job.id)

            kept = [
                DeferredWrite(Path(path), write, WriteError(Path(path), OSError(code, text)))
                for path, write, code, text in deferred
            ]
            return JobResult(line, tokens, images, cost, recorded if stores else None, kept)
        if kind == "failed":
            _, _, code, message, attempts, request_id, fatal = answer
            failure = JobFailed(code, message, attempts, request_id)
            if fatal:  # is_fatal() looks at the cause
                failure.__cause__ = AuthenticationError(message, code=code)
            raise failure
        if kind == "write_error":
            _, _, path, code, text = answer
            raise WriteError(Path(path), OSError(code or errno_codes.EIO, text))
        raise self._lost or WorkerLost(proc.death())  # "lost"

    async def _watch_abort(self) -> None:
        """Forward the executor's abort (a failed write, the grace period over) to the workers."""
        while not self.abort.is_set():
            await asyncio.sleep(0.05)
        self._aborted = True
        for proc in self.processes:
            proc.send("abort")

    def _read(self, proc: _Process) -> None:
        """A worker's messages, on their own thread."""
        while True:
            try:
                messages = proc.inbox.read()
            except Exception as exc:
                log.warning("worker %d sent an unreadable message: %s", proc.index, exc)
                messages = None
            if messages is None:
                break
            answers = [m for m in messages if m[0] in ("result", "failed", "write_error")]
            for message in messages:  # in order: a job's retried attempts before its answer
                if message[0] not in ("result", "failed", "write_error"):
                    self._on_message(proc, message)
            if answers:
                self._answer(proc, answers)
        proc.popen.wait()
        proc.gone = True
        if not self._stopping:
            self._on_death(proc)

    def _read_stderr(self, proc: _Process) -> None:
        assert proc.popen.stderr is not None
        for raw in proc.popen.stderr:
            text = raw.decode("utf-8", "replace").rstrip()
            proc.stderr.append(text)
            log.debug("[worker %d stderr] %s", proc.index, text)

    def _on_message(self, proc: _Process, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "ready":
            proc.ready.set()
        elif kind == "log":
            _, level, name, text = message
            logging.getLogger(name).log(level, "%s", text)
        elif kind == "history":
            proc.history = message[1]
        elif kind == "say":
            self.notify(message[1])
        elif kind == "attempt":
            _, job_id, code, text, attempt, request_id = message
            pending = proc.pending.get(job_id)
            if pending is not None and self.sink is not None:
                self.sink.attempt_failed(pending.job, code, text, attempt, request_id)

    def _answer(self, proc: _Process, answers: list[tuple[Any, ...]]) -> None:
        """Hand the jobs' answers to their waiting tasks, in one hand-off to the loop."""
        loop = self._loop
        if loop is None:
            return

        def deliver() -> None:
            for answer in answers:
                pending = proc.pending.pop(answer[1], None)
                if pending is not None and not pending.future.done():
                    pending.future.set_result(answer)

        with contextlib.suppress(RuntimeError):  # the loop closed (an abort)
            loop.call_soon_threadsafe(deliver)

    def _on_death(self, proc: _Process) -> None:
        """A worker died mid-run: its jobs in flight end unrecorded, the run stops."""
        in_flight = len(proc.pending)
        jobs = f" with {in_flight} job{'s' if in_flight != 1 else ''} in flight"
        lost = WorkerLost(
            f"{proc.death(jobs)}; the results already returned are kept; "
            "rerun the same command to resume"
        )
        log.info("%s", lost)  # INFO: the run ends with it as its one message (the CLI prints it)
        if self._lost is None:
            self._lost = lost
        loop = self._loop
        if loop is None:
            return

        def fail() -> None:
            for pending in list(proc.pending.values()):
                if not pending.future.done():
                    pending.future.set_result(("lost",))
            proc.pending.clear()

        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(fail)

    @property
    def lost(self) -> WorkerLost | None:
        """The first worker that died mid-run, if any."""
        return self._lost

    def finish(self) -> list[ConcurrencyHistory]:
        """Stop the workers once their jobs ended; their limits' histories (of those that sent one)."""
        self._stopping = True
        if self._watcher is not None:
            self._watcher.cancel()
        for proc in self.processes:
            proc.send("stop")
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for proc in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(max(0.0, deadline - time.monotonic()))
        self.close()
        return [p.history for p in self.processes if p.history is not None]

    def close(self) -> None:
        """Kill what still runs and close the pipes (idempotent)."""
        self._stopping = True
        for proc in self.processes:
            if proc.popen.poll() is None:
                proc.popen.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(5.0)
            for stream in (proc.stdin, proc.stdout, proc.popen.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
