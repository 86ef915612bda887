"""The emulator's lifecycle: build the services, bind loopback ports, start and stop cleanly.

gRPC is served by a ``grpc.aio`` server on an asyncio event loop that runs on
one background thread of its own ("emulator-grpc"), so calls in flight cost no
thread each: ten thousand delayed calls are ten thousand timers. Handlers are
``async``; the generation they do (text, JSON, PNG) is quick CPU work and runs
on the loop. The image HTTP host and the batch worker keep their threads.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from types import TracebackType
from typing import Any, TypeVar

import grpc

from xai_pipelines.emulator.auth import KeyPolicy
from xai_pipelines.emulator.batch_service import BatchService, BatchWorker
from xai_pipelines.emulator.batch_state import BatchState
from xai_pipelines.emulator.catalog import Catalog
from xai_pipelines.emulator.chat_engine import ChatEngine
from xai_pipelines.emulator.chat_service import ChatService
from xai_pipelines.emulator.config import EmulatorConfig, FaultConfig
from xai_pipelines.emulator.faults import FaultInjector
from xai_pipelines.emulator.files_service import FilesService, PublicUrls
from xai_pipelines.emulator.files_store import FileStore
from xai_pipelines.emulator.http_host import ImageHost
from xai_pipelines.emulator.image_files import FileImageEngine, FileImageService
from xai_pipelines.emulator.interceptor import EmulatorInterceptor, Waits
from xai_pipelines.emulator.models_service import ModelsService, TokenizeService
from xai_pipelines.emulator.prompt_cache import PromptCache
from xai_pipelines.emulator.ratelimit import RateLimiter
from xai_pipelines.emulator.scripted import Script, load_rules
from xai_pipelines.emulator.stats import EmulatorStats, StatsRecorder
from xai_pipelines.emulator.store import CompletionStore
from xai_pipelines.eventloop import new_event_loop
from xai_pipelines.proto import (
    batch_pb2_grpc,
    chat_pb2_grpc,
    files_pb2_grpc,
    image_pb2_grpc,
    models_pb2_grpc,
    tokenize_pb2_grpc,
)

#: Seconds in-flight calls get to finish at stop before they are cancelled.
STOP_GRACE_S = 1.0
#: Collector thresholds of a process that only serves (see :func:`tune_gc_for_serving`).
SERVING_GC_THRESHOLDS = (2000, 20, 20)
_MAX_MESSAGE = 20 * 1024 * 1024
T = TypeVar("T")


def tune_gc_for_serving() -> None:
    """Tune the garbage collector of a process that only serves (``xai-run serve``).

    What was loaded at start-up (modules, catalog, stubs: ~68,000 objects) is frozen
    out of every later collection, and young collections run less often. Calls in
    flight are the live objects then: at 3,000 in flight with 2 s latency the
    collector took 0.072-0.078 ms of CPU per call, and 0.024-0.027 ms after this
    (``gc.callbacks`` timing, two runs each, 2026-11-29). Process-wide, so an
    :class:`Emulator` never does it itself: a test's or an application's collector
    is left alone.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_GC_THRESHOLDS)


