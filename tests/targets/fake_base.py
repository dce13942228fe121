"""Shared machinery of the fake downstream APIs (PMS, marketplace, Slack, Microsoft Graph).

Each fake is a real HTTP server on 127.0.0.1 (stdlib ``ThreadingHTTPServer`` in a background
thread), so adapters run their real HTTP, OAuth, retry and timeout code against it, and a
Celery worker in another process can reach it. A request goes through three steps:

1. ``route()`` checks its shape (method, path, headers, JSON schema). A violation raises
   ``ContractError`` and is answered 400 with the reason (in the body and in ``X-Fake-Reason``).
   Authentication failures (401) are answered here too. Neither consumes a scripted behaviour.
2. The next behaviour of the route's queue (``enqueue()`` for the API, ``enqueue_token()`` for
   token endpoints) decides the answer: ``refuse`` drops the connection and stops the server,
   ``hang`` waits first, a non-2xx behaviour answers instead of the fake (with the fake's own
   error body for that status unless the behaviour carries a body).
3. Otherwise (``ok()``, any 2xx without a body, a finished ``hang``) the fake applies the
   request (its *effect*) and gives its natural answer.
"""


from __future__ import annotations

import json
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from tests.targets.behaviours import Behaviour, hang, ok, refuse, retry_after, status
from tests.targets.fake_protocol import (
    API,
    TOKEN,
    ContractError,
    Effect,
    FakeRequest,
    Outcome,
    Reply,
    answer,
    empty_reply,
    fingerprint,
    header_safe,
    idempotency_key,
    json_reply,
    perform,
    schema_check,
    text_reply,
)

__all__ = [
    "API", "TOKEN", "Behaviour", "ContractError", "Effect", "FakeRequest", "FakeServer", "Outcome", "Reply",
    "answer", "empty_reply", "fingerprint", "hang", "idempotency_key", "json_reply", "ok", "perform",
    "refuse", "retry_after", "schema_check", "status", "text_reply",
]


