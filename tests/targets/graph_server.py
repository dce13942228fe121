"""Fake Microsoft identity platform (v2.0 token endpoint) + Microsoft Graph (Teams).

* ``POST /{tenant}/oauth2/v2.0/token`` (form): ``grant_type=client_credentials`` with
  ``scope=https://graph.microsoft.com/.default`` gives an *application* token;
  ``grant_type=refresh_token`` (``refresh_token``, ``scope``, client secret) gives a *delegated*
  token for the refresh token's user and a new refresh token. Client id/secret via form or Basic.
* ``POST /v1.0/users/{id}/teamwork/sendActivityNotification`` needs an application token -> 204.
* ``POST /v1.0/teams/{team}/channels/{channel}/messages`` needs a delegated token with
  ``ChannelMessage.Send`` -> 201 chatMessage; an application token gets Graph's 401
  "Message POST is allowed in application-only context only for import purposes".
* A channel message over Teams' size limit (``graph_contract.MESSAGE_SIZE_LIMIT``) -> 413.
* Expired or unknown tokens -> 401 ``InvalidAuthenticationToken``; ``retry_after()`` behaviours
  answer 429 ``TooManyRequests`` with ``Retry-After``, as Graph throttles.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from typing import Any
from urllib.parse import unquote

from tests.targets.behaviours import hang, ok, refuse, retry_after, status
from tests.targets.fake_base import (
    TOKEN,
    ContractError,
    FakeRequest,
    FakeServer,
    Outcome,
    Reply,
    answer,
    empty_reply,
    json_reply,
    perform,
)
from tests.targets.graph_contract import (
    CHANNEL_MESSAGE_SCOPES,
    GRAPH_DEFAULT_SCOPE,
    GRAPH_STATUS_CODES,
    MESSAGE_SIZE_LIMIT,
    aad_error,
    check_activity,
    check_channel_message,
    full_scope,
    graph_error,
    message_size,
    scope_names,
)
from tests.targets.oauth import NO_STORE, Token, TokenStore, client_auth

__all__ = ["GraphServer", "hang", "ok", "refuse", "retry_after", "status"]

DEFAULT_TENANT = "00000000-0000-0000-0000-00000000a11c"
DEFAULT_CLIENT_ID = "11111111-2222-3333-4444-555555555555"
DEFAULT_CLIENT_SECRET = "graph-secret"
DEFAULT_USER = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
DEFAULT_DELEGATED_SCOPE = "https://graph.microsoft.com/ChannelMessage.Send offline_access"
_TOKEN_PATH = re.compile(r"^/([^/]+)/oauth2/v2\.0/token$")
_ACTIVITY_PATH = re.compile(r"^/v1\.0/users/([^/]+)/teamwork/sendActivityNotification$")
_MESSAGES_PATH = re.compile(r"^/v1\.0/teams/([^/]+)/channels/([^/]+)/messages$")
GRAPH_TOKEN_PROBLEMS = {
    "missing": "Access token is empty.",
    "unknown": "IDX14100: JWT is not well formed.",
    "expired": "Lifetime validation failed, the token is expired.",
}
IMPORT_ONLY = (
    "Message POST is allowed in application-only context only for import purposes. Refer to "
    "https://docs.microsoft.com/microsoftteams/platform/graph-api/import-messages/"
    "import-external-messages-to-teams for more details."
)


class GraphServer(FakeServer):
    """The fake tenant. ``users``/``channels`` limit who exists (None: anyone/any channel)."""

    name = "graph"
    counted_kinds = frozenset({"activity", "channel_message"})

    def __init__(
        self,
        tenant_id: str = DEFAULT_TENANT,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        host: str = "127.0.0.1",
        port: int = 0,
        token_ttl: float = 3599.0,
        users: set[str] | None = None,
        channels: set[tuple[str, str]] | None = None,
    ):
        super().__init__(host, port)
        self.tenant_id, self.client_id, self.client_secret = tenant_id, client_id, client_secret
        self.token_store = TokenStore("graph", token_ttl)
        self.users, self.channels = users, channels
        self._config_lock = threading.Lock()
        self._notifications: list[dict[str, Any]] = []
        self._channel_messages: list[dict[str, Any]] = []
        self._message_ids = itertools.count(int(time.time() * 1000))

    # -- test controls -----------------------------------------------------------------------
    @property
    def token_url(self) -> str:
        return f"{self.url}/{self.tenant_id}/oauth2/v2.0/token"

    @property
    def graph_url(self) -> str:
        """Like ``https://graph.microsoft.com/v1.0``."""
        return f"{self.url}/v1.0"

    @property
    def tokens(self) -> list[Token]:
        return self.token_store.tokens

    def issue_token(
        self, kind: str = "app", user: str = DEFAULT_USER, scope: str = DEFAULT_DELEGATED_SCOPE
    ) -> str:
        """An access token: ``app`` (client credentials) or ``delegated`` for ``user``."""
        if kind == "app":
            return self.token_store.issue(self.client_id, scope=GRAPH_DEFAULT_SCOPE).value
        token = self.token_store.issue(
            self.client_id, kind="delegated", scope=full_scope(scope), subject=user
        )
        return token.value

    def issue_refresh_token(
        self, user: str = DEFAULT_USER, scope: str = DEFAULT_DELEGATED_SCOPE, value: str | None = None
    ) -> str:
        """A refresh token for ``user`` (as if they had signed in), to configure the adapter with."""
        return self.token_store.issue_refresh(self.client_id, user, scope, value).value

    def expire_tokens(self) -> int:
        """Expire every access token (refresh tokens stay valid): the next call answers 401."""
        return self.token_store.expire_all()

    def revoke_refresh_tokens(self) -> int:
        """Refresh tokens stop working: the refresh grant answers 400 ``invalid_grant``."""
        return self.token_store.revoke_refresh_tokens()

    def add_user(self, user: str) -> None:
        with self._config_lock:
            self.users = {*(self.users or set()), user}

    def add_channel(self, team: str, channel: str) -> None:
        with self._config_lock:
            self.channels = {*(self.channels or set()), (team, channel)}

    def notifications(self) -> list[dict[str, Any]]:
        """Activity notifications sent: ``{"user", **body}``, in order."""
        with self.state_lock:
            return [dict(n) for n in self._notifications]

    def channel_messages(self) -> list[dict[str, Any]]:
        """Channel messages created: ``{"team", "channel", "id", "from", **body}``, in order."""
        with self.state_lock:
            return [dict(m) for m in self._channel_messages]

    def describe(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "token_url": self.token_url,
            "graph_url": self.graph_url,
            "tenant_id": self.tenant_id,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }

    def reset_state(self) -> None:
        self._notifications.clear()
        self._channel_messages.clear()

    # -- answers -----------------------------------------------------------------------------
    def contract_reply(self, request: FakeRequest, error: ContractError) -> Reply:
        if request.route == "token":
            return aad_error(400, error.error or "invalid_request", 900144, error.reason)
        return graph_error(request, 400, "BadRequest", error.reason)

    def error_reply(self, request: FakeRequest, code: int, headers: dict[str, str]) -> Reply:
        if request.route == "token":
            return aad_error(
                code,
                "temporarily_unavailable" if code in {429, 503} else "server_error",
                None,
                f"The service answered {code}.",
                headers,
            )
        message = "Too many requests." if code == 429 else f"The service answered {code}."
        return graph_error(request, code, GRAPH_STATUS_CODES.get(code, "UnknownError"), message, headers)

    # -- routing -----------------------------------------------------------------------------
    def route(self, request: FakeRequest) -> Outcome:
        path = request.url_path
        if match := _TOKEN_PATH.match(path):
            request.route = "token"
            return self._token(request, match.group(1))
        activity, messages = _ACTIVITY_PATH.match(path), _MESSAGES_PATH.match(path)
        if not (activity or messages):
            return answer(
                graph_error(request, 404, "NotFound", f"Resource not found for the segment '{path}'.")
            )
        request.route = "activity" if activity else "channel_message"
        if request.method != "POST":
            return answer(
                graph_error(
                    request, 405, "MethodNotAllowed", "The HTTP method is not allowed.", {"Allow": "POST"}
                )
            )
        token, problem = self.token_store.check_bearer(request)
        if token is None:
            message = GRAPH_TOKEN_PROBLEMS[str(problem)]
            return answer(graph_error(request, 401, "InvalidAuthenticationToken", message))
        if activity:
            if token.kind != "app":
                return answer(
                    graph_error(
                        request,
                        403,
                        "Forbidden",
                        "This fake sends activity notifications "
                        "with an application token (TeamsActivity.Send) only.",
                    )
                )
            body = request.json_body()
            check_activity(body)
            return perform(lambda: self._notify(request, unquote(activity.group(1)), body))
        assert messages is not None
        if token.kind != "delegated":
            return answer(graph_error(request, 401, "Unauthorized", IMPORT_ONLY))
        if not scope_names(token.scope) & CHANNEL_MESSAGE_SCOPES:
            return answer(
                graph_error(
                    request,
                    403,
                    "Forbidden",
                    "Missing scope permissions on the request. "
                    "API requires one of 'ChannelMessage.Send, Group.ReadWrite.All'.",
                )
            )
        body = request.json_body()
        check_channel_message(body)
        if message_size(body) > MESSAGE_SIZE_LIMIT:
            return answer(graph_error(request, 413, "RequestEntityTooLarge", "Request Entity too large"))
        team, channel = unquote(messages.group(1)), unquote(messages.group(2))
        return perform(lambda: self._post(request, team, channel, body, token))

    def _notify(self, request: FakeRequest, user: str, body: dict[str, Any]) -> Reply:
        with self._config_lock:
            known = self.users is None or user in self.users
        if not known:
            return graph_error(
                request,
                404,
                "Request_ResourceNotFound",
                f"Resource '{user}' does not exist or one of its queried "
                "reference-property objects are not present.",
            )
        self._notifications.append({"user": user, **body})
        self.add_effect("activity", f"{user}|{body['activityType']}|{body['previewText']['content']}", body)
        return empty_reply(204)

    def _post(
        self, request: FakeRequest, team: str, channel: str, body: dict[str, Any], token: Token
    ) -> Reply:
        with self._config_lock:
            known = self.channels is None or (team, channel) in self.channels
        if not known:
            return graph_error(request, 404, "NotFound", f"Channel {channel} of team {team} was not found.")
        message_id = str(next(self._message_ids))
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        sender = {
            "application": None,
            "device": None,
            "user": {"id": token.subject, "displayName": token.subject, "userIdentityType": "aadUser"},
        }
        self._channel_messages.append(
            {"team": team, "channel": channel, "id": message_id, "from": sender, **body}
        )
        self.add_effect("channel_message", f"{team}/{channel}|{body['body']['content']}", body)
        return json_reply(
            201,
            {
                "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#teams('{team}')/channels('{channel}')"
                "/messages/$entity",
                "id": message_id,
                "replyToId": None,
                "etag": message_id,
                "messageType": "message",
                "createdDateTime": now,
                "lastModifiedDateTime": now,
                "deletedDateTime": None,
                "subject": body.get("subject"),
                "importance": body.get("importance", "normal"),
                "locale": "en-us",
                "webUrl": f"https://teams.microsoft.com/l/message/{channel}/{message_id}",
                "from": sender,
                "body": {"contentType": "text", **body["body"]},
                "attachments": body.get("attachments", []),
                "mentions": [],
                "reactions": [],
                "channelIdentity": {"teamId": team, "channelId": channel},
            },
        )

    # -- token endpoint ----------------------------------------------------------------------
    def _token(self, request: FakeRequest, tenant: str) -> Outcome:
        if request.method != "POST":
            raise ContractError("The token endpoint only accepts POST.")
        if tenant != self.tenant_id:
            return answer(aad_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found."))
        form = request.form()
        grant_type = form.get("grant_type")
        if not grant_type:
            raise ContractError("The request body must contain the following parameter: 'grant_type'.")
        if grant_type not in {"client_credentials", "refresh_token"}:
            return answer(
                aad_error(
                    400,
                    "unsupported_grant_type",
                    70003,
                    f"The app requested an unsupported grant type '{grant_type}'.",
                )
            )
        client_id, secret = client_auth(request, form)
        if client_id != self.client_id:
            return answer(
                aad_error(
                    400,
                    "unauthorized_client",
                    700016,
                    f"Application with identifier '{client_id}' was not found in the directory '{tenant}'.",
                )
            )
        if secret != self.client_secret:
            return answer(aad_error(401, "invalid_client", 7000215, "Invalid client secret provided."))
        scope = form.get("scope", "").strip()
        if not scope:
            raise ContractError("The request body must contain the following parameter: 'scope'.")
        if grant_type == "client_credentials":
            return self._client_credentials(scope)
        return self._refresh(form, scope)

    def _client_credentials(self, scope: str) -> Outcome:
        if not scope.endswith("/.default") or " " in scope:
            return answer(
                aad_error(
                    400,
                    "invalid_scope",
                    1002012,
                    f"The provided value for scope {scope} is not valid. Client credential "
                    "flows must have a scope value with /.default suffixed to the resource "
                    "identifier (application ID URI).",
                )
            )
        if scope != GRAPH_DEFAULT_SCOPE:
            return answer(
                aad_error(
                    400,
                    "invalid_resource",
                    500011,
                    f"The resource principal named "
                    f"{scope.removesuffix('/.default')} was not found in the tenant.",
                )
            )

        def issue() -> Reply:
            token = self.token_store.issue(self.client_id, scope=scope)
            ttl = int(self.token_store.ttl)
            return json_reply(
                200,
                {
                    "token_type": "Bearer",
                    "expires_in": ttl,
                    "ext_expires_in": ttl,
                    "access_token": token.value,
                },
                NO_STORE,
            )

        return perform(issue, TOKEN)

    def _refresh(self, form: dict[str, str], scope: str) -> Outcome:
        value = form.get("refresh_token")
        if not value:
            raise ContractError("The request body must contain the following parameter: 'refresh_token'.")
        grant = self.token_store.refresh_grant(value)
        if grant is None:
            known = any(g.value == value for g in self.token_store.refresh_tokens)
            return answer(
                aad_error(
                    400,
                    "invalid_grant",
                    700082 if known else 9002313,
                    "The refresh token has expired due to inactivity."
                    if known
                    else "Invalid request. Request is malformed or invalid.",
                )
            )
        wanted, granted = scope_names(scope), scope_names(grant.scope)
        if ".default" not in wanted and not wanted <= granted:
            return answer(
                aad_error(
                    400,
                    "invalid_scope",
                    65001,
                    f"The user has not consented to {', '.join(sorted(wanted - granted))}.",
                )
            )
        delegated = grant.scope if ".default" in wanted else scope

        def issue() -> Reply:
            token = self.token_store.issue(
                self.client_id, kind="delegated", scope=full_scope(delegated), subject=grant.subject
            )
            rotated = self.token_store.issue_refresh(self.client_id, grant.subject, grant.scope)
            ttl = int(self.token_store.ttl)
            return json_reply(
                200,
                {
                    "token_type": "Bearer",
                    "scope": full_scope(delegated),
                    "expires_in": ttl,
                    "ext_expires_in": ttl,
                    "access_token": token.value,
                    "refresh_token": rotated.value,
                },
                NO_STORE,
            )

        return perform(issue, TOKEN)
