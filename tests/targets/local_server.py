"""What every local fake server shares: a real HTTP server on 127.0.0.1 in background threads
that records each request, can stop and start again on the same port (an outage), and joins
every thread it started when stopped. The webhook receiver (``webhook_server``) and the fake
APIs (``fake_base``) build on it; each brings its own request handler."""

from __future__ import annotations

import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class _HTTPServer(ThreadingHTTPServer):
    """Tracks its handler threads so ``stop()`` can join them instead of leaking them."""

    daemon_threads = True
    block_on_close = False
    # socketserver's default backlog of 5 refuses bursts of concurrent deliveries on a busy machine.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], owner: LocalServer):
        self.owner = owner
        super().__init__(address, owner.handler_class)

    def server_bind(self) -> None:
        if _SO_TIMESTAMPNS is not None:  # the connections it accepts inherit the option
            self.socket.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        super().server_bind()

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._run_handler,
            args=(request, client_address),
            daemon=True,
            name=f"{self.owner.name}-handler",
        )
        self.owner._track(thread)
        thread.start()

    def _run_handler(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            self.owner._untrack(threading.current_thread())

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that time out and hang up are normal here; stay quiet about them."""


# Linux stamps each packet as it arrives (SO_TIMESTAMPNS, socket(7); the value of the constant
# in <asm-generic/socket.h>, which Python's socket module does not name everywhere).
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35) if sys.platform == "linux" else None


def first_bytes_arrival(connection: socket.socket) -> float:
    """When a request's first bytes reached this host: the kernel's stamp of the packet that brought
    them (Linux), read without taking them (MSG_PEEK); elsewhere, or for a connection that sent
    nothing, now. A time taken when the handler thread has read the request would be late by as
    long as that thread waited for a core or the interpreter lock: on a loaded machine, hundreds of
    milliseconds, which bunches requests that came spaced (tests/targets/test_arrival_times.py)."""
    if _SO_TIMESTAMPNS is not None:
        try:
            _data, ancillary, _flags, _address = connection.recvmsg(1, socket.CMSG_SPACE(16), socket.MSG_PEEK)
        except OSError:
            ancillary = []
        for level, kind, raw in ancillary:
            if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(raw) >= 16:
                seconds, nanoseconds = struct.unpack("qq", raw[:16])
                return seconds + nanoseconds / 1e9
    return time.time()


class LocalServer:
    """Lifecycle, request log and thread bookkeeping. Thread-safe; ``start()``/``stop()``/
    ``restart()`` keep the port. Subclasses set ``name`` and ``handler_class``."""

    name = "server"
    handler_class: type[BaseHTTPRequestHandler]

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host, self.port = host, port
        self._lock = threading.Lock()
        self._lifecycle = threading.RLock()
        self._requests: list[Any] = []
        self._handlers: set[threading.Thread] = set()
        self._in_flight = 0
        self.max_in_flight = 0  # the most requests received and not yet answered at one time
        self._httpd: _HTTPServer | None = None
        self._serve_thread: threading.Thread | None = None
        self.stopping = threading.Event()
        #: Called (in the handler thread) after each request is answered or dropped.
        self.on_answer: Callable[[Any], None] | None = None

    @property
    def base_url(self) -> str:
        """e.g. ``http://127.0.0.1:8102`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def start(self) -> Self:
        """Listen (again) on the same port; the first start picks a free port."""
        with self._lifecycle:
            if self._httpd is not None:
                return self
            self.stopping = threading.Event()
            self._httpd = _HTTPServer((self.host, self.port), self)
            self.port = self._httpd.server_address[1]
            self._serve_thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                daemon=True,
                name=f"{self.name}-server-{self.port}",
            )
            self._serve_thread.start()
        return self

    def stop(self, join_timeout: float = 5.0) -> None:
        """Close the listening socket (connections are refused from now on), wake hanging
        handlers (they drop their connection unanswered) and join every thread."""
        with self._lifecycle:
            httpd, self._httpd = self._httpd, None
            if httpd is None:
                return
            self.stopping.set()
            httpd.shutdown()
            httpd.server_close()
            if self._serve_thread is not None:
                self._serve_thread.join(join_timeout)
        with self._lock:
            others = [t for t in self._handlers if t is not threading.current_thread()]
        for thread in others:
            thread.join(join_timeout)

    def restart(self) -> Self:
        self.stop()
        return self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def requests(self) -> list[Any]:
        """A snapshot of every request received, in arrival order."""
        with self._lock:
            return list(self._requests)

    def wait_for(self, predicate: Callable[[Self], bool], timeout: float = 10.0) -> bool:
        """Poll ``predicate(self)`` until true (returns True) or ``timeout`` passes (False)."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate(self):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    # -- used by the handler ---------------------------------------------------------------
    def _record(self, request: Any) -> None:
        with self._lock:
            self._requests.append(request)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _set_status(self, request: Any, code: int | None) -> None:
        with self._lock:
            if not request.finished:
                self._in_flight -= 1
            request.status = code
            request.finished = True
        if self.on_answer is not None:
            self.on_answer(request)

    def _track(self, thread: threading.Thread) -> None:
        with self._lock:
            self._handlers.add(thread)

    def _untrack(self, thread: threading.Thread) -> None:
        with self._lock:
            self._handlers.discard(thread)


class RecordingHandler(BaseHTTPRequestHandler):
    """HTTP/1.0: one request per connection, so ``stop()`` never leaves keep-alive sockets open.
    Every method goes to ``_handle``; subclasses decide the answer."""

    arrived_at: float  # when the request's first bytes reached this host (``first_bytes_arrival``)

    def setup(self) -> None:
        super().setup()
        self.arrived_at = first_bytes_arrival(self.connection)

    @property
    def owner(self) -> Any:
        return self.server.owner  # type: ignore[attr-defined]

    def do_POST(self) -> None:
        self._handle()

    do_GET = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_POST

    def _handle(self) -> None:
        raise NotImplementedError

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line; the recorded requests are the log."""

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _drop(self, record: Any) -> None:
        self.close_connection = True
        self.owner._set_status(record, None)

    def _send(self, record: Any, code: int, headers: dict[str, str], body: bytes) -> None:
        # Recorded before writing: a server commits its effect even if the client has hung up.
        self.owner._set_status(record, code)
        try:
            self.send_response(code)
            for name, value in headers.items():
                self.send_header(name, value)
            if body and not any(n.lower() == "content-type" for n in headers):
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
