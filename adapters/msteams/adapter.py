"""Microsoft Teams through Microsoft Graph.

**What Teams holds** (the contract): at most one notification per delivery, in effect, and only
what the privacy defaults allow: completions and passes (a failed result, a score below
``min_score`` or a bare score is never posted to a channel; ``failures: "direct_message"`` sends
it to the learner's own activity feed), the score only with ``include_score``; an activity or
learner name too long for a Teams message is cut to its beginning, not refused. Graph offers no way
to look a notification up, so an attempt that may have reached it (a timeout after sending, a
connection lost, a 5xx) is never sent again blindly: the delivery waits as "outcome unknown" for
an admin to mark it delivered or send it again, and a forced backfill never re-sends a delivered
one.

Two modes, as Graph allows them:
- ``activity_feed``: an activity-feed notification to the learner,
  ``POST /v1.0/users/{id}/teamwork/sendActivityNotification`` with an application token
  (client credentials, scope ``https://graph.microsoft.com/.default``; application
  permission TeamsActivity.Send).
  https://learn.microsoft.com/graph/api/userteamwork-sendactivitynotification
- ``channel_message``: ``POST /v1.0/teams/{team-id}/channels/{channel-id}/messages`` with an
  HTML body; Graph allows this only with delegated permission (ChannelMessage.Send), so the
  adapter holds a refresh token and renews it (and the rotated refresh token) automatically.
  https://learn.microsoft.com/graph/api/channel-post-messages
Tokens come from ``{login_base}/{tenant}/oauth2/v2.0/token``. Graph throttling (429 with
Retry-After) and expired tokens (401: one refresh, one retry) are handled.
"""

from __future__ import annotations

import hashlib
import html
import json
from contextlib import AbstractContextManager
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

from django.core.cache import cache

from adapters.base import (
    PRIVACY_CONFIG_PROPERTIES,
    AdapterError,
    AlertNotice,
    DeliveryContext,
    NothingToSend,
    OutboundRequest,
    SendResult,
)
from adapters.http import send as http_send
from adapters.identity.resolution import employee_address_for_actor, nothing_for_erased, prefetched
from adapters.msteams.token_store import token_forget, token_get, token_put
from adapters.oauth import ClientCredentials, OAuthAdapter
from adapters.rules.emails import email_from_actor
from adapters.rules.notifications import NO_NAME, configured_announcement, notification_for, shortened

GRAPH_DEFAULT_SCOPE = "https://graph.microsoft.com/.default"
DELEGATED_SCOPE = "https://graph.microsoft.com/ChannelMessage.Send offline_access"
# Graph's reserved activity type, declared in no app manifest: its text is the ``systemDefaultText``
# template parameter, which Graph requires with it (400 without):
# https://learn.microsoft.com/graph/teams-send-activityfeednotifications ("systemDefault").
SYSTEM_DEFAULT = "systemDefault"


