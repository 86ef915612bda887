"""A worker process of ``--processes N``: runs the jobs its parent hands it, sends back what they produce.

The parent (:mod:`xai_pipelines.run.processes`) starts ``python -m
xai_pipelines.run.worker`` (a fresh interpreter: gRPC does not survive a fork) and
talks to it over its stdin and stdout, one frame per message (a 4-byte length,
then a pickle). The first frame is a :class:`WorkerConfig`, which carries the API
key: it never appears in the worker's command line. The worker runs the same chat
and image runners as a one-process run, on its own event loop, thread pool,
async client (its own channels), rate limiter and adaptive concurrency limit,
each with its share of the run's settings; it writes image files and the response
cache itself, and nothing else: the parent records every result and error line.

A worker ignores SIGINT and SIGTERM (the parent decides when jobs stop: a terminal's
Ctrl-C reaches the whole process group) and dies with its parent: the kernel sends
it SIGKILL when the parent dies (``PR_SET_PDEATHSIG``), and it exits when its
stdin closes.

Messages from the parent: ``job`` (a job's plan line), ``cancel`` (one job's task:
the parent's grace period ran out), ``abort`` (no further call: jobs waiting for a
retry give up), ``recorded`` (the job's line is written: store it in the cache),
``stop`` (send the limit's history and exit). To the parent: ``ready``, ``result``,
``failed``, ``write_error``, ``attempt`` (a failed attempt that will be retried),
``say`` (a message for the user), ``log`` (a log record), ``history``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import pickle
import signal
import struct
import sys
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from xai_pipelines.eventloop import new_event_loop
from xai_pipelines.report import ModelPrice
from xai_pipelines.run.jobrun import RunnerSettings
from xai_pipelines.spec.model import Cache

#: A frame's header: the length of the pickle that follows.
_HEADER = struct.Struct("!I")
#: ``prctl`` option: the signal the kernel sends this process when its parent dies.
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class WorkerConfig:
    """What a worker needs to run its share of the plan (sent as its first frame).

    Attributes:
        index: The worker's number (0-based), for messages.
        run_id: The run's id (job spans, cache provenance).
        endpoint: API host.
        api_key: The key (None: the worker's ``XAI_API_KEY``); sent through the pipe only.
        out_dir: The run's output directory (image files).
        settings: Deadlines and the grader model.
        prices: Model name -> price, as the parent read them.
        concurrency: This worker's share of ``execution.concurrency``.
        calls_per_connection: Calls one channel carries before another is opened.
        max_attempts: ``execution.retries.max_attempts``.
        initial_backoff_s: ``execution.retries.initial_backoff``.
        max_backoff_s: ``execution.retries.max_backoff``.
        requests_per_minute: This worker's share of the client rate limit (None: none).
        tokens_per_minute: This worker's share of the token limit (None: none).
        cache: ``execution.cache`` (None: no cache).
        cache_backend: The cache's backend id (computed by the parent).
        served: Model names and aliases the API listed -> the model's own name.
        log_level: Lowest level of the records sent to the parent's ``run.log``.
    """

    index: int
    run_id: str
    endpoint: str
    api_key: str | None
    out_dir: Path
    settings: RunnerSettings
    prices: Mapping[str, ModelPrice]
    concurrency: int
    calls_per_connection: int
    max_attempts: int
    initial_backoff_s: float
    max_backoff_s: float
    requests_per_minute: float | None
    tokens_per_minute: float | None
    cache: Cache | None
    cache_backend: str
    served: Mapping[str, str]
    log_level: int = logging.INFO

    def __repr__(self) -> str:  # never the key, should this ever be logged
        return (
            f"WorkerConfig(index={self.index}, run_id={self.run_id!r}, endpoint={self.endpoint!r})"
        )


def write_frame(stream: IO[bytes], message: tuple[Any, ...], *, flush: bool = True) -> None:
    """Send one message (the caller holds the stream's lock); ``flush=False`` leaves it in
    the stream's buffer for a later flush, so a burst of messages costs one write."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    if flush:
        stream.flush()


class FrameReader:
    """Reads frames from a pipe's file descriptor, as many as have arrived at once.

    One ``read`` takes whatever the pipe holds, so a burst of messages costs one system
    call and one hand-off to the event loop, not one each.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = bytearray()

    def read(self) -> list[tuple[Any, ...]] | None:
        """The messages that arrived (waits for at least one); None at the end of the stream."""
        while True:
            messages = self._parse()
            if messages:
                return messages
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                return None
            self._buffer += chunk

    def _parse(self) -> list[tuple[Any, ...]]:
        messages: list[tuple[Any, ...]] = []
        buffer, at = self._buffer, 0
        while len(buffer) - at >= _HEADER.size:
            (size,) = _HEADER.unpack_from(buffer, at)
            end = at + _HEADER.size + size
            if len(buffer) < end:
                break
            # our own parent or child wrote the frame
            message = pickle.loads(memoryview(buffer)[at + _HEADER.size : end])
            assert isinstance(message, tuple)
            messages.append(message)
            at = end
        if at:
            del buffer[:at]
        return messages


class _Channel:
    """The worker's end of the pipe to its parent: frames out (from any thread)."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self._lock = threading.Lock()
        self._flush_due = False

    def send(self, *message: Any) -> None:
        """Send a message now."""
        with self._lock:
            write_frame(self.out, message)

    def send_soon(self, loop: asyncio.AbstractEventLoop, *message: Any) -> None:
        """Send a message from the loop's thread, flushed once the loop's current round
        ends (with every other message of that round)."""
        with self._lock:
            write_frame(self.out, message, flush=False)
            if self._flush_due:
                return
            self._flush_due = True
        loop.call_soon(self._flush)

    def _flush(self) -> None:
        with self._lock:
            self._flush_due = False
            self.out.flush()


class _Relay:
    """Stands in for the run's sink in the worker's attempt hooks: each failed attempt
    that will be retried becomes an ``attempt`` message (the parent writes its line)."""

    def __init__(self, channel: _Channel) -> None:
        self.channel = channel

    def attempt_failed(
        self, job: Any, code: str, message: str, attempt: int, request_id: str | None = None
    ) -> None:
        """Send a failed attempt that will be retried to the parent."""
        self.channel.send("attempt", job.id, code, message, attempt, request_id)


class _LogRelay(logging.Handler):
    """Sends the worker's log records to the parent's ``run.log``."""

    def __init__(self, channel: _Channel, index: int) -> None:
        super().__init__()
        self.channel = channel
        self.index = index

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + logging.Formatter().formatException(record.exc_info)
            self.channel.send("log", record.levelno, record.name, f"[worker {self.index}] {text}")
        except Exception:
            self.handleError(record)


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this process when its parent dies (Linux); exit if it already has."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # reparented: the parent may have died before prctl
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:  # alive (and someone else's: a wrapper between us)
            pass


class Worker:
    """The worker's runners and event loop (see the module docstring).

    Args:
        config: The parent's first frame.
        channel: Frames to the parent.
    """

    def __init__(self, config: WorkerConfig, channel: _Channel) -> None:
        self.config = config
        self.channel = channel
        self.abort = threading.Event()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._recorded: dict[str, Callable[[], None]] = {}
        self._stopped: asyncio.Event | None = None

    def _open(self) -> None:
        # imported here: the heavy modules load once the parent's config arrived
        from opentelemetry import trace

        from xai_pipelines.run.adaptive import AdaptiveConcurrency
        from xai_pipelines.run.attempts import AttemptHooks
        from xai_pipelines.run.cache import JobCache, ModelResolver, ResponseCache
        from xai_pipelines.run.chat_job import ChatRunner
        from xai_pipelines.run.image_job import ImageRunner
        from xai_pipelines.run.ratelimit import RateLimiter
        from xai_pipelines.run.sink import ResultSink
        from xai_pipelines.run.telemetry import run_context
        from xai_pipelines.sdk import Client
        from xai_pipelines.sdk.aio import AsyncClient
        from xai_pipelines.store import OutputDir

        c = self.config
        limiter = RateLimiter(c.requests_per_minute, c.tokens_per_minute)
        adaptive = AdaptiveConcurrency(c.concurrency)
        # the hooks only call the sink's attempt_failed: the relay's
        self.hooks = AttemptHooks(
            cast(ResultSink, _Relay(self.channel)), limiter, self.abort, adaptive
        )
        policy = self.hooks.policy(c.max_attempts, c.initial_backoff_s, c.max_backoff_s)
        timeout = c.settings.call_timeout_s
        self.client = Client(
            api_key=c.api_key,
            api_host=c.endpoint,
            timeout=timeout,
            retry_policy=policy,
            channels=max(1, c.concurrency // 64 + 1),
        )
        self.aclient = AsyncClient(
            api_key=c.api_key,
            api_host=c.endpoint,
            timeout=timeout,
            retry_policy=policy,
            channels=max(1, -(-c.concurrency // c.calls_per_connection)),
            calls_per_channel=c.calls_per_connection,
        )
        self.store = None if c.cache is None else ResponseCache(c.cache.dir, c.cache.ttl_s)
        cache = None
        if self.store is not None:
            resolver = ModelResolver(live=c.served)
            cache = JobCache(
                self.store, c.cache_backend, resolver, c.run_id,
                notify=lambda text: self.channel.send("say", text),
            )  # fmt: skip
        tracer = trace.get_tracer_provider().get_tracer("xai_pipelines.run")
        shared: dict[str, Any] = {
            "settings": c.settings,
            "prices": c.prices,
            "run_id": c.run_id,
            "run_context": run_context(c.run_id, trace.INVALID_SPAN),
            "tracer": tracer,
            "cache": cache,
        }
        self.chat = ChatRunner(self.client, self.hooks, self.aclient, **shared)
        self.image = ImageRunner(self.client, self.hooks, OutputDir(c.out_dir), self.aclient,
                                 **shared)  # fmt: skip

    def close(self) -> None:
        """Close the sync client and the cache (the async client closes on the loop)."""
        with contextlib.suppress(Exception):
            self.aclient.image.close()
        with contextlib.suppress(Exception):
            self.client.close()
        if self.store is not None:
            with contextlib.suppress(Exception):
                self.store.close()

    def run(self, inbox: FrameReader) -> None:
        """Run jobs until the parent says ``stop`` or goes away."""
        self._open()
        pool = ThreadPoolExecutor(min(self.config.concurrency, 32), thread_name_prefix="job")
        loop = new_event_loop("worker")
        loop.set_default_executor(pool)
        try:
            loop.run_until_complete(self._main(loop, inbox))
        finally:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.wait(pending, timeout=1.0))
            loop.run_until_complete(self.aclient.close())
            pool.shutdown(wait=not self.abort.is_set(), cancel_futures=self.abort.is_set())
            loop.close()
            self.close()

    async def _main(self, loop: asyncio.AbstractEventLoop, inbox: FrameReader) -> None:
        self._stopped = asyncio.Event()
        reader = threading.Thread(target=self._read, args=(loop, inbox), daemon=True)
        reader.start()
        self.channel.send("ready", os.getpid())
        await self._stopped.wait()

    def _read(self, loop: asyncio.AbstractEventLoop, inbox: FrameReader) -> None:
        """The inbox, on its own thread: the messages handled on the loop, in order."""
        while True:
            messages = inbox.read()
            if messages is None:  # the parent is gone: nothing can be recorded any more
                os._exit(1)
            loop.call_soon_threadsafe(self._handle_all, messages)
            if any(m[0] == "stop" for m in messages):
                return

    def _handle_all(self, messages: list[tuple[Any, ...]]) -> None:
        for message in messages:
            self._handle(message)

    def _handle(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "job":
            from xai_pipelines.plan import job_from_dict

            job = job_from_dict(message[1])
            self._tasks[job.id] = asyncio.get_running_loop().create_task(self._work(job))
        elif kind == "cancel":
            task = self._tasks.get(message[1])
            if task is not None:
                task.cancel()
        elif kind == "abort":
            self.abort.set()
        elif kind == "recorded":
            store = self._recorded.pop(message[1], None)
            if store is not None:
                asyncio.get_running_loop().run_in_executor(None, store)
        elif kind == "stop":
            asyncio.get_running_loop().create_task(self._stop())

    async def _stop(self) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()))
        if self.hooks.adaptive is not None:
            self.channel.send("history", self.hooks.adaptive.history())
        assert self._stopped is not None
        self._stopped.set()

    async def _work(self, job: Any) -> None:
        from xai_pipelines.plan import ChatJob
        from xai_pipelines.run.executor import is_fatal
        from xai_pipelines.run.outcome import JobFailed
        from xai_pipelines.store import WriteError

        try:
            runner = self.chat if isinstance(job, ChatJob) else self.image
            result = await runner.arun(job)
        except asyncio.CancelledError:  # the parent's grace period ran out
            self.channel.send("cancelled", job.id)
        except JobFailed as failure:
            self.channel.send(
                "failed", job.id, failure.code, failure.message, failure.attempts,
                failure.request_id, is_fatal(failure),
            )  # fmt: skip
        except WriteError as exc:  # a file of the job (an image) could not be written
            self.channel.send("write_error", job.id, str(exc.path), exc.error.errno,
                              exc.error.strerror or str(exc.error))  # fmt: skip
        except Exception as exc:  # a bug in a runner fails its job, as in one process
            logging.getLogger(__name__).exception(
                "job %s: the runner raised %s", job.id, type(exc).__name__
            )
            self.channel.send("failed", job.id, "CLIENT_ERROR", f"{type(exc).__name__}: {exc}",
                              0, None, False)  # fmt: skip
        else:
            if result.recorded is not None:
                self._recorded[job.id] = result.recorded
            deferred = [
                (str(d.path), d.write, d.error.error.errno, d.error.error.strerror or "")
                for d in result.deferred
            ]
            self.channel.send_soon(
                asyncio.get_running_loop(), "result", job.id, result.line, result.tokens, result.images,
                result.cost_ticks, result.recorded is not None, deferred,
            )  # fmt: skip
        finally:
            self._tasks.pop(job.id, None)


def main() -> None:
    """The worker process: ``python -m xai_pipelines.run.worker`` (started by the parent)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    parent = int(os.environ.get("XAI_PIPELINES_PARENT_PID", os.getppid()))
    _die_with_parent(parent)
    # the pipe to the parent is a copy of stdout; stdout itself goes to stderr, so no
    # stray print can break a frame
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    inbox = FrameReader(0)
    channel = _Channel(out)
    first = inbox.read()
    if not first or first[0][0] != "init" or len(first) > 1:
        sys.exit(1)
    config: WorkerConfig = first[0][1]
    root = logging.getLogger()
    root.setLevel(config.log_level)
    root.addHandler(_LogRelay(channel, config.index))
    Worker(config, channel).run(inbox)
    out.flush()


if __name__ == "__main__":
    main()
