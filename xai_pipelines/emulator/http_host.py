"""A small HTTP server on loopback serving generated images, and other content, by URL.

Besides ``/images/<id>.png`` it serves whatever a mounted resolver returns under
its path prefix (the Files service mounts public file URLs there).
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: Content for a path below a mount point: (bytes, content type), or None for 404.
Resolver = Callable[[str], "tuple[bytes, str] | None"]

#: Images kept for download; older ones are forgotten first.
MAX_IMAGES = 4096


class ImageHost:
    """Holds images in memory and serves them at ``/images/<id>.png``.

    Args:
        host: Interface to bind.
        port: Port (0 picks a free one).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._images: OrderedDict[str, bytes] = OrderedDict()
        self._mounts: dict[str, Resolver] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        # Non-daemon handler threads are joined by server_close, so stop() leaks none.
        self._server.daemon_threads = False
        self._server.block_on_close = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the server."""
        host, port = str(self._server.server_address[0]), self._server.server_address[1]
        if host in ("0.0.0.0", "::", ""):  # bound to every interface: loopback reaches it
            host = "127.0.0.1"
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def put(self, data: bytes, suffix: str = ".png") -> str:
        """Store ``data`` and return the URL it is served at."""
        name = f"{uuid.uuid4().hex}{suffix}"
        with self._lock:
            self._images[name] = data
            while len(self._images) > MAX_IMAGES:
                self._images.popitem(last=False)
        return f"{self.base_url}/images/{name}"

    def get(self, name: str) -> bytes | None:
        """The image stored as ``name``, if still held."""
        with self._lock:
            return self._images.get(name)

    def get_url(self, url: str) -> bytes | None:
        """The image a URL returned by :meth:`put` points at, if still held."""
        prefix = f"{self.base_url}/images/"
        return self.get(url[len(prefix) :]) if url.startswith(prefix) else None

    def mount(self, prefix: str, resolver: Resolver) -> str:
        """Serve ``resolver(rest)`` for ``GET /<prefix>/<rest>``; returns the mount's base URL."""
        with self._lock:
            self._mounts[prefix.strip("/")] = resolver
        return f"{self.base_url}/{prefix.strip('/')}"

    def _resolve(self, path: str) -> tuple[bytes, str] | None:
        prefix = "/images/"
        if path.startswith(prefix):
            data = self.get(path[len(prefix) :])
            return None if data is None else (data, "image/png")
        head, _, rest = path.lstrip("/").partition("/")
        with self._lock:
            resolver = self._mounts.get(head)
        return resolver(rest) if resolver is not None and rest else None

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="emulator-http",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        host = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10  # a silent client cannot hold a handler thread (and stop()) forever

            def do_GET(self) -> None:
                found = host._resolve(self.path.split("?", 1)[0])
                if found is None:
                    self.send_error(404, "not found")
                    return
                data, content_type = found
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                return  # keep test output and `xai-run serve` quiet

        return Handler
