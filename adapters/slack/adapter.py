"""Slack notifications: ``chat.postMessage`` with a bot token (Block Kit blocks plus a plain
``text`` fallback), or an incoming-webhook URL.

Routing (bot mode): a channel per activity id, then per course id prefix, then a default
channel; optionally a direct message to the learner, found by e-mail
(``users.lookupByEmail``). Slack answers HTTP 200 with ``"ok": false`` for many errors:
``invalid_auth``, ``channel_not_found``, ``not_in_channel`` and the like are permanent;
``ratelimited`` (HTTP 429) honours ``Retry-After``.
https://api.slack.com/methods/chat.postMessage
"""

from __future__ import annotations

import json
from typing import Any, ClassVar
from urllib.parse import urlencode

from adapters.base import Adapter, AdapterError, DeliveryContext, OutboundRequest, SendResult
from adapters.http import send as http_send
from adapters.rules.emails import email_from_actor
from adapters.rules.notifications import notification_for

# Errors retrying cannot fix (https://api.slack.com/methods/chat.postMessage#errors).
PERMANENT_ERRORS = {
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "no_permission",
    "missing_scope",
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "msg_too_long",
    "no_text",
    "invalid_blocks",
    "invalid_arguments",
    "restricted_action",
    "users_not_found",
    "invalid_payload",
    "no_service",
    "channel_is_archived",
    "action_prohibited",
    "posting_to_general_channel_denied",
}


class SlackAdapter(Adapter):
    name = "slack"
    description = "Slack messages (bot token or incoming webhook)"
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "mode": {"enum": ["bot", "webhook"]},
            "bot_token": {"secret": True, "description": 'xoxb- token, as {"env": ...}'},
            "webhook_url": {"secret": True, "description": 'incoming webhook URL, as {"env": ...}'},
            "api_base": {"type": "string", "pattern": "^https?://"},
            "default_channel": {"type": "string", "minLength": 1},
            "channels_by_activity": {"type": "object", "additionalProperties": {"type": "string"}},
            "channels_by_prefix": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["prefix", "channel"],
                    "additionalProperties": False,
                    "properties": {"prefix": {"type": "string"}, "channel": {"type": "string"}},
                },
            },
            "direct_message": {"type": "boolean"},
            "include_score": {"type": "boolean"},
            "preferred_languages": {"type": "array", "items": {"type": "string"}},
            "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 120},
        },
        "oneOf": [
            {"properties": {"mode": {"const": "webhook"}}, "required": ["mode", "webhook_url"]},
            {"properties": {"mode": {"const": "bot"}}, "required": ["mode", "bot_token", "default_channel"]},
        ],
    }

    @property
    def api_base(self) -> str:
        return self.config.get("api_base", "https://slack.com/api").rstrip("/")

    def _timeout(self) -> float:
        return float(self.config.get("timeout_seconds", 10))

    def channel_for(self, activity_id: str) -> str:
        by_activity = self.config.get("channels_by_activity", {})
        if activity_id in by_activity:
            return by_activity[activity_id]
        for rule in self.config.get("channels_by_prefix", []):
            if activity_id.startswith(rule["prefix"]):
                return rule["channel"]
        return self.config["default_channel"]

    def resolve(self, statement: dict, context: DeliveryContext) -> dict[str, Any]:
        if self.config.get("mode") != "bot" or not self.config.get("direct_message"):
            return {}
        email = email_from_actor(statement["actor"], strip_plus_aliases=False, dotless_domains=frozenset())
        if not email:
            return {}
        lookup = OutboundRequest(
            method="GET",
            url=f"{self.api_base}/users.lookupByEmail?{urlencode({'email': email})}",
            headers={"Authorization": f"Bearer {self.secrets['bot_token']}"},
            timeout=self._timeout(),
        )
        try:
            answer = self._checked(http_send(lookup, correlation_id=context.correlation_id))
        except AdapterError as error:
            if "users_not_found" in error.message:
                return {}  # not in this workspace: the channel rule applies
            raise
        return {"slack_user": answer["user"]["id"]}

    def translate(self, statement: dict, context: DeliveryContext) -> OutboundRequest:
        note = notification_for(
            statement,
            preferred_languages=self.config.get("preferred_languages", ["en-US", "en"]),
            include_score=self.config.get("include_score", False),
        )
        blocks = [
            {"type": "section", "text": {"type": "mrkdwn", "text": _mrkdwn(note.text)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _mrkdwn(note.activity_id)}]},
        ]
        if self.config.get("mode") == "webhook":
            return OutboundRequest(
                method="POST",
                url=self.secrets["webhook_url"],
                json={"text": note.text, "blocks": blocks},
                timeout=self._timeout(),
            )
        channel = context.resolved.get("slack_user") or self.channel_for(note.activity_id)
        return OutboundRequest(
            method="POST",
            url=f"{self.api_base}/chat.postMessage",
            json={"channel": channel, "text": note.text, "blocks": blocks, "unfurl_links": False},
            headers={
                "Authorization": f"Bearer {self.secrets['bot_token']}",
                "Content-Type": "application/json; charset=utf-8",
            },
            timeout=self._timeout(),
        )

    def send(self, request: OutboundRequest, context: DeliveryContext) -> SendResult:
        try:
            result = http_send(request, correlation_id=context.correlation_id)
        except AdapterError as error:
            # Incoming webhooks answer errors as plain text with 400/403/404/410.
            if error.response_body.strip() in PERMANENT_ERRORS:
                error.permanent = True
            raise
        if self.config.get("mode") == "bot":
            self._checked(result)
        return result

    @staticmethod
    def _checked(result: SendResult) -> dict[str, Any]:
        try:
            answer = json.loads(result.body or "{}")
        except ValueError:
            raise AdapterError(
                "Slack answered something that is not JSON", response_body=result.body
            ) from None
        if answer.get("ok"):
            return answer
        error = answer.get("error", "unknown_error")
        raise AdapterError(
            f"Slack refused: {error}",
            permanent=error in PERMANENT_ERRORS,
            status_code=result.status_code,
            response_body=result.body,
        )


def _mrkdwn(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
