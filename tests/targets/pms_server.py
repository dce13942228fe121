"""Fake PMS (performance management system): our internal contract, enforced strictly.

* ``POST /oauth/token``: form ``grant_type=client_credentials``, client id/secret via HTTP Basic
  or the form -> 200 ``{"access_token", "token_type": "Bearer", "expires_in"}``.
* ``POST /api/v1/learning-events``: ``Authorization: Bearer``, ``Idempotency-Key``, JSON
  (schema version 2) ``{"statementId" (UUID), "schemaVersion": "2", "employeeId", "managerId"?,
  "eventType", "courseId", "courseName" (or null), "score" (0-100 or null), "scoreRaw",
  "scoreMin", "scoreMax" (the original scale, each a number or null), "timestamp" (UTC, ...Z)}``,
  nothing else -> 201 ``{"id"}`` (the PMS's own event id, ``evt_000001``). A repeated key replays
  the first 201 without a second effect (``Idempotent-Replayed: true``); the same key with a
  different body -> 422.
* ``DELETE /api/v1/learning-events/{eventId}`` -> 204 (retraction; again 204 when already
  retracted), 404 for an id the PMS never gave.
* ``GET /api/v1/learning-events?statementId=&updatedSince=&cursor=&limit=`` -> 200
  ``{"data": [event...], "nextCursor"}``: the events it holds (not retracted), oldest first, each
  with its ``id``, ``idempotencyKey`` and ``updatedAt``; ``nextCursor`` null on the last page.
* A missing, unknown or expired token -> 401 ``{"error": "invalid_token"}``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from tests.targets.behaviours import hang, ok, refuse, retry_after, status
from tests.targets.fake_base import (
    ContractError,
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

UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_NUMBER_OR_NULL = {"type": ["number", "null"]}
EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "statementId",
        "schemaVersion",
        "employeeId",
        "eventType",
        "courseId",
        "courseName",
        "score",
        "scoreRaw",
        "scoreMin",
        "scoreMax",
        "timestamp",
    ],
    "properties": {
        "statementId": {"type": "string", "pattern": UUID},
        "schemaVersion": {"const": "2"},
        "employeeId": {"type": "string", "minLength": 1},
        "managerId": {"type": "string", "minLength": 1},
        "eventType": {"type": "string", "minLength": 1},
        "courseId": {"type": "string", "minLength": 1},
        "courseName": {"type": ["string", "null"]},
        "score": {"type": ["number", "null"], "minimum": 0, "maximum": 100},
        "scoreRaw": _NUMBER_OR_NULL,
        "scoreMin": _NUMBER_OR_NULL,
        "scoreMax": _NUMBER_OR_NULL,
        "timestamp": {"type": "string", "format": "utc-timestamp"},
    },
}
PAGE_LIMIT = 500
check_event = schema_check(EVENT_SCHEMA)


class PMSServer(FakeServer):
    """The fake PMS. ``url`` is the base URL; ``token_url`` and ``events_url`` the endpoints."""

    name = "pms"
    counted_kinds = frozenset({"create"})

    def __init__(
        self,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        host: str = "127.0.0.1",
        port: int = 0,
        token_ttl: float = 3600.0,
        honour_idempotency: bool = True,
    ):
        super().__init__(host, port, honour_idempotency)
        self.client_id, self.client_secret = client_id, client_secret
        self.token_store = TokenStore("pms", token_ttl)
        self._token_endpoint = ClientCredentialsEndpoint(self.token_store, {client_id: client_secret}, "pms")
        self._events: dict[str, dict[str, Any]] = {}  # by event id, in creation order
        self._by_key: dict[str, str] = {}  # Idempotency-Key -> event id
        self._retracted: list[str] = []  # event ids
        self._next_id = 1
        # Silent losses (a PMS that answers success but does not keep the write): every
        # ``_lose_every``-th new event, and the next ``_lose_retractions`` retractions.
        self._lose_every = 0
        self._created = 0
        self._lost: list[str] = []  # statement ids of the lost events
        self._lose_retractions = 0
        self._listed: tuple[tuple, list[dict[str, Any]]] | None = None

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
        """Learning events currently recorded (not retracted), by Idempotency-Key; each as it was
        sent plus the PMS's ``id``."""
        with self.state_lock:
            return {
                key: self._as_sent(self._events[event_id])
                for key, event_id in self._by_key.items()
                if event_id in self._events and event_id not in self._retracted  # not dropped
            }

    def retractions(self) -> list[str]:
        """Idempotency-Keys of retracted events, in order."""
        with self.state_lock:
            keys = {event_id: key for key, event_id in self._by_key.items()}
            return [keys[event_id] for event_id in self._retracted]

    def lose_every(self, nth: int) -> None:
        """From now on, lose every ``nth`` new event: answer 201 with an id, keep nothing (no
        event, no idempotency record: a re-send creates it)."""
        with self.state_lock:
            self._lose_every, self._created = nth, 0

    def lost_statement_ids(self) -> list[str]:
        with self.state_lock:
            return list(self._lost)

    def lose_next_retractions(self, count: int = 1) -> None:
        """Answer the next ``count`` retractions 204 but keep the event."""
        with self.state_lock:
            self._lose_retractions = count

    def duplicate_event(self, statement_id: str) -> str:
        """A second event for the statement (as a PMS that created one twice); its id."""
        with self.state_lock:
            original = next(e for e in self._events.values() if e["statementId"] == statement_id)
            event_id = f"evt_{self._next_id:06d}"
            self._next_id += 1
            key = f"{original['idempotencyKey']}:twice"
            self._events[event_id] = {**original, "id": event_id, "idempotencyKey": key}
            self._by_key[key] = event_id
            return event_id

    def alter_event(self, statement_id: str, **fields: Any) -> None:
        """Change a held event's fields at the PMS (as an HR admin editing it by hand)."""
        with self.state_lock:
            for event in self._events.values():
                if event["statementId"] == statement_id:
                    event.update(fields)

    def drop_event(self, event_id: str) -> None:
        """Lose an event silently (as a PMS that answered 201 but did not keep it)."""
        with self.state_lock:
            self._events.pop(event_id, None)

    @staticmethod
    def _as_sent(event: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in event.items() if k not in ("idempotencyKey", "updatedAt")}

    def describe(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "token_url": self.token_url,
            "events_url": self.events_url,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }

    def reset_state(self) -> None:
        self._events.clear()
        self._by_key.clear()
        self._retracted.clear()
        # A loss set up for one test (or hypothesis example) must not strike the next one.
        self._lose_every = self._created = self._lose_retractions = 0
        self._lost.clear()
        self._listed = None

    # -- routing -----------------------------------------------------------------------------
    def route(self, request: FakeRequest) -> Outcome:
        path = request.url_path
        if path == "/oauth/token":
            request.route = "token"
            return self._token_endpoint.handle(request)
        match = _EVENT_PATH.match(path)
        if path == EVENTS_PATH:
            request.route = {"POST": "learning-events.create", "GET": "learning-events.list"}.get(
                request.method, "learning-events"
            )
            if request.route == "learning-events":
                return answer(json_reply(405, {"error": "method_not_allowed"}, {"Allow": "GET, POST"}))
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
        if request.method == "GET":
            page = self._page_query(request.query)
            return perform(lambda: self._list(*page))
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
        self._created += 1
        if self._lose_every and self._created % self._lose_every == 0:
            self._lost.append(request.json["statementId"])
            return json_reply(201, {"id": event_id})
        self._events[event_id] = {
            "id": event_id,
            **request.json,
            "idempotencyKey": key,
            "updatedAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        self._by_key[key] = event_id
        self.add_effect("create", key, request.json)
        return self.remember(key, request_print, json_reply(201, {"id": event_id}))

    def _retract(self, event_id: str) -> Reply:
        if event_id not in self._events:
            return json_reply(
                404, {"error": "not_found", "error_description": f"no learning event {event_id}"}
            )
        if self._lose_retractions:
            self._lose_retractions -= 1
            return empty_reply(204)
        if event_id not in self._retracted:
            self._retracted.append(event_id)
            self.add_effect("retract", self._events[event_id]["idempotencyKey"], self._events[event_id])
        return empty_reply(204)

    def _page_query(self, query: dict[str, str]) -> tuple[str | None, str | None, int, int]:
        """(statementId, updatedSince, start, limit) of a list request; ContractError when bad."""
        unknown = set(query) - {"statementId", "updatedSince", "cursor", "limit"}
        if unknown:
            raise ContractError(f"unknown query parameter(s): {', '.join(sorted(unknown))}")
        try:
            limit = int(query.get("limit", "100"))
            start = int(query.get("cursor", "0"))
        except ValueError:
            raise ContractError("limit and cursor must be integers") from None
        if not 1 <= limit <= PAGE_LIMIT:
            raise ContractError(f"limit must be 1-{PAGE_LIMIT}")
        since = query.get("updatedSince")
        if since is not None and not re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$", since):
            raise ContractError("updatedSince must be a UTC timestamp such as 2024-05-01T00:00:00Z")
        return query.get("statementId"), since, start, limit

    def _list(self, statement_id: str | None, since: str | None, start: int, limit: int) -> Reply:
        # A reader paging through many events asks the same question page after page: answer it
        # from the list made for the first page while nothing was written since.
        question = (statement_id, since, len(self._events), len(self._retracted), self._next_id)
        if self._listed is not None and self._listed[0] == question:
            held = self._listed[1]
        else:
            retracted = set(self._retracted)
            held = [
                event
                for event_id, event in self._events.items()
                if event_id not in retracted
                and statement_id in (None, event["statementId"])
                and (since is None or event["updatedAt"] >= since)
            ]
            self._listed = (question, held)
        page = held[start : start + limit]
        more = start + limit < len(held)
        next_cursor = str(start + limit) if more else None
        return json_reply(200, {"data": [dict(e) for e in page], "nextCursor": next_cursor})
