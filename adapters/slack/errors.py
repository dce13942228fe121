"""The Slack Web API's error codes that retrying cannot fix: a delivery meeting one is a dead
letter at once (Slack answers most errors HTTP 200 with ``"ok": false`` and the code)."""

from __future__ import annotations

import json
from typing import Any

from adapters.base import AdapterError, SendResult

# Errors retrying cannot fix (https://api.slack.com/methods/chat.postMessage#errors).
PERMANENT_ERRORS = frozenset(
    {
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
)

# What a post into a channel id answers when no such channel takes it (any longer).
CHANNEL_ERRORS = frozenset({"channel_not_found", "is_archived", "not_in_channel"})


def checked(result: SendResult) -> dict[str, Any]:
    """A Web API answer's JSON when ``"ok"`` is true; else the AdapterError its ``error`` code
    makes (permanent for ``PERMANENT_ERRORS``)."""
    try:
        answer = json.loads(result.body or "{}")
    except ValueError:  # not Slack's answer (a proxy's page?): a post may have been made
        raise AdapterError(
            "Slack answered something that is not JSON", response_body=result.body, ambiguous=True
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
