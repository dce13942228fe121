"""Fake PMS (performance management system): our internal contract, enforced strictly.

* ``POST /oauth/token``: form ``grant_type=client_credentials``, client id/secret via HTTP Basic
  or the form -> 200 ``{"access_token", "token_type": "Bearer", "expires_in"}``.
* ``POST /api/v1/learning-events``: ``Authorization: Bearer``, ``Idempotency-Key``, JSON
  ``{"employeeId", "eventType", "courseId", "score" (0-100 or null), "timestamp" (UTC, ...Z)}``,
  nothing else -> 201 ``{"id"}``. A repeated key replays the first 201 without a second effect
  (``Idempotent-Replayed: true``); the same key with a different body -> 422.
* ``DELETE /api/v1/learning-events/{idempotency-key}`` -> 204 (retraction; again 204 when already
  retracted), 404 for a key never created.
* A missing, unknown or expired token -> 401 ``{"error": "invalid_token"}``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from tests.targets.behaviours import hang, ok, refuse, retry_after, status
from tests.targets.fake_base import (
    FakeRequest,
    FakeServer,
    Outcome,
    Reply,
    answer,
    empty_reply,
    fingerprint,
    idempotency_key,
    json_reply,
    perform,
    schema_check,
)
from tests.targets.oauth import ClientCredentialsEndpoint, Token, TokenStore, invalid_token_reply

__all__ = ["PMSServer", "hang", "ok", "refuse", "retry_after", "status"]

DEFAULT_CLIENT_ID = "lrs-pms"
DEFAULT_CLIENT_SECRET = "pms-secret"
EVENTS_PATH = "/api/v1/learning-events"
_EVENT_PATH = re.compile(r"^/api/v1/learning-events/([^/]+)$")

EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["employeeId", "eventType", "courseId", "score", "timestamp"],
    "properties": {
        "employeeId": {"type": "string", "minLength": 1},
        "eventType": {"type": "string", "minLength": 1},
        "courseId": {"type": "string", "minLength": 1},
        "score": {"type": ["number", "null"], "minimum": 0, "maximum": 100},
        "timestamp": {"type": "string", "format": "utc-timestamp"},
    },
}
check_event = schema_check(EVENT_SCHEMA)


class PMSServer(FakeServer):
    """The fake PMS. ``url`` is the base URL; ``token_url`` and ``events_url`` the endpoints."""

    name = "pms"
    counted_kinds = frozenset({"create"})

    def __init__(self, client_id: str = DEFAULT_CLIENT_ID, client_secret: str = DEFAULT_CLIENT_SECRET,
                 host: str = "127.0.0.1", port: int = 0, token_ttl: float = 3600.0,
                 honour_idempotency: bool = True):
        super().__init__(host, port, honour_idempotency)
        self.client_id, self.client_secret = client_id, client_secret
        self.token_store = TokenStore("pms", token_ttl)
        self._token_endpoint = ClientCredentialsEndpoint(self.token_store, {client_id: client_secret}, "pms")
        self._events: dict[str, dict[str, Any]] = {}
        self._retracted: list[str] = []
        self._next_id = 1

    # -- test controls -----------------------------------------------------------------------
    @property
    def token_url(self) -> str:
        return f"{self.url}/oauth/token"

    @property
    def events_url(self) -> str:
        return f"{self.url}{EVENTS_PATH}"

    @property
    def tokens(self) -> list[Token]:
        return self.token_store.tokens

    def issue_token(self) -> str:
        """A valid access token, as the token endpoint would give."""
        return self.token_store.issue(self.client_id).value

    def expire_tokens(self) -> int:
        """Expire every access token issued so far (the next API call answers 401)."""
        return self.token_store.expire_all()

    def events(self) -> dict[str, dict[str, Any]]:
        """Learning events currently recorded (not retracted), by Idempotency-Key."""
        with self.state_lock:
            return {k: dict(v) for k, v in self._events.items() if k not in self._retracted}

    def retractions(self) -> list[str]:
        """Idempotency-Keys of retracted events, in order."""
        with self.state_lock:
            return list(self._retracted)

    def describe(self) -> dict[str, Any]:
        return {"url": self.url, "token_url": self.token_url, "events_url": self.events_url,
                "client_id": self.client_id, "client_secret": self.client_secret}

    def reset_state(self) -> None:
        self._events.clear()
        self._retracted.clear()

    # -- routing -----------------------------------------------------------------------------
    def route(self, request: FakeRequest) -> Outcome:
        path = request.url_path
        if path == "/oauth/token":
            request.route = "token"
            return self._token_endpoint.handle(request)
        match = _EVENT_PATH.match(path)
        if path == EVENTS_PATH:
            request.route = "learning-events.create"
            if request.method != "POST":
                return answer(json_reply(405, {"error": "method_not_allowed"}, {"Allow": "POST"}))
        elif match:
            request.route = "learning-events.retract"
            if request.method != "DELETE":
                return answer(json_reply(405, {"error": "method_not_allowed"}, {"Allow": "DELETE"}))
        else:
            return answer(json_reply(404, {"error": "not_found"}))
        _, problem = self.token_store.check_bearer(request)
        if problem:
            return answer(invalid_token_reply("pms", problem))
        if match:
            return perform(lambda: self._retract(unquote(match.group(1))))
        key = idempotency_key(request)
        check_event(request.json_body())
        return perform(lambda: self._create(request, key))

    def _create(self, request: FakeRequest, key: str) -> Reply:
        request_print = fingerprint(request)
        replay = self.replayed(key, request_print)
        if replay is not None:
            return replay
        event_id = f"evt_{self._next_id:06d}"
        self._next_id += 1
        self._events[key] = {"id": event_id, **request.json}
        self.add_effect("create", key, request.json)
        return self.remember(key, request_print, json_reply(201, {"id": event_id}))

    def _retract(self, key: str) -> Reply:
        if key not in self._events:
            return json_reply(404, {"error": "not_found", "error_description": f"no learning event {key}"})
        if key not in self._retracted:
            self._retracted.append(key)
            self.add_effect("retract", key, self._events[key])
        return empty_reply(204)
