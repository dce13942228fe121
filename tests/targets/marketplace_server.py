"""Fake skills marketplace: our internal contract, enforced strictly.

* ``POST /oauth/token``: as the PMS (client credentials, HTTP Basic or form).
* ``PUT /api/v1/members/{memberId}/skills/{competencyCode}``: ``Authorization: Bearer``,
  ``Idempotency-Key`` (at most 255 printable ASCII characters, as every fake here), JSON
  ``{"memberId", "email"?, "competencyCode", "level" (1-5), "mappingVersion"?,
  "learningCompleted": {"completed", "date" (YYYY-MM-DD)}, "score" (0-100 or null), "evidence":
  [{"statementId" (UUID), "activityId", "date"?}] (1 to 50), "badges"?, "certificates"?}``,
  nothing else; ``memberId``/``competencyCode`` must equal the path's. 201 when the skill is new
  (or was revoked), 200 when it is updated; a repeated key replays the first answer without a
  second effect (``Idempotent-Replayed: true``), the same key with another body -> 422.
* ``DELETE`` on the same path -> 204 (revoke; 204 again when already revoked), 404 when the
  member never had that skill. An ``Idempotency-Key`` is optional; one sent is kept with those of
  the puts, across paths: a repeat replays the first answer, the key with another request -> 422.
* ``GET /api/v1/members/{memberId}/skills`` -> 200 ``{"data": [record...]}``: the member's current
  skills (not revoked), each as last put.
* A missing, unknown or expired token -> 401 ``{"error": "invalid_token"}``.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import quote, unquote

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

__all__ = ["MarketplaceServer", "hang", "ok", "refuse", "retry_after", "status"]

DEFAULT_CLIENT_ID = "lrs-marketplace"
DEFAULT_CLIENT_SECRET = "marketplace-secret"
_SKILL_PATH = re.compile(r"^/api/v1/members/([^/]+)/skills/([^/]+)$")
_MEMBER_SKILLS_PATH = re.compile(r"^/api/v1/members/([^/]+)/skills$")
UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_NAMES = {"type": "array", "items": {"type": "string", "minLength": 1}}

SKILL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["memberId", "competencyCode", "level", "learningCompleted", "score", "evidence"],
    "properties": {
        "memberId": {"type": "string", "minLength": 1},
        "email": {"type": "string", "pattern": EMAIL},
        "competencyCode": {"type": "string", "minLength": 1},
        "level": {"type": "integer", "minimum": 1, "maximum": 5},
        "mappingVersion": {"type": "string", "minLength": 1},
        "learningCompleted": {
            "type": "object",
            "additionalProperties": False,
            "required": ["completed", "date"],
            "properties": {"completed": {"type": "boolean"}, "date": {"type": "string", "format": "date"}},
        },
        "score": {"type": ["number", "null"], "minimum": 0, "maximum": 100},
        "evidence": {
            "type": "array",
            "minItems": 1,
            "maxItems": 50,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["statementId", "activityId"],
                "properties": {
                    "statementId": {"type": "string", "pattern": UUID},
                    "activityId": {"type": "string", "minLength": 1},
                    "date": {"type": "string", "format": "date"},
                },
            },
        },
        "badges": _NAMES,
        "certificates": _NAMES,
    },
}
check_skill = schema_check(SKILL_SCHEMA)


class MarketplaceServer(FakeServer):
    """The fake marketplace. ``skill_url(member, code)`` builds the resource URL."""

    name = "marketplace"
    counted_kinds = frozenset({"upsert"})

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
        self.token_store = TokenStore("mkt", token_ttl)
        self._token_endpoint = ClientCredentialsEndpoint(
            self.token_store, {client_id: client_secret}, "marketplace"
        )
        self._skills: dict[tuple[str, str], dict[str, Any]] = {}
        self._revoked: list[tuple[str, str]] = []

    # -- test controls -----------------------------------------------------------------------
    @property
    def token_url(self) -> str:
        return f"{self.url}/oauth/token"

    def skill_url(self, member_id: str, competency_code: str) -> str:
        member, code = quote(member_id, safe=""), quote(competency_code, safe="")
        return f"{self.url}/api/v1/members/{member}/skills/{code}"

    @property
    def tokens(self) -> list[Token]:
        return self.token_store.tokens

    def issue_token(self) -> str:
        return self.token_store.issue(self.client_id).value

    def expire_tokens(self) -> int:
        """Expire every access token issued so far (the next API call answers 401)."""
        return self.token_store.expire_all()

    def skills(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Current (not revoked) skills by (memberId, competencyCode): the last body applied."""
        with self.state_lock:
            return {k: dict(v) for k, v in self._skills.items()}

    def alter_skill(self, member_id: str, code: str, **fields: Any) -> None:
        """Change a held record at the marketplace (as an admin editing it by hand)."""
        with self.state_lock:
            self._skills[(member_id, code)].update(fields)

    def revocations(self) -> list[tuple[str, str]]:
        """(memberId, competencyCode) of each revocation, in order."""
        with self.state_lock:
            return list(self._revoked)

    def describe(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "token_url": self.token_url,
            "skills_url": f"{self.url}/api/v1/members/{{memberId}}/skills/{{competencyCode}}",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }

    def reset_state(self) -> None:
        self._skills.clear()
        self._revoked.clear()

    # -- routing -----------------------------------------------------------------------------
    def route(self, request: FakeRequest) -> Outcome:
        if request.url_path == "/oauth/token":
            request.route = "token"
            return self._token_endpoint.handle(request)
        member_skills = _MEMBER_SKILLS_PATH.match(request.url_path)
        if member_skills:
            request.route = "skills.list"
            if request.method != "GET":
                return answer(json_reply(405, {"error": "method_not_allowed"}, {"Allow": "GET"}))
            _, problem = self.token_store.check_bearer(request)
            if problem:
                return answer(invalid_token_reply("marketplace", problem))
            member = unquote(member_skills.group(1))
            return perform(lambda: self._list(member))
        match = _SKILL_PATH.match(request.url_path)
        if not match:
            return answer(json_reply(404, {"error": "not_found"}))
        member_id, code = unquote(match.group(1)), unquote(match.group(2))
        request.route = {"PUT": "skills.put", "DELETE": "skills.revoke"}.get(request.method, "skills")
        if request.route == "skills":
            return answer(json_reply(405, {"error": "method_not_allowed"}, {"Allow": "PUT, DELETE"}))
        _, problem = self.token_store.check_bearer(request)
        if problem:
            return answer(invalid_token_reply("marketplace", problem))
        if request.method == "DELETE":
            revoke_key = idempotency_key(request) if request.idempotency_key is not None else None
            return perform(lambda: self._revoke(request, revoke_key, (member_id, code)))
        key = idempotency_key(request)
        body = request.json_body()
        check_skill(body)
        if body["memberId"] != member_id:
            raise ContractError(f"body.memberId {body['memberId']!r} differs from the path's {member_id!r}")
        if body["competencyCode"] != code:
            raise ContractError(
                f"body.competencyCode {body['competencyCode']!r} differs from the path's {code!r}"
            )
        return perform(lambda: self._put(request, key, (member_id, code)))

    def _list(self, member_id: str) -> Reply:
        held = [
            dict(record) for (member, _code), record in sorted(self._skills.items()) if member == member_id
        ]
        return json_reply(200, {"data": held})

    def _put(self, request: FakeRequest, key: str, skill: tuple[str, str]) -> Reply:
        request_print = fingerprint(request)
        replay = self.replayed(key, request_print)
        if replay is not None:
            return replay
        created = skill not in self._skills
        self._skills[skill] = dict(request.json)
        self.add_effect("upsert", key, request.json)
        representation = {**request.json, "updatedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        return self.remember(key, request_print, json_reply(201 if created else 200, representation))

    def _revoke(self, request: FakeRequest, key: str | None, skill: tuple[str, str]) -> Reply:
        request_print = fingerprint(request)
        replay = self.replayed(key, request_print) if key is not None else None
        if replay is not None:
            return replay
        member_id, code = skill
        if skill in self._skills:
            del self._skills[skill]
            self._revoked.append(skill)
            self.add_effect("revoke", f"{member_id}/{code}", None)
        elif skill not in self._revoked:
            return json_reply(
                404, {"error": "not_found", "error_description": f"{member_id} has no skill {code}"}
            )
        return self.remember(key, request_print, empty_reply(204)) if key is not None else empty_reply(204)
