"""A real HTTP webhook receiver on 127.0.0.1 for testing fan-out delivery end to end.

Why a real server rather than ``responses``/mocks: the engine's retries, timeouts, connection
errors and signature code must run for real, and a Celery worker in another process must be
able to reach the receiver. The server checks our webhook contract strictly (400 with a reason),
the signature by the scheme the target uses (``signature``: Standard Webhooks, verified with the
``standardwebhooks`` library, or ``lrs-v1``), records every request, answers from a script of
behaviours, and can stop and start again on the same port to simulate an outage. Run it
standalone with ``python -m tests.targets.webhook_server --port 8099 --secret S``.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from collections import deque
from typing import Any

from tests.targets.behaviours import Behaviour, applied_then, hang, held, ok, refuse, retry_after, status
from tests.targets.local_server import LocalServer
from tests.targets.webhook_contract import SCHEMES, STANDARD
from tests.targets.webhook_handler import RecordedRequest, WebhookHandler

__all__ = [
    "Behaviour", "RecordedRequest", "WebhookServer",
    "applied_then", "hang", "held", "ok", "refuse", "retry_after", "status",
]  # fmt: skip

DEFAULT_SECRET = "test-webhook-secret"


class WebhookServer(LocalServer):
    """The fake receiver. Thread-safe; ``start()``/``stop()`` may be repeated on the same port."""

    name = "webhook"
    handler_class = WebhookHandler

    def __init__(
        self,
        secret: str = DEFAULT_SECRET,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/hook",
        max_signature_age: int = 300,
        signature: str = STANDARD,
        batched: bool | None = None,
    ):
        if signature not in SCHEMES:
            raise ValueError(f"signature must be one of {SCHEMES}, not {signature!r}")
        super().__init__(host, port)
        self.secret, self.path, self.max_signature_age = secret, path, max_signature_age
        self.signature = signature
        # True: the target has a batch_size (arrays only); False: objects only; None: either.
        self.batched = batched
        self._queue: deque[Behaviour] = deque()
        self._refused: dict[str, int] = {}  # statement id -> the status answered for it
        self._default: Behaviour = ok()

    @property
    def url(self) -> str:
        return f"{self.base_url}{self.path}"

    # -- scripting answers -----------------------------------------------------------------
    def enqueue(self, *behaviours: Behaviour) -> None:
        """Answer the next valid requests with these behaviours, in order, then the default."""
        with self._lock:
            self._queue.extend(behaviours)

    def set_default(self, behaviour: Behaviour) -> None:
        """The answer once the queue is empty (``ok()`` initially)."""
        with self._lock:
            self._default = behaviour

    def refuse_statements(self, *statement_ids: str, status: int = 422) -> None:
        """Answer ``status`` to any request carrying an event of these statements (before the
        script): 422, a receiver that will not take them; a 5xx, one that fails on them however
        often they come (a bug it has for that event)."""
        with self._lock:
            self._refused.update(dict.fromkeys(statement_ids, status))

    def clear_queue(self) -> None:
        """Drop the behaviours not used yet (a scripted failure that found no request lapses)."""
        with self._lock:
            self._queue.clear()

    def reset(self) -> None:
        """Forget recorded requests and queued behaviours; the default becomes ``ok()``."""
        with self._lock:
            self._requests.clear()
            self._queue.clear()
            self._refused.clear()
            self._default = ok()

    # -- observations ----------------------------------------------------------------------
    def accepted(self) -> list[RecordedRequest]:
        """Requests taken: answered 2xx, or applied before a failing answer (``applied_then``), in
        arrival order (duplicates included)."""
        return [r for r in self.requests if r.applied or (r.status is not None and 200 <= r.status < 300)]

    def distinct_keys(self) -> set[str]:
        """Distinct idempotency keys of the events in requests answered 2xx (a request's own, or
        each item's in a batch: ``RecordedRequest.events``)."""
        return {key for r in self.accepted() for key, _ in r.events() if key}

    def effects(self) -> list[Any]:
        """What a receiver deduplicating by idempotency key would apply: the first event taken
        (2xx) per key, in arrival order (the items of a batch in their order, without their
        ``idempotencyKey``)."""
        seen: set[str] = set()
        result = []
        for request in self.accepted():
            for key, event in request.events():
                if key and key not in seen:
                    seen.add(key)
                    result.append(event)
        return result

    # -- used by the handler ---------------------------------------------------------------
    def _refused_statements(self, request: RecordedRequest) -> dict[str, int]:
        """The refused statements this request carries events of, with the status for each."""
        with self._lock:
            refused = dict(self._refused)
        ids = {
            (event.get("statement") or {}).get("id")
            for _, event in request.events()
            if isinstance(event, dict)
        }
        return {statement_id: refused[statement_id] for statement_id in ids if statement_id in refused}

    def _next_behaviour(self) -> Behaviour:
        with self._lock:
            return self._queue.popleft() if self._queue else self._default


def main(argv: list[str] | None = None) -> None:
    """Standalone mode: serve until SIGINT/SIGTERM, printing one JSON line per request."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--secret", default=DEFAULT_SECRET)
    parser.add_argument("--path", default="/hook")
    parser.add_argument("--status", type=int, default=200, help="answer for valid requests")
    parser.add_argument("--signature", choices=SCHEMES, default=STANDARD, help="the target's scheme")
    args = parser.parse_args(argv)
    server = WebhookServer(args.secret, args.host, args.port, args.path, signature=args.signature)
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