class _LoopThread:
    """An asyncio event loop running on a thread of its own until :meth:`close`."""

    def __init__(self, name: str) -> None:
        self.loop = new_event_loop("emulator")
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        # Like asyncio.run: end what is left, then the loop's async generators.
        tasks = asyncio.all_tasks(self.loop)
        for task in tasks:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and wait for its result (from another thread)."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result()

    def close(self) -> None:
        """Stop the loop and join its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()


class Emulator:
    """A local xAI API on loopback: gRPC (plaintext) plus an HTTP host for image and file URLs.

    Use as a context manager (or call :meth:`start` / :meth:`stop`)::

        with Emulator() as emu:
            channel = grpc.insecure_channel(emu.address)

    Args:
        config: Behaviour, accepted keys and faults; defaults accept any non-empty key.

    Raises:
        ScriptError: When ``config.responses_file`` is malformed.
        OSError: From :meth:`start`, when a port cannot be bound.
    """

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self._keys = KeyPolicy(self.config.api_keys)
        self._stats = StatsRecorder()
        self._faults = FaultInjector(self.config.faults)
        rules = load_rules(self.config.responses_file) if self.config.responses_file else []
        self.catalog = Catalog(self.config.reasoning_models)
        self.completions = CompletionStore(
            self.config.deferred_pending_s, self.config.deferred_retention_s
        )
        self._server: grpc.aio.Server | None = None
        self._loop: _LoopThread | None = None
        self._waits: Waits | None = None
        self._image_host: ImageHost | None = None
        self._batch_worker: BatchWorker | None = None
        self.batches = BatchState()
        self.files = FileStore(self.config.files_quota_bytes)
        self.prompt_cache = PromptCache()
        self._script = Script(rules)
        self._port = 0

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Bind the ports and start serving; returns self."""
        if self._server is not None:
            raise RuntimeError("emulator already started")
        host = ImageHost(self.config.host, self.config.http_port)
        urls = PublicUrls(self.files, host)
        chat = ChatEngine(
            self.catalog, self.completions, self._script, self.files, urls.lookup, self.prompt_cache
        )
        images = FileImageEngine(self.catalog, host, self.files, urls)
        worker = BatchWorker(self.batches, chat, images, self.config.batch_request_delay_s)
        waits = Waits()
        interceptor = EmulatorInterceptor(
            self._keys, self._faults, RateLimiter(), self._stats, waits
        )

        async def serve() -> tuple[grpc.aio.Server, int]:
            # A grpc.aio server belongs to the loop it is made on.
            server = grpc.aio.server(
                interceptors=[interceptor],
                maximum_concurrent_rpcs=self.config.max_concurrent_rpcs,
                options=self._server_options(),
            )
            chat_pb2_grpc.add_ChatServicer_to_server(ChatService(chat), server)
            image_pb2_grpc.add_ImageServicer_to_server(FileImageService(images), server)
            files_pb2_grpc.add_FilesServicer_to_server(FilesService(self.files, urls), server)
            models_pb2_grpc.add_ModelsServicer_to_server(ModelsService(self.catalog), server)
            tokenize_pb2_grpc.add_TokenizeServicer_to_server(TokenizeService(self.catalog), server)
            batch_pb2_grpc.add_BatchMgmtServicer_to_server(
                BatchService(self.batches, worker, self.files), server
            )
            port = self._bind(server)
            await server.start()
            return server, port

        loop = _LoopThread("emulator-grpc")
        try:
            server, port = loop.run(serve())
        except BaseException:
            loop.close()
            host.stop()
            raise
        try:
            host.start()
            worker.start()
        except BaseException:
            loop.run(server.stop(None))
            loop.close()
            host.stop()
            worker.stop()
            raise
        self._server, self._loop, self._waits = server, loop, waits
        self._image_host, self._port, self._batch_worker = host, port, worker
        return self

    def _bind(self, server: grpc.aio.Server) -> int:
        where = f"{self.config.host}:{self.config.port}"
        try:
            port = server.add_insecure_port(where)
        except RuntimeError as exc:  # grpc reports a failed bind this way
            raise OSError(f"cannot bind the gRPC port {where}: {exc}") from None
        if port == 0:
            raise OSError(f"cannot bind the gRPC port {where}")
        return port

    def _server_options(self) -> list[tuple[str, int]]:
        options = [
            ("grpc.max_receive_message_length", _MAX_MESSAGE),
            ("grpc.max_send_message_length", _MAX_MESSAGE),
            ("grpc.so_reuseport", 0),
            # gRPC core cancels calls waiting for the handler loop to take them once more
            # than 1,000 (at random) or 3,000 (all) are queued (grpc/grpc
            # src/core/server/server.h, pending_backlog_protector_, read 2026-11-29): a
            # burst of thousands of calls queues instead, up to the limit on calls in progress.
            ("grpc.server.max_pending_requests", self.config.max_concurrent_rpcs),
            ("grpc.server.max_pending_requests_hard_limit", self.config.max_concurrent_rpcs),
        ]
        if self.config.max_streams_per_connection is not None:
            options.append(("grpc.max_concurrent_streams", self.config.max_streams_per_connection))
        return options

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """Stop serving, cancel what is left after ``grace`` seconds, and release ports and threads.

        Calls waiting on an injected delay end at once with UNAVAILABLE.
        """
        server, self._server = self._server, None
        if server is None:
            return
        loop, waits = self._loop, self._waits
        assert loop is not None and waits is not None

        async def shutdown(server: grpc.aio.Server) -> None:
            waits.stop()
            await server.stop(grace)

        loop.run(shutdown(server))
        loop.close()
        self._loop = self._waits = None
        if self._image_host is not None:
            self._image_host.stop()
        if self._batch_worker is not None:
            self._batch_worker.stop()
            self._batch_worker = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- what clients need ------------------------------------------------------------------

    @property
    def address(self) -> str:
        """``host:port`` of the gRPC server (plaintext)."""
        self._require_started()
        return f"{self.config.host}:{self._port}"

    @property
    def http_url(self) -> str:
        """Base URL of the HTTP host serving image URLs."""
        self._require_started()
        assert self._image_host is not None
        return self._image_host.base_url

    @property
    def api_key(self) -> str:
        """A key this emulator accepts."""
        return self._keys.a_valid_key()

    @property
    def stats(self) -> EmulatorStats:
        """A snapshot of the call counters."""
        return self._stats.snapshot()

    @property
    def faults(self) -> FaultConfig:
        """The faults in force."""
        return self._faults.config

    def set_faults(self, faults: FaultConfig) -> None:
        """Swap the injected faults (takes effect for calls starting afterwards)."""
        self._faults.set(faults)

    def _require_started(self) -> None:
        if self._server is None:
            raise RuntimeError(
                "emulator is not running; use it as a context manager or call start()"
            )