class _HTTPServer(ThreadingHTTPServer):
    """Tracks its handler threads so ``stop()`` can join them instead of leaking them."""

    daemon_threads = True
    block_on_close = False
    # socketserver's default backlog of 5 refuses bursts of concurrent deliveries on a busy machine.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], owner: FakeServer):
        self.owner = owner
        super().__init__(address, FakeHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self._run_handler, args=(request, client_address), daemon=True,
                                  name=f"{self.owner.name}-handler")
        self.owner._track(thread)
        thread.start()

    def _run_handler(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            self.owner._untrack(threading.current_thread())

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that time out and hang up are normal here; stay quiet about them."""


class FakeServer:
    """Base of the fakes. Thread-safe; ``start()``/``stop()``/``restart()`` keep the port."""

    name = "fake"
    #: Effect kinds ``effects()`` counts (the ones an Idempotency-Key protects).
    counted_kinds: frozenset[str] = frozenset()

    def __init__(self, host: str = "127.0.0.1", port: int = 0, honour_idempotency: bool = True):
        self.host, self.port, self.honour_idempotency = host, port, honour_idempotency
        self._lock = threading.Lock()
        self._lifecycle = threading.RLock()
        #: Held while a request's effect is applied, so check-then-act on state is atomic.
        self.state_lock = threading.RLock()
        self._requests: list[FakeRequest] = []
        self._queues: dict[str, deque[Behaviour]] = {API: deque(), TOKEN: deque()}
        self._defaults: dict[str, Behaviour] = {API: ok(), TOKEN: ok()}
        self._effects: list[Effect] = []
        self._idempotent: dict[str, tuple[str, Reply]] = {}
        self._handlers: set[threading.Thread] = set()
        self._httpd: _HTTPServer | None = None
        self._serve_thread: threading.Thread | None = None
        self.stopping = threading.Event()
        #: Called (in the handler thread) after each request is answered or dropped.
        self.on_answer: Callable[[FakeRequest], None] | None = None

    # -- hooks for the fakes -----------------------------------------------------------------
    def route(self, request: FakeRequest) -> Outcome:
        raise NotImplementedError

    def contract_reply(self, request: FakeRequest, error: ContractError) -> Reply:
        """The 400 for a contract violation (RFC 6749 style by default)."""
        return json_reply(error.status, {"error": error.error or "invalid_request",
                                         "error_description": error.reason})

    def error_reply(self, request: FakeRequest, code: int, headers: dict[str, str]) -> Reply:
        """The answer for a scripted non-2xx behaviour without a body."""
        return json_reply(code, {"error": "rate_limited" if code == 429 else f"http_{code}"}, headers)

    def reset_state(self) -> None:
        """Forget the fake's domain data (events, skills, messages...)."""

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8102`` (no trailing slash)."""
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
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
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

    # -- scripting answers -------------------------------------------------------------------
    def enqueue(self, *behaviours: Behaviour) -> None:
        """Answer the next valid, authenticated API requests with these behaviours, in order."""
        with self._lock:
            self._queues[API].extend(behaviours)

    def enqueue_token(self, *behaviours: Behaviour) -> None:
        """The same for the token endpoint, which has its own queue."""
        with self._lock:
            self._queues[TOKEN].extend(behaviours)

    def set_default(self, behaviour: Behaviour, queue: str = API) -> None:
        """The answer once the queue is empty (``ok()`` initially)."""
        with self._lock:
            self._defaults[queue] = behaviour

    def reset(self) -> None:
        """Forget requests, queued behaviours, effects and domain data; tokens stay valid."""
        with self._lock:
            self._requests.clear()
            for queue in self._queues.values():
                queue.clear()
            self._defaults = {API: ok(), TOKEN: ok()}
        with self.state_lock:
            self._effects.clear()
            self._idempotent.clear()
            self.reset_state()

    # -- observations ------------------------------------------------------------------------
    @property
    def requests(self) -> list[FakeRequest]:
        """A snapshot of every request received, in arrival order."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, route: str) -> list[FakeRequest]:
        """Requests to one route (e.g. ``"token"``, ``"learning-events.create"``)."""
        return [r for r in self.requests if r.route == route]

    def accepted(self, route: str | None = None) -> list[FakeRequest]:
        """Requests (to ``route``, if given) answered 2xx, in arrival order."""
        return [r for r in self.requests if r.status is not None and 200 <= r.status < 300
                and (route is None or r.route == route)]

    def rejected(self) -> list[FakeRequest]:
        """Requests refused for breaking the contract (their ``rejected`` says why)."""
        return [r for r in self.requests if r.rejected is not None]

    def effect_log(self, kind: str | None = None) -> list[Effect]:
        """Every effect applied (optionally of one kind), in order."""
        with self.state_lock:
            return [e for e in self._effects if kind is None or e.kind == kind]

    def effects(self) -> dict[str, int]:
        """How many times each key's effect was applied (``counted_kinds`` only). With the
        Idempotency-Key honoured every count is 1; a count of 2 is a duplicate delivery."""
        return dict(Counter(e.key for e in self.effect_log() if e.kind in self.counted_kinds))

    def wait_for(self, predicate: Callable[[Self], bool], timeout: float = 10.0) -> bool:
        """Poll ``predicate(self)`` until true (returns True) or ``timeout`` passes (False)."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate(self):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    # -- helpers for the fakes ---------------------------------------------------------------
    def add_effect(self, kind: str, key: str, payload: Any) -> None:
        with self.state_lock:
            self._effects.append(Effect(kind, key, payload))

    def replayed(self, key: str, fingerprint: str) -> Reply | None:
        """Call under ``state_lock``: the stored answer for a repeated Idempotency-Key, a 422
        for a key reused with a different request, None for a new key (or when not honoured)."""
        if not self.honour_idempotency or key not in self._idempotent:
            return None
        stored_fingerprint, reply = self._idempotent[key]
        if stored_fingerprint != fingerprint:
            return json_reply(422, {"error": "idempotency_key_reused", "error_description":
                                    f"Idempotency-Key {key} was used for a different request"})
        return Reply(reply.code, reply.body, {**reply.headers, "Idempotent-Replayed": "true"})

    def remember(self, key: str, fingerprint: str, reply: Reply) -> Reply:
        self._idempotent.setdefault(key, (fingerprint, reply))
        return reply

    # -- used by the handler -----------------------------------------------------------------
    def _record(self, request: FakeRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _next_behaviour(self, queue: str) -> Behaviour:
        with self._lock:
            return self._queues[queue].popleft() if self._queues[queue] else self._defaults[queue]

    def _set_status(self, request: FakeRequest, code: int | None) -> None:
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



class FakeHandler(BaseHTTPRequestHandler):
    """HTTP/1.0: one request per connection, so ``stop()`` never leaves keep-alive sockets open."""

    server_version = "FakeAPI/1.0"

    @property
    def owner(self) -> FakeServer:
        return self.server.owner  # type: ignore[attr-defined]

    def do_POST(self) -> None:
        self._handle()

    do_GET = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_POST

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

    def _handle(self) -> None:
        owner, stopping = self.owner, self.owner.stopping
        body = self._read_body()
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        split = urlsplit(self.path)
        record = FakeRequest(self.command, self.path, dict(self.headers.items()), body, parsed, time.time(),
                             server=owner.name, url_path=split.path,
                             query=dict(parse_qsl(split.query, keep_blank_values=True)))
        owner._record(record)
        try:
            outcome = owner.route(record)
        except ContractError as error:
            record.rejected = error.reason
            reply = owner.contract_reply(record, error)
            reply.headers.setdefault("X-Fake-Reason", header_safe(error.reason))
            self._answer(record, reply)
            return
        except Exception as exc:  # a bug in the fake: say so instead of dropping the connection
            self._answer(record, json_reply(500, {"error": "fake_bug", "error_description": repr(exc)}))
            raise
        if outcome.action is None:
            self._answer(record, outcome.reply or empty_reply(500))
            return
        behaviour = owner._next_behaviour(outcome.queue)
        if behaviour.kind == "refuse":
            owner.stop()
            self._drop(record)
            return
        if behaviour.kind == "hang" and stopping.wait(behaviour.seconds):
            self._drop(record)
            return
        if behaviour.is_success and not behaviour.body:
            with owner.state_lock:
                reply = outcome.action()
        elif behaviour.body:
            reply = Reply(behaviour.code, behaviour.body, dict(behaviour.headers))
        else:
            reply = owner.error_reply(record, behaviour.code, dict(behaviour.headers))
        self._answer(record, reply)

    def _drop(self, record: FakeRequest) -> None:
        self.close_connection = True
        self.owner._set_status(record, None)

    def _answer(self, record: FakeRequest, reply: Reply) -> None:
        # Recorded before writing: a server commits its effect even if the client has hung up.
        self.owner._set_status(record, reply.code)
        try:
            self.send_response(reply.code)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.body and not any(n.lower() == "content-type" for n in reply.headers):
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
