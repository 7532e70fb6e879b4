"""A local download mirror for tests: an HTTP server on 127.0.0.1 that can misbehave on purpose.

Usage::

    with LoopbackMirror({"/mnist/t10k-labels-idx1-ubyte.gz": path_or_bytes}) as mirror:
        load(..., mirrors=[mirror.url("/mnist/")])
        mirror.requests  # [(path, status), ...] in order

A route maps a URL path to bytes, a file path, or a :class:`Route` that says how
to misbehave: ``status=404`` answers an error, ``corrupt=True`` flips bytes in
the body, ``cut_after=n`` announces the full length but closes the connection
after ``n`` bytes. Unknown paths answer 404.

The server binds port 0 (a free port), runs in a daemon thread, and stops when
the ``with`` block ends -- or by itself after ``lifetime`` seconds, so a test
that hangs or forgets cannot leave it running. Nothing here touches a network:
only the loopback interface.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

__all__ = ["Route", "LoopbackMirror", "dead_url", "dataset_routes"]


@dataclass(frozen=True)
class Route:
    """What one URL path answers. ``body`` may be bytes or a file path."""

    body: bytes | Path | None = None
    status: int = 200
    corrupt: bool = False  # flip every byte of a 64-byte stretch in the middle of the body
    cut_after: int | None = None  # send this many bytes of the body, then drop the connection

    def payload(self) -> bytes:
        data = Path(self.body).read_bytes() if isinstance(self.body, (str, Path)) else (self.body or b"")
        if self.corrupt and data:
            mid = len(data) // 2
            data = data[:mid] + bytes(b ^ 0xFF for b in data[mid : mid + 64]) + data[mid + 64 :]
        return data


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a request thread still running never blocks interpreter exit
    allow_reuse_address = False


class LoopbackMirror:
    """An HTTP server on 127.0.0.1 serving ``routes``; a context manager."""

    def __init__(self, routes: Mapping[str, bytes | Path | Route], *, lifetime: float = 120.0) -> None:
        self.routes = {p: r if isinstance(r, Route) else Route(body=r) for p, r in routes.items()}
        self.requests: list[tuple[str, int]] = []
        self._lifetime = lifetime
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._watchdog: threading.Timer | None = None

    # -- life cycle
    def __enter__(self) -> LoopbackMirror:
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10  # seconds a silent client may hold a handler thread

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
                route = mirror.routes.get(self.path.split("?")[0])
                if route is None or route.status != 200:
                    status = 404 if route is None else route.status
                    mirror.requests.append((self.path, status))
                    self.send_error(status)
                    return
                data = route.payload()
                mirror.requests.append((self.path, 200))
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if route.cut_after is None:
                    self.wfile.write(data)
                    return
                self.wfile.write(data[: route.cut_after])
                self.wfile.flush()
                self.close_connection = True
                # Drop the connection half-way: the client sees fewer bytes than announced.
                self.connection.shutdown(socket.SHUT_RDWR)

            def do_HEAD(self) -> None:  # noqa: N802
                route = mirror.routes.get(self.path.split("?")[0])
                self.send_response(404 if route is None else route.status)
                self.end_headers()

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name="loopback-mirror"
        )
        self._thread.start()
        self._watchdog = threading.Timer(self._lifetime, self.stop)
        self._watchdog.daemon = True
        self._watchdog.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop serving and release the port (idempotent; also called by the watchdog)."""
        server, self._server = self._server, None
        if self._watchdog is not None and threading.current_thread() is not self._watchdog:
            self._watchdog.cancel()
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    # -- addresses
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the mirror is not running (use it in a `with` block)")
        return self._server.server_address[1]

    def url(self, path: str = "/") -> str:
        """``http://127.0.0.1:<port><path>``."""
        return f"http://127.0.0.1:{self.port}{path}"

    def served(self, status: int | None = None) -> list[str]:
        """Paths requested so far (only those answered with ``status``, if given)."""
        return [p for p, s in self.requests if status is None or s == status]


def dead_url(path: str = "/") -> str:
    """A loopback URL where nothing listens (connection refused): a mirror that is down."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # The port is free again once closed; nothing in the tests listens on it.
    return f"http://127.0.0.1:{port}{path}"


def dataset_routes(prefix: str, folder: Path, filenames: list[str]) -> dict[str, Route]:
    """Routes serving ``folder/<file>`` at ``<prefix><file>`` for each file that exists."""
    return {f"{prefix}{name}": Route(body=folder / name) for name in filenames if (folder / name).is_file()}
