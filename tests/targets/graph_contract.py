"""Request shapes and error formats of the fake Microsoft identity platform + Graph.

From Microsoft's documentation: ``sendActivityNotification`` takes ``topic`` (``source``
``entityUrl`` with a Graph URL as ``value``, or ``text`` with a ``webUrl``), ``activityType``,
``previewText`` (an itemBody) and ``templateParameters`` (``[{name, value}]``; the reserved
``systemDefault`` type needs a ``systemDefaultText`` parameter), and answers 204. A channel
message is a chatMessage: only ``body`` is required; a card is an attachment whose ``content``
is the card serialised as a *string* and which the HTML body references with
``<attachment id="..."></attachment>``. Graph errors are ``{"error": {"code", "message",
"innerError"}}``; a channel message above Teams' size limit (about 28 KB, the HTML with it:
``MESSAGE_SIZE_LIMIT``) is refused 413 ``RequestEntityTooLarge``; token endpoint errors are
``{"error", "error_description": "AADSTS...", "error_codes", ...}``, 401 for ``invalid_client``
and 400 otherwise.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from tests.targets.fake_base import ContractError, FakeRequest, Reply, json_reply, schema_check

GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_DEFAULT_SCOPE = f"{GRAPH_RESOURCE}/.default"
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
CHANNEL_MESSAGE_SCOPES = frozenset({"channelmessage.send", "group.readwrite.all"})
# Teams' limit on one message, the HTML body and its attachments included (about 28 KB, "Request
# Entity too large" beyond it): https://learn.microsoft.com/microsoftteams/limits-specifications-teams
# (Chat, "Number of characters in a message") and https://learn.microsoft.com/connectors/teams/
# ("Message size limit"). The fake took any size before: a message Teams refuses passed here.
MESSAGE_SIZE_LIMIT = 28 * 1024

_NAME_VALUE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "value"],
    "properties": {"name": {"type": "string", "minLength": 1}, "value": {"type": "string"}},
}

ACTIVITY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["topic", "activityType", "previewText"],
    "properties": {
        "topic": {
            "type": "object",
            "additionalProperties": False,
            "required": ["source", "value"],
            "properties": {
                "source": {"enum": ["entityUrl", "text"]},
                "value": {"type": "string", "minLength": 1},
                "webUrl": {"type": "string", "pattern": "^https://"},
            },
            "allOf": [
                {
                    "if": {"required": ["source"], "properties": {"source": {"const": "text"}}},
                    "then": {"required": ["webUrl"]},
                },
                {
                    "if": {"required": ["source"], "properties": {"source": {"const": "entityUrl"}}},
                    "then": {
                        "properties": {"value": {"pattern": r"^https://graph\.microsoft\.com/(v1\.0|beta)/"}}
                    },
                },
            ],
        },
        "activityType": {"type": "string", "minLength": 1},
        "chainId": {"type": "integer"},
        "previewText": {
            "type": "object",
            "additionalProperties": False,
            "required": ["content"],
            "properties": {"content": {"type": "string"}, "contentType": {"enum": ["text", "html"]}},
        },
        "templateParameters": {"type": "array", "items": _NAME_VALUE},
        "teamsAppId": {"type": "string"},
        "iconId": {"type": "string"},
    },
    "if": {"required": ["activityType"], "properties": {"activityType": {"const": "systemDefault"}}},
    "then": {
        "required": ["templateParameters"],
        "properties": {
            "templateParameters": {"contains": {"properties": {"name": {"const": "systemDefaultText"}}}}
        },
    },
}

_NULLABLE_STRING = {"type": ["string", "null"]}
CHANNEL_MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["body"],
    "properties": {
        "body": {
            "type": "object",
            "additionalProperties": False,
            "required": ["content"],
            "properties": {
                "contentType": {"enum": ["text", "html"]},
                "content": {"type": "string", "minLength": 1},
            },
        },
        "subject": _NULLABLE_STRING,
        "summary": _NULLABLE_STRING,
        "importance": {"enum": ["normal", "high", "urgent"]},
        "attachments": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "contentType"],
                "properties": {
                    "id": {"type": "string", "minLength": 1},
                    "contentType": {"type": "string", "minLength": 1},
                    **dict.fromkeys(
                        ["content", "contentUrl", "name", "thumbnailUrl", "teamsAppId"], _NULLABLE_STRING
                    ),
                },
            },
        },
        "mentions": {"type": "array"},
        "hostedContents": {"type": "array"},
    },
}

ADAPTIVE_CARD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "version"],
    "properties": {
        "type": {"const": "AdaptiveCard"},
        "version": {"type": "string", "pattern": r"^1\.[0-6]$"},
        "$schema": {"type": "string"},
        "body": {"type": "array", "items": {"type": "object", "required": ["type"]}},
        "actions": {"type": "array", "items": {"type": "object", "required": ["type"]}},
    },
}

check_activity = schema_check(ACTIVITY_SCHEMA)
_check_message = schema_check(CHANNEL_MESSAGE_SCHEMA)
_check_card = schema_check(ADAPTIVE_CARD_SCHEMA)


def check_channel_message(body: Any) -> None:
    """The chatMessage schema plus the attachment rules Teams enforces."""
    _check_message(body)
    attachments = body.get("attachments") or []
    if not attachments:
        return
    if body["body"].get("contentType") != "html":
        raise ContractError("body.body.contentType must be html when the message has attachments")
    ids = [a["id"] for a in attachments]
    if len(set(ids)) != len(ids):
        raise ContractError("body.attachments: ids must be unique")
    for index, attachment in enumerate(attachments):
        tag = f'<attachment id="{attachment["id"]}"></attachment>'
        if tag not in body["body"]["content"]:
            raise ContractError(f"body.body.content must reference attachment {attachment['id']} as {tag}")
        if attachment["contentType"] == ADAPTIVE_CARD:
            where = f"body.attachments[{index}].content"
            if not isinstance(attachment.get("content"), str):
                raise ContractError(f"{where} must be the card serialised as a JSON string")
            try:
                card = json.loads(attachment["content"])
            except ValueError:
                raise ContractError(f"{where} is not valid JSON") from None
            _check_card(card, where)


def message_size(body: dict[str, Any]) -> int:
    """The bytes of a chatMessage Teams counts against ``MESSAGE_SIZE_LIMIT``: the body's content
    and the attachments' (UTF-8)."""
    parts = [body["body"]["content"], *(a.get("content") or "" for a in body.get("attachments") or [])]
    return sum(len(part.encode()) for part in parts)


