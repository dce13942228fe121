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
from collections import Counter, deque
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.targets.behaviours import Behaviour, applied_then, hang, ok, refuse, retry_after, status
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
from tests.targets.local_server import LocalServer, RecordingHandler

__all__ = [
    "API",
    "TOKEN",
    "Behaviour",
    "ContractError",
    "Effect",
    "FakeRequest",
    "FakeServer",
    "Outcome",
    "Reply",
    "answer",
    "applied_then",
    "empty_reply",
    "fingerprint",
    "hang",
    "idempotency_key",
    "json_reply",
    "ok",
    "perform",
    "refuse",
    "retry_after",
    "schema_check",
    "status",
    "text_reply",
]


class FakeServer(LocalServer):
    """Base of the fakes. Thread-safe; ``start()``/``stop()``/``restart()`` keep the port."""

    name = "fake"
    #: Effect kinds ``effects()`` counts (the ones an Idempotency-Key protects).
    counted_kinds: frozenset[str] = frozenset()

    def __init__(self, host: str = "127.0.0.1", port: int = 0, honour_idempotency: bool = True):
        super().__init__(host, port)
        self.honour_idempotency = honour_idempotency
        #: Held while a request's effect is applied, so check-then-act on state is atomic.
        self.state_lock = threading.RLock()
        self._queues: dict[str, deque[Behaviour]] = {API: deque(), TOKEN: deque()}
        self._defaults: dict[str, Behaviour] = {API: ok(), TOKEN: ok()}
        self._effects: list[Effect] = []
        self._idempotent: dict[str, tuple[str, Reply]] = {}

    # -- hooks for the fakes -----------------------------------------------------------------
    def route(self, request: FakeRequest) -> Outcome:
        raise NotImplementedError

    def contract_reply(self, request: FakeRequest, error: ContractError) -> Reply:
        """The 400 for a contract violation (RFC 6749 style by default)."""
        return json_reply(
            error.status, {"error": error.error or "invalid_request", "error_description": error.reason}
        )

    def error_reply(self, request: FakeRequest, code: int, headers: dict[str, str]) -> Reply:
        """The answer for a scripted non-2xx behaviour without a body."""
        return json_reply(code, {"error": "rate_limited" if code == 429 else f"http_{code}"}, headers)

    def reset_state(self) -> None:
        """Forget the fake's domain data (events, skills, messages...)."""

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8102`` (no trailing slash)."""
        return self.base_url

    # -- scripting answers -------------------------------------------------------------------
    def enqueue(self, *behaviours: Behaviour) -> None:
        """Answer the next valid, authenticated API requests with these behaviours, in order."""
        with self._lock:
            self._queues[API].extend(behaviours)

    def enqueue_token(self, *behaviours: Behaviour) -> None:
        """The same for the token endpoint, which has its own queue."""
        with self._lock:
            self._queues[TOKEN].extend(behaviours)

    def clear_queue(self, queue: str = API) -> None:
        """Forget the behaviours still queued (the default stays)."""
        with self._lock:
            self._queues[queue].clear()

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
    def requests_for(self, route: str) -> list[FakeRequest]:
        """Requests to one route (e.g. ``"token"``, ``"learning-events.create"``)."""
        return [r for r in self.requests if r.route == route]

    def accepted(self, route: str | None = None) -> list[FakeRequest]:
        """Requests (to ``route``, if given) answered 2xx, in arrival order."""
        return [
            r
            for r in self.requests
            if r.status is not None and 200 <= r.status < 300 and (route is None or r.route == route)
        ]

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
            return json_reply(
                422,
                {
                    "error": "idempotency_key_reused",
                    "error_description": f"Idempotency-Key {key} was used for a different request",
                },
            )
        return Reply(reply.code, reply.body, {**reply.headers, "Idempotent-Replayed": "true"})

    def remember(self, key: str, fingerprint: str, reply: Reply) -> Reply:
        self._idempotent.setdefault(key, (fingerprint, reply))
        return reply

    # -- used by the handler -----------------------------------------------------------------
    def _next_behaviour(self, queue: str) -> Behaviour:
        with self._lock:
            return self._queues[queue].popleft() if self._queues[queue] else self._defaults[queue]


class FakeHandler(RecordingHandler):
    """HTTP/1.0: one request per connection, so ``stop()`` never leaves keep-alive sockets open."""

    server_version = "FakeAPI/1.0"

    def _handle(self) -> None:
        owner, stopping = self.owner, self.owner.stopping
        body = self._read_body()
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        split = urlsplit(self.path)
        record = FakeRequest(
            self.command,
            self.path,
            dict(self.headers.items()),
            body,
            parsed,
            self.arrived_at,
            server=owner.name,
            url_path=split.path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
        )
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
        if behaviour.kind == "hang" and behaviour.stopped_while_hanging(stopping):
            self._drop(record)
            return
        if behaviour.kind == "applied":
            with owner.state_lock:
                outcome.action()
            reply = owner.error_reply(record, behaviour.code, dict(behaviour.headers))
        elif behaviour.is_success and not behaviour.body:
            with owner.state_lock:
                reply = outcome.action()
        elif behaviour.body:
            reply = Reply(behaviour.code, behaviour.body, dict(behaviour.headers))
        else:
            reply = owner.error_reply(record, behaviour.code, dict(behaviour.headers))
        self._answer(record, reply)

    def _answer(self, record: FakeRequest, reply: Reply) -> None:
        self._send(record, reply.code, reply.headers, reply.body)


FakeServer.handler_class = FakeHandler
