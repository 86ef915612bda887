"""The emulator's lifecycle: build the services, bind loopback ports, start and stop cleanly."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType

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
from xai_pipelines.emulator.interceptor import EmulatorInterceptor
from xai_pipelines.emulator.models_service import ModelsService, TokenizeService
from xai_pipelines.emulator.prompt_cache import PromptCache
from xai_pipelines.emulator.ratelimit import RateLimiter
from xai_pipelines.emulator.scripted import Script, load_rules
from xai_pipelines.emulator.stats import EmulatorStats, StatsRecorder
from xai_pipelines.emulator.store import CompletionStore
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
_MAX_MESSAGE = 20 * 1024 * 1024


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
        self._stopping = threading.Event()
        rules = load_rules(self.config.responses_file) if self.config.responses_file else []
        self.catalog = Catalog(self.config.reasoning_models)
        self.completions = CompletionStore(
            self.config.deferred_pending_s, self.config.deferred_retention_s
        )
        self._server: grpc.Server | None = None
        self._executor: ThreadPoolExecutor | None = None
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
        self._stopping.clear()
        host = ImageHost(self.config.host, self.config.http_port)
        urls = PublicUrls(self.files, host)
        chat = ChatEngine(
            self.catalog, self.completions, self._script, self.files, urls.lookup, self.prompt_cache
        )
        images = FileImageEngine(self.catalog, host, self.files, urls)
        executor = ThreadPoolExecutor(
            max_workers=self.config.max_workers, thread_name_prefix="emulator-grpc"
        )
        interceptor = EmulatorInterceptor(
            self._keys, self._faults, RateLimiter(), self._stats, self._stopping
        )
        server = grpc.server(
            executor,
            interceptors=[interceptor],
            maximum_concurrent_rpcs=self.config.max_concurrent_rpcs,
            options=self._server_options(),
        )
        chat_pb2_grpc.add_ChatServicer_to_server(ChatService(chat), server)
        image_pb2_grpc.add_ImageServicer_to_server(FileImageService(images), server)
        files_pb2_grpc.add_FilesServicer_to_server(FilesService(self.files, urls), server)
        models_pb2_grpc.add_ModelsServicer_to_server(ModelsService(self.catalog), server)
        tokenize_pb2_grpc.add_TokenizeServicer_to_server(TokenizeService(self.catalog), server)
        worker = BatchWorker(self.batches, chat, images, self.config.batch_request_delay_s)
        batch_pb2_grpc.add_BatchMgmtServicer_to_server(BatchService(self.batches, worker), server)
        try:
            port = self._bind(server)
            server.start()
            host.start()
            worker.start()
        except BaseException:
            server.stop(None)
            executor.shutdown(wait=True)
            host.stop()
            worker.stop()
            raise
        self._server, self._executor, self._image_host, self._port = server, executor, host, port
        self._batch_worker = worker
        return self

    def _bind(self, server: grpc.Server) -> int:
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
        ]
        if self.config.max_streams_per_connection is not None:
            options.append(("grpc.max_concurrent_streams", self.config.max_streams_per_connection))
        return options

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """Stop serving, cancel what is left after ``grace`` seconds, and release ports and threads."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.stop(grace).wait()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
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
