"""A real HTTP webhook receiver on 127.0.0.1 for testing fan-out delivery end to end.

Why a real server rather than ``responses``/mocks: the engine's retries, timeouts, connection
errors and signature code must run for real, and a Celery worker in another process must be
able to reach the receiver. The server checks our webhook contract strictly (400 with a reason),
records every request, answers from a script of behaviours, and can stop and start again on the
same port to simulate an outage. Run it standalone with
``python -m tests.targets.webhook_server --port 8099 --secret S``.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import Any

from tests.targets.behaviours import Behaviour, hang, ok, refuse, retry_after, status
from tests.targets.webhook_handler import RecordedRequest, WebhookHandler

__all__ = ["Behaviour", "RecordedRequest", "WebhookServer", "hang", "ok", "refuse", "retry_after", "status"]

DEFAULT_SECRET = "test-webhook-secret"


class _HTTPServer(ThreadingHTTPServer):
    """Tracks its handler threads so ``stop()`` can join them instead of leaking them."""

    daemon_threads = True
    block_on_close = False
    # socketserver's default backlog of 5 refuses bursts of concurrent deliveries on a busy machine.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], owner: WebhookServer):
        self.owner = owner
        super().__init__(address, WebhookHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._run_handler, args=(request, client_address), daemon=True, name="webhook-handler"
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


class WebhookServer:
    """The fake receiver. Thread-safe; ``start()``/``stop()`` may be repeated on the same port."""

    def __init__(
        self, secret: str = DEFAULT_SECRET, host: str = "127.0.0.1", port: int = 0, path: str = "/hook",
        max_signature_age: int = 300,
    ):
        self.secret, self.host, self.path, self.max_signature_age = secret, host, path, max_signature_age
        self.port = port
        self._lock = threading.Lock()
        self._lifecycle = threading.RLock()
        self._requests: list[RecordedRequest] = []
        self._queue: deque[Behaviour] = deque()
        self._default: Behaviour = ok()
        self._handlers: set[threading.Thread] = set()
        self._httpd: _HTTPServer | None = None
        self._serve_thread: threading.Thread | None = None
        self.stopping = threading.Event()
        #: Called (in the handler thread) after each request is answered or dropped.
        self.on_answer: Callable[[RecordedRequest], None] | None = None

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def start(self) -> WebhookServer:
        """Listen (again) on the same port; the first start picks a free port."""
        with self._lifecycle:
            if self._httpd is not None:
                return self
            self.stopping = threading.Event()
            self._httpd = _HTTPServer((self.host, self.port), self)
            self.port = self._httpd.server_address[1]
            self._serve_thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                name=f"webhook-server-{self.port}",
            )
            self._serve_thread.start()
        return self

    def stop(self, join_timeout: float = 5.0) -> None:
        """Close the listening socket (new connections are refused), wake hanging handlers
        (they drop their connection unanswered) and join the handler threads."""
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

    def __enter__(self) -> WebhookServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting answers -----------------------------------------------------------------
    def enqueue(self, *behaviours: Behaviour) -> None:
        """Answer the next valid requests with these behaviours, in order, then the default."""
        with self._lock:
            self._queue.extend(behaviours)

    def set_default(self, behaviour: Behaviour) -> None:
        """The answer once the queue is empty (``ok()`` initially)."""
        with self._lock:
            self._default = behaviour

    def reset(self) -> None:
        """Forget recorded requests and queued behaviours; the default becomes ``ok()``."""
        with self._lock:
            self._requests.clear()
            self._queue.clear()
            self._default = ok()

    # -- observations ----------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received, in arrival order."""
        with self._lock:
            return list(self._requests)

    def accepted(self) -> list[RecordedRequest]:
        """Requests answered 2xx, in arrival order (duplicates included)."""
        return [r for r in self.requests if r.status is not None and 200 <= r.status < 300]

    def distinct_keys(self) -> set[str]:
        """Distinct ``Idempotency-Key`` values among requests answered 2xx."""
        return {r.idempotency_key for r in self.accepted() if r.idempotency_key}

    def effects(self) -> list[Any]:
        """What a receiver deduplicating by ``Idempotency-Key`` would apply: the JSON body of
        the first 2xx request per key, in arrival order."""
        seen: set[str] = set()
        result = []
        for request in self.accepted():
            if request.idempotency_key and request.idempotency_key not in seen:
                seen.add(request.idempotency_key)
                result.append(request.json)
        return result

    def wait_for(self, predicate: Callable[[WebhookServer], bool], timeout: float = 10.0) -> bool:
        """Poll ``predicate(self)`` until true (returns True) or ``timeout`` passes (False)."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate(self):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    # -- used by the handler ---------------------------------------------------------------
    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _next_behaviour(self) -> Behaviour:
        with self._lock:
            return self._queue.popleft() if self._queue else self._default

    def _set_status(self, request: RecordedRequest, code: int | None) -> None:
        with self._lock:
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


def main(argv: list[str] | None = None) -> None:
    """Standalone mode: serve until SIGINT/SIGTERM, printing one JSON line per request."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--secret", default=DEFAULT_SECRET)
    parser.add_argument("--path", default="/hook")
    parser.add_argument("--status", type=int, default=200, help="answer for valid requests")
    args = parser.parse_args(argv)
    server = WebhookServer(args.secret, args.host, args.port, args.path)
    server.set_default(status(args.status))
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    server.on_answer = lambda request: print(json.dumps(request.summary()), flush=True)
    server.start()
    print(f"listening on {server.url}", flush=True)
    done.wait()
    server.stop()


if __name__ == "__main__":
    main()
