"""OAuth 2.0 pieces shared by the fakes: the tokens they issue and client authentication.

``TokenStore`` remembers every access token (``app`` from client credentials, ``delegated`` on a
user's behalf) and refresh token it issued, so tests can list them and expire them all at once.
``ClientCredentialsEndpoint`` is the ``POST /oauth/token`` of the internal APIs (PMS and
marketplace), following RFC 6749 section 4.4 with the error format of section 5.2.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Literal

from tests.targets.fake_base import (
    TOKEN,
    ContractError,
    FakeRequest,
    Outcome,
    Reply,
    answer,
    json_reply,
    perform,
)

TokenKind = Literal["app", "delegated"]
BEARER_PROBLEMS = {
    "missing": "missing bearer token (Authorization: Bearer <token>)",
    "unknown": "unknown access token",
    "expired": "the access token expired",
}
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass
class Token:
    """An issued access token."""

    value: str
    kind: TokenKind
    client_id: str
    scope: str
    subject: str | None
    issued_at: float
    expires_at: float

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires_at


@dataclass
class RefreshGrant:
    """An issued refresh token: whose it is and what it may be exchanged for."""

    value: str
    client_id: str
    subject: str
    scope: str
    revoked: bool = False


class TokenStore:
    """Thread-safe record of issued tokens."""

    def __init__(self, prefix: str, ttl: float = 3600.0):
        self.prefix, self.ttl = prefix, ttl
        self._lock = threading.Lock()
        self._tokens: dict[str, Token] = {}
        self._refresh: dict[str, RefreshGrant] = {}

    def issue(
        self,
        client_id: str,
        *,
        kind: TokenKind = "app",
        scope: str = "",
        subject: str | None = None,
        ttl: float | None = None,
        value: str | None = None,
    ) -> Token:
        now = time.time()
        token = Token(
            value or f"{self.prefix}-{kind}-{secrets.token_urlsafe(24)}",
            kind,
            client_id,
            scope,
            subject,
            now,
            now + (self.ttl if ttl is None else ttl),
        )
        with self._lock:
            self._tokens[token.value] = token
        return token

    def get(self, value: str) -> Token | None:
        with self._lock:
            return self._tokens.get(value)

    @property
    def tokens(self) -> list[Token]:
        """Every access token issued, oldest first."""
        with self._lock:
            return list(self._tokens.values())

    def expire_all(self) -> int:
        """Make every issued access token expired now; returns how many were still valid."""
        now = time.time()
        with self._lock:
            live = [t for t in self._tokens.values() if t.expires_at > now]
            for token in live:
                token.expires_at = now
        return len(live)

    def issue_refresh(
        self, client_id: str, subject: str, scope: str, value: str | None = None
    ) -> RefreshGrant:
        value = value or f"{self.prefix}-refresh-{secrets.token_urlsafe(32)}"
        grant = RefreshGrant(value, client_id, subject, scope)
        with self._lock:
            self._refresh[grant.value] = grant
        return grant

    def refresh_grant(self, value: str) -> RefreshGrant | None:
        """The grant of a refresh token that is known and not revoked."""
        with self._lock:
            grant = self._refresh.get(value)
        return grant if grant is not None and not grant.revoked else None

    def revoke_refresh_tokens(self) -> int:
        with self._lock:
            live = [g for g in self._refresh.values() if not g.revoked]
            for grant in live:
                grant.revoked = True
        return len(live)

    @property
    def refresh_tokens(self) -> list[RefreshGrant]:
        with self._lock:
            return list(self._refresh.values())

    def check_bearer(self, request: FakeRequest) -> tuple[Token | None, str | None]:
        """(token, None) for a valid ``Authorization: Bearer``, else (None, a key of
        ``BEARER_PROBLEMS``: missing, unknown or expired)."""
        value = request.bearer()
        if value is None:
            return None, "missing"
        token = self.get(value)
        if token is None:
            return None, "unknown"
        return (None, "expired") if token.expired else (token, None)


def client_auth(request: FakeRequest, form: dict[str, str]) -> tuple[str, str]:
    """(client_id, client_secret) from HTTP Basic or from the form (RFC 6749 2.3.1), not both."""
    basic = request.basic_credentials()
    if basic is not None:
        if "client_secret" in form:
            raise ContractError("send the client secret either with HTTP Basic or in the form, not both")
        if form.get("client_id", basic[0]) != basic[0]:
            raise ContractError("client_id in the form differs from the HTTP Basic user")
        return basic
    if not form.get("client_id"):
        raise ContractError("missing client_id (HTTP Basic or form parameter)")
    if not form.get("client_secret"):
        raise ContractError("missing client_secret (HTTP Basic or form parameter)")
    return form["client_id"], form["client_secret"]


class ClientCredentialsEndpoint:
    """``POST /oauth/token`` with ``grant_type=client_credentials``; answers
    ``{"access_token", "token_type": "Bearer", "expires_in"}``."""

    def __init__(self, store: TokenStore, clients: dict[str, str], realm: str):
        self.store, self.clients, self.realm = store, clients, realm

    def handle(self, request: FakeRequest) -> Outcome:
        if request.method != "POST":
            return answer(
                json_reply(
                    405, {"error": "invalid_request", "error_description": "use POST"}, {"Allow": "POST"}
                )
            )
        form = request.form()
        grant_type = form.get("grant_type")
        if not grant_type:
            raise ContractError("missing grant_type")
        if grant_type != "client_credentials":
            return answer(
                json_reply(
                    400,
                    {
                        "error": "unsupported_grant_type",
                        "error_description": f"grant_type {grant_type} is not supported",
                    },
                )
            )
        client_id, secret = client_auth(request, form)
        if not secrets.compare_digest(self.clients.get(client_id, "\0"), secret):
            return answer(
                json_reply(
                    401,
                    {"error": "invalid_client", "error_description": "unknown client or bad secret"},
                    {"WWW-Authenticate": f'Basic realm="{self.realm}"'},
                )
            )
        scope = form.get("scope", "")

        def issue() -> Reply:
            token = self.store.issue(client_id, scope=scope)
            payload = {"access_token": token.value, "token_type": "Bearer", "expires_in": int(self.store.ttl)}
            if scope:
                payload["scope"] = scope
            return json_reply(200, payload, NO_STORE)

        return perform(issue, TOKEN)


def invalid_token_reply(realm: str, problem: str) -> Reply:
    """RFC 6750 3.1: 401 with ``WWW-Authenticate: Bearer error="invalid_token"``."""
    reason = BEARER_PROBLEMS[problem]
    return json_reply(
        401,
        {"error": "invalid_token", "error_description": reason},
        {"WWW-Authenticate": f'Bearer realm="{realm}", error="invalid_token", error_description="{reason}"'},
    )
