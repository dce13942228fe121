"""The request handler of the fake webhook receiver: record, check the contract, answer.

Kept apart from the server so each module stays short. Requests that break the contract are
answered 400 with ``{"error": <reason>}`` and do not consume a scripted behaviour: a contract
bug in the engine then shows up as a clear reason instead of as a confusing retry sequence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tests.targets.behaviours import Behaviour
from tests.targets.local_server import RecordingHandler
from tests.targets.webhook_contract import ITEM_KEY, check_request, without_item_key


@dataclass
class RecordedRequest:
    """One request as received. ``status`` is what was answered: None while it is still being
    handled (e.g. hanging) and when it was dropped unanswered (``refuse``/``stop()``);
    ``finished`` tells the two apart. ``rejected`` is the contract violation behind a 400."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any
    arrived_at: float
    rejected: str | None = None
    status: int | None = None
    finished: bool = False
    applied: bool = False  # taken although the answer says otherwise (``applied_then``)
    _lower: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._lower = {name.lower(): value for name, value in self.headers.items()}

    def header(self, name: str) -> str | None:
        """Case-insensitive header lookup."""
        return self._lower.get(name.lower())

    @property
    def idempotency_key(self) -> str | None:
        """What a receiver drops repeats by: ``webhook-id`` under Standard Webhooks (the
        specification's idempotency key; the contract has it equal ``Idempotency-Key``), else
        ``Idempotency-Key``."""
        return self.header("webhook-id") or self.header("Idempotency-Key")

    def events(self) -> list[tuple[str | None, Any]]:
        """(idempotency key, event) of each event the request carries: its body with its key, or,
        from a batched target, each item of the array with the item's ``idempotencyKey``
        (taken out of the event, so both forms compare equal)."""
        if isinstance(self.json, list):
            return [
                (item.get(ITEM_KEY), without_item_key(item)) for item in self.json if isinstance(item, dict)
            ]
        return [(self.idempotency_key, self.json)]

    @property
    def request_id(self) -> str | None:
        return self.header("X-Request-ID")

    def summary(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "rejected": self.rejected,
            "idempotency_key": self.idempotency_key,
            "request_id": self.request_id,
            "arrived_at": self.arrived_at,
        }


class WebhookHandler(RecordingHandler):
    """HTTP/1.0: one request per connection, so ``stop()`` never leaves keep-alive sockets open."""

    server_version = "FakeWebhook/1.0"

    def _handle(self) -> None:
        owner = self.owner
        stopping = owner.stopping
        body = self._read_body()
        reason, parsed = check_request(
            owner.secret, self.command, self.headers, body, owner.signature, owner.batched
        )
        if reason is None and self.path.split("?", 1)[0] != owner.path:
            reason = f"unknown path {self.path}, the hook is {owner.path}"
        record = RecordedRequest(
            self.command, self.path, dict(self.headers.items()), body, parsed, self.arrived_at, reason
        )
        owner._record(record)
        if reason is not None:
            self._answer(record, Behaviour("respond", 400), json.dumps({"error": reason}).encode())
            return
        refused = owner._refused_statements(record)
        if refused:  # a receiver that will not take these events: the whole request is refused
            error = json.dumps({"error": f"refused statements {sorted(refused)}"}).encode()
            self._answer(record, Behaviour("respond", max(refused.values())), error)
            return
        behaviour = owner._next_behaviour()
        if behaviour.kind == "refuse":
            owner.stop()
            self._drop(record)
            return
        if behaviour.kind == "hang" and behaviour.stopped_while_hanging(stopping):
            self._drop(record)
            return
        record.applied = behaviour.kind == "applied"
        self._answer(record, behaviour, behaviour.body)

    def _answer(self, record: RecordedRequest, behaviour: Behaviour, body: bytes) -> None:
        self._send(record, behaviour.code, behaviour.headers, body)