class TeamsAdapter(OAuthAdapter):
    name = "msteams"
    carries_alerts = True  # in channel_message mode: alerts post to the channel
    description = "Microsoft Teams activity-feed notifications or channel messages (Microsoft Graph)"
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "required": ["mode", "tenant_id", "client_id", "client_secret"],
        "additionalProperties": False,
        "properties": {
            "mode": {"enum": ["activity_feed", "channel_message"]},
            "tenant_id": {"type": "string", "minLength": 1},
            "client_id": {"type": "string", "minLength": 1},
            "client_secret": {"secret": True},
            "refresh_token": {"secret": True, "description": "delegated token for channel_message"},
            "team_id": {"type": "string"},
            "channel_id": {"type": "string"},
            "activity_type": {"type": "string", "minLength": 1},
            "web_url": {"type": "string", "pattern": "^https://"},
            "graph_base": {"type": "string", "pattern": "^https?://"},
            "login_base": {"type": "string", "pattern": "^https?://"},
            "include_score": {"type": "boolean"},
            "failures": {"enum": ["skip", "direct_message"]},
            "min_score": {"type": "number", "minimum": 0, "maximum": 100},
            "announce_scores": {"type": "boolean"},
            "preferred_languages": {"type": "array", "items": {"type": "string"}},
            "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 120},
            **PRIVACY_CONFIG_PROPERTIES,
        },
        "oneOf": [
            {  # a notification in the learner's own feed needs to know who the learner is
                "properties": {"mode": {"const": "activity_feed"}, "pseudonymise": {"const": False}},
            },
            {
                "properties": {"mode": {"const": "channel_message"}},
                "required": ["refresh_token", "team_id", "channel_id"],
            },
        ],
    }
    # Graph cannot be asked whether a notification arrived: never re-sent blindly.
    repeatable = False

    def may_resend_unknown_outcome(self) -> bool:
        return False

    @classmethod
    def requests_per_send(cls, config: dict[str, Any]) -> int:
        """The most one send makes (its claim is sized for them, ``drain.claim_seconds``): a token,
        the post, and after a 401 (a token revoked early) a fresh token and the post again; in
        ``channel_message`` mode one token request more, when the configured refresh token has
        lapsed and one an earlier version stored under the legacy key is tried next."""
        return 5 if config.get("mode") == "channel_message" else 4

    @property
    def sequential(self) -> bool:
        # The delegated token is renewed and stored (encrypted, in the database) while sending.
        return self.config["mode"] == "channel_message"

    @property
    def graph_base(self) -> str:
        return self.config.get("graph_base", "https://graph.microsoft.com").rstrip("/")

    @property
    def token_url(self) -> str:
        login = self.config.get("login_base", "https://login.microsoftonline.com").rstrip("/")
        return f"{login}/{quote(self.config['tenant_id'], safe='')}/oauth2/v2.0/token"

    def credentials(self) -> ClientCredentials:
        return ClientCredentials(
            token_url=self.token_url,
            client_id=self.config["client_id"],
            client_secret=self.secrets["client_secret"],
            scope=GRAPH_DEFAULT_SCOPE,
        )

    def _timeout(self) -> float:
        return float(self.config.get("timeout_seconds", 10))

    def prefetch(self, statements: list[dict]) -> AbstractContextManager[object]:
        return prefetched(statement["actor"] for statement in statements)

    def resolve(self, statement: dict, context: DeliveryContext) -> dict[str, Any]:
        # An erased learner's statement (its actor a pseudonym) is announced nowhere, even when a
        # replay or backfill brings back a delivery the erasure cancelled (adapters/privacy/erasure.py).
        nothing_for_erased(statement["actor"])
        told = configured_announcement(statement, self.config)
        if told.audience is None:
            return {"audience": None, "reason": told.reason}
        if self.config["mode"] != "activity_feed":
            if told.audience == "learner":  # a channel message reaches everyone in the channel
                return {"audience": None, "reason": f"{told.reason}, but a channel is no place for it"}
            return {"audience": told.audience}
        email = email_from_actor(statement["actor"], strip_plus_aliases=False, dotless_domains=frozenset())
        if email:
            return {"audience": told.audience, "recipient": email}
        # An actor known by account or openid: notify the employee's linked address; held until
        # one is linked (Graph names a user, and an employee may be linked by account first).
        return {"audience": told.audience, "recipient": employee_address_for_actor(statement["actor"])}

    def translate(self, statement: dict, context: DeliveryContext) -> OutboundRequest:
        if context.resolved.get("audience") is None:
            raise NothingToSend(context.resolved.get("reason") or "not announced")
        note = notification_for(
            statement,
            preferred_languages=self.config.get("preferred_languages", ["en-US", "en"]),
            include_score=self.config.get("include_score", False),
        )
        # Teams refuses a message above about 28 KB, its HTML included (413, on every attempt):
        # https://learn.microsoft.com/microsoftteams/limits-specifications-teams (Chat, "Number of
        # characters in a message"). Names cut to their beginning take at most 6 bytes an escaped
        # character (``&quot;``), well within the limit whatever they hold.
        note = shortened(note)
        headers = {"Content-Type": "application/json"}
        if self.config["mode"] == "channel_message":
            learner = NO_NAME if self.pseudonymised else note.learner
            content = (
                f"<p><b>{html.escape(learner)}</b> {html.escape(note.text[len(note.learner) + 1 :])}</p>"
            )
            return OutboundRequest(
                method="POST",
                url=(
                    f"{self.graph_base}/v1.0/teams/{quote(self.config['team_id'], safe='')}"
                    f"/channels/{quote(self.config['channel_id'], safe='')}/messages"
                ),
                json={"body": {"contentType": "html", "content": content}},
                headers=headers,
                timeout=self._timeout(),
            )
        recipient = context.resolved.get("recipient")
        if not recipient:
            raise AdapterError("the learner has no e-mail address to notify in Teams", permanent=True)
        web_url = self.config.get("web_url") or (
            note.activity_id if note.activity_id.startswith("https://") else "https://teams.microsoft.com"
        )
        user = quote(recipient, safe="@")
        activity_type = self.config.get("activity_type", "learningCompleted")
        parameters = [
            {"name": "learner", "value": note.learner},
            {"name": "activity", "value": note.activity},
        ]
        if activity_type == SYSTEM_DEFAULT:
            parameters.append({"name": "systemDefaultText", "value": note.text})
        return OutboundRequest(
            method="POST",
            url=f"{self.graph_base}/v1.0/users/{user}/teamwork/sendActivityNotification",
            json={
                "topic": {"source": "text", "value": note.activity[:100] or "Learning", "webUrl": web_url},
                "activityType": activity_type,
                "previewText": {"content": note.text[:150]},
                "templateParameters": parameters,
            },
            headers=headers,
            timeout=self._timeout(),
        )

    @classmethod
    def alert_config_problem(cls, config: dict[str, Any]) -> str | None:
        if config.get("mode") != "channel_message":
            return "a Teams alert target needs mode channel_message (the activity feed goes to a learner)"
        return None

    def alert_requests(self, notice: AlertNotice) -> list[OutboundRequest]:
        """The alert as a channel message (Graph offers no idempotency: an alert whose answer was
        lost may be posted twice, which an alert can bear)."""
        if self.config["mode"] != "channel_message":
            raise AdapterError("a Teams alert target needs mode channel_message", permanent=True)
        state = "&#x1F6A8;" if notice.state == "raised" else "&#x2705;"
        link = f'<a href="{html.escape(notice.link)}">open in the admin</a>'
        content = f"<p>{state} {html.escape(notice.text)} {link}</p>"
        return [
            OutboundRequest(
                method="POST",
                url=(
                    f"{self.graph_base}/v1.0/teams/{quote(self.config['team_id'], safe='')}"
                    f"/channels/{quote(self.config['channel_id'], safe='')}/messages"
                ),
                json={"body": {"contentType": "html", "content": content}},
                headers={"Content-Type": "application/json"},
                timeout=self._timeout(),
            )
        ]

    def bearer(self, *, refresh: bool) -> str:
        # Activity notifications take an application token; channel messages a delegated one.
        if self.config["mode"] == "activity_feed":
            return super().bearer(refresh=refresh)
        return self._delegated_token(refresh=refresh)

    # -- delegated token (refresh_token grant) -----------------------------------------------------

    @property
    def _store_key(self) -> str:
        """Where this target's rotated refresh token is kept and its access token cached: one
        place per channel and per configured refresh token (by its SHA-256), so two targets of one
        team each post as the user who consented for it, and once an admin configures a new
        refresh token (consent given again) a token rotated from the former one is never read."""
        origin = hashlib.sha256(self.secrets["refresh_token"].encode()).hexdigest()
        channel = f"{self.config.get('team_id')}|{self.config.get('channel_id')}"
        raw = f"{self.token_url}|{self.config['client_id']}|{channel}|{origin}"
        return "msteams-refresh:" + hashlib.sha256(raw.encode()).hexdigest()[:32]

    @property
    def _legacy_store_key(self) -> str:
        """The key a rotated refresh token was kept under before ``_store_key`` named the channel
        and the configured token (``token_url|client_id|team_id``), computed exactly as then so a
        token stored by an earlier version is found once more."""
        raw = f"{self.token_url}|{self.config['client_id']}|{self.config.get('team_id')}"
        return "msteams-refresh:" + hashlib.sha256(raw.encode()).hexdigest()[:32]

    def _refresh(self, refresh_token: str, stored_under: str | None) -> SendResult:
        """One token request with this refresh token (``stored_under``: the key it is kept under;
        None: the configured one); the answer, or ``AdapterError`` (see ``_delegated_token``)."""
        form = {
            "grant_type": "refresh_token",
            "client_id": self.config["client_id"],
            "client_secret": self.secrets["client_secret"],
            "refresh_token": refresh_token,
            "scope": DELEGATED_SCOPE,
        }
        request = OutboundRequest(
            method="POST",
            url=self.token_url,
            body=urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=self._timeout(),
        )
        try:
            return http_send(request)
        except AdapterError as error:
            # The attempt's record shows the admin which request failed (``error.request``); its
            # summary redacts the form's client secret and refresh token by name
            # (``adapters.redaction``: a rotated token is no configured secret value to redact).
            error.ambiguous = False  # only a token was asked for: nothing was posted
            if error.status_code in (400, 401):
                # invalid_grant: the refresh token was revoked or expired; an admin must consent again.
                error.permanent = True
                error.message = f"refreshing the delegated Graph token failed: {error.response_body[:200]}"
                if stored_under and "invalid_grant" in error.response_body:
                    # Not kept to be tried again.
                    token_forget(stored_under, refresh_token)
                    if stored_under == self._store_key:
                        # The configured token may still be good (a rotated token can lapse while
                        # the consent stands): the retry finds nothing stored and uses it.
                        error.permanent = False
                        error.message += " (the stored token was dropped; the configured one is tried next)"
            raise

    def _delegated_token(self, *, refresh: bool) -> str:
        cache_key = "lrs:msgraph-delegated:" + self._store_key
        if not refresh and (cached := cache.get(cache_key)):
            return cached
        candidates: list[tuple[str, str | None]]
        if stored := token_get(self._store_key):
            candidates = [(stored, self._store_key)]
        else:
            candidates = [(self.secrets["refresh_token"], None)]
            if legacy := token_get(self._legacy_store_key):
                # After the upgrade: an earlier version kept the rotated token under a key naming
                # neither the channel nor the consent (``_legacy_store_key``). The configured token
                # goes first, so a consent given again since wins; the legacy one only when that
                # has lapsed (Microsoft expires refresh tokens after ~90 days), and it is then
                # moved. Two channel targets of one team shared the legacy key (the old bug): the
                # first whose configured token lapsed takes it, as both used it before.
                candidates.append((legacy, self._legacy_store_key))
        for number, (refresh_token, stored_under) in enumerate(candidates, start=1):
            try:
                result = self._refresh(refresh_token, stored_under)
                break
            except AdapterError as error:
                if number < len(candidates) and "invalid_grant" in error.response_body:
                    continue
                raise
        try:
            token = json.loads(result.body)
        except ValueError:
            token = None
        if not isinstance(token, dict) or not token.get("access_token"):
            # A proxy's page, a maintenance notice: no token, and nothing was posted (not "outcome
            # unknown", which would park the delivery for an admin); tried again later.
            raise AdapterError(
                "the identity platform answered the token request with something that is not a token",
                status_code=result.status_code,
            )
        if stored_under == self._legacy_store_key:
            # Moved: kept under this target's key from now on (the rotated token, or the one used
            # if none came back) and the legacy row dropped, unless another process replaced it.
            token_put(self._store_key, token.get("refresh_token") or refresh_token)
            token_forget(stored_under, refresh_token)
        else:
            if token.get("refresh_token"):
                token_put(self._store_key, token["refresh_token"])  # Microsoft rotates refresh tokens
            if len(candidates) > 1:  # the configured token was good: the legacy row is not needed
                token_forget(self._legacy_store_key, candidates[1][0])
        cache.set(cache_key, token["access_token"], timeout=max(1, int(token.get("expires_in", 3600)) - 30))
        return token["access_token"]
