"""The Slack Web API's error codes that retrying cannot fix: a delivery meeting one is a dead
letter at once (Slack answers most errors HTTP 200 with ``"ok": false`` and the code)."""

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