def scope_names(scope: str) -> set[str]:
    """Lower-case permission names of a scope string, without the Graph prefix or OIDC scopes."""
    names = {s.removeprefix(GRAPH_RESOURCE + "/").lower() for s in scope.split()}
    return names - OIDC_SCOPES


def full_scope(scope: str) -> str:
    """Scopes as the token endpoint reports them (``https://graph.microsoft.com/<Name>``)."""
    return " ".join(s if s in OIDC_SCOPES or "://" in s else f"{GRAPH_RESOURCE}/{s}" for s in scope.split())


def _now() -> datetime:
    return datetime.now(UTC)


def graph_error(
    request: FakeRequest, code: int, error_code: str, message: str, headers: dict[str, str] | None = None
) -> Reply:
    """A Graph error: ``{"error": {"code", "message", "innerError": {date, request-id, ...}}}``."""
    request_id = str(uuid.uuid4())
    inner = {
        "date": _now().strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id,
        "client-request-id": request.header("client-request-id") or request_id,
    }
    extra = {"request-id": request_id, **(headers or {})}
    if code == 401:
        extra.setdefault(
            "WWW-Authenticate",
            'Bearer realm="", authorization_uri='
            '"https://login.microsoftonline.com/common/oauth2/authorize", '
            'client_id="00000003-0000-0000-c000-000000000000"',
        )
    return json_reply(code, {"error": {"code": error_code, "message": message, "innerError": inner}}, extra)


GRAPH_STATUS_CODES = {
    400: "BadRequest",
    401: "InvalidAuthenticationToken",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


def aad_error(
    code: int, error: str, aadsts: int | None, description: str, headers: dict[str, str] | None = None
) -> Reply:
    """A Microsoft identity platform token endpoint error."""
    trace, correlation, now = str(uuid.uuid4()), str(uuid.uuid4()), _now()
    stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
    prefix = f"AADSTS{aadsts}: " if aadsts else ""
    payload: dict[str, Any] = {
        "error": error,
        "error_description": f"{prefix}{description} Trace ID: {trace} Correlation ID: {correlation} "
        f"Timestamp: {stamp}",
        "error_codes": [aadsts] if aadsts else [],
        "timestamp": stamp,
        "trace_id": trace,
        "correlation_id": correlation,
    }
    if aadsts:
        payload["error_uri"] = f"https://login.microsoftonline.com/error?code={aadsts}"
    return json_reply(code, payload, {**(headers or {}), "Cache-Control": "no-store, no-cache"})
