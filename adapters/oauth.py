"""OAuth 2.0 client credentials (RFC 6749 section 4.4) for adapters, through requests-oauthlib.

Tokens are cached in the shared cache (Redis in production, so all workers share one
token) until shortly before they expire. A 401 from the target means the token was
revoked or expired early: ``OAuthAdapter.send`` fetches a new one once and retries.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import requests
from django.core.cache import cache
from oauthlib.oauth2 import BackendApplicationClient, OAuth2Error
from requests_oauthlib import OAuth2Session

from adapters.base import (
    PRIVACY_CONFIG_PROPERTIES,
    Adapter,
    AdapterError,
    DeliveryContext,
    OutboundRequest,
    SendResult,
)
from adapters.http import send as http_send

# Refresh this many seconds before the token says it expires.
EXPIRY_MARGIN_SECONDS = 30

OAUTH_CONFIG_PROPERTIES: dict[str, Any] = {
    "token_url": {"type": "string", "pattern": "^https?://"},
    "client_id": {"type": "string", "minLength": 1},
    "client_secret": {"secret": True, "description": 'as {"env": ...} or {"file": ...}'},
    "scope": {"type": "string"},
}


def oauth_target_schema(properties: dict[str, Any]) -> dict[str, Any]:
    """The configuration schema of a target behind an OAuth2 client-credentials API: its base URL,
    the client credentials, a timeout and the privacy options, plus the adapter's ``properties``."""
    return {
        "type": "object",
        "required": ["base_url", "token_url", "client_id", "client_secret"],
        "additionalProperties": False,
        "properties": {
            "base_url": {"type": "string", "pattern": "^https?://"},
            **OAUTH_CONFIG_PROPERTIES,
            "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 120},
            **PRIVACY_CONFIG_PROPERTIES,
            **properties,
        },
    }


@dataclass(frozen=True)
class ClientCredentials:
    token_url: str
    client_id: str
    client_secret: str
    scope: str | None = None

    @property
    def cache_key(self) -> str:
        raw = f"{self.token_url}|{self.client_id}|{self.scope or ''}"
        return "lrs:oauth:" + hashlib.sha256(raw.encode()).hexdigest()


def fetch_token(credentials: ClientCredentials, *, timeout: float = 10.0) -> dict[str, Any]:
    """A new token from the token endpoint (client authenticates with HTTP Basic)."""
    session = OAuth2Session(client=BackendApplicationClient(client_id=credentials.client_id))
    try:
        return session.fetch_token(
            token_url=credentials.token_url,
            client_id=credentials.client_id,
            client_secret=credentials.client_secret,
            scope=[credentials.scope] if credentials.scope else None,
            timeout=timeout,
        )
    except OAuth2Error as exc:
        # invalid_client / unauthorized_client: the credentials are wrong; retrying cannot help.
        permanent = exc.error in {"invalid_client", "unauthorized_client", "invalid_scope", "invalid_grant"}
        raise AdapterError(
            f"token endpoint refused: {exc.error}", permanent=permanent, status_code=exc.status_code
        ) from None
    except requests.Timeout:
        raise AdapterError("token endpoint timed out") from None
    except requests.ConnectionError:
        raise AdapterError("token endpoint unreachable") from None
    except (requests.RequestException, ValueError) as exc:
        raise AdapterError(f"token request failed: {type(exc).__name__}") from None


def bearer_token(credentials: ClientCredentials, *, refresh: bool = False, timeout: float = 10.0) -> str:
    if not refresh:
        cached = cache.get(credentials.cache_key)
        if cached:
            return cached
    token = fetch_token(credentials, timeout=timeout)
    expires_in = int(token.get("expires_in") or 300)
    cache.set(
        credentials.cache_key, token["access_token"], timeout=max(1, expires_in - EXPIRY_MARGIN_SECONDS)
    )
    return token["access_token"]


class OAuthAdapter(Adapter):
    """An adapter whose target wants a client-credentials bearer token on every request."""

    oauth_scope_default: ClassVar[str | None] = None

    def credentials(self) -> ClientCredentials:
        return ClientCredentials(
            token_url=self.config["token_url"],
            client_id=self.config["client_id"],
            client_secret=self.secrets["client_secret"],
            scope=self.config.get("scope", self.oauth_scope_default),
        )

    def bearer(self, *, refresh: bool) -> str:
        """The access token to send (a fresh one when ``refresh``). The token request waits no
        longer than any other request to the target (its ``timeout_seconds``): a send's claim is
        sized for ``requests_per_send`` requests of that timeout (``pacing.claims.send_seconds``)."""
        timeout = float(self.config.get("timeout_seconds", 10))
        return bearer_token(self.credentials(), refresh=refresh, timeout=timeout)

    def send(self, request: OutboundRequest, context: DeliveryContext) -> SendResult:
        for refresh in (False, True):
            authorised = replace(
                request,
                headers={**request.headers, "Authorization": f"Bearer {self.bearer(refresh=refresh)}"},
            )
            try:
                return http_send(authorised, correlation_id=context.correlation_id)
            except AdapterError as error:
                if error.status_code != 401 or refresh:
                    raise
                # The token expired or was revoked early: one fresh token, one more try.
        raise AssertionError("unreachable")
