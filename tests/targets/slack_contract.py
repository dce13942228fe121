"""The request shapes the fake Slack accepts (Web API methods and incoming webhooks).

Modelled on Slack's documentation: ``chat.postMessage`` takes ``channel`` plus ``text`` (we
require ``text`` even with ``blocks``: Slack uses it as the notification fallback) and at most
50 Block Kit blocks; ``users.lookupByEmail`` is a read method that takes ``email`` as a query or
form parameter (no JSON body); ``conversations.open`` takes ``users`` (comma-separated user IDs)
or ``channel``. Unknown arguments are refused so a typo (``chanel``) fails loudly here instead
of as a confusing ``channel_not_found`` later. A text longer than Block Kit allows is refused as
Slack refuses it (``invalid_blocks``; the message's ``text``, ``msg_too_long``), counted in UTF-16
code units (``utf16_units``: Slack does not say how it counts, and no count is larger).
"""

from __future__ import annotations

import json
from typing import Any

from tests.targets.behaviours import Behaviour, status
from tests.targets.fake_base import ContractError, schema_check

BLOCK_TYPES = [
    "actions",
    "context",
    "divider",
    "file",
    "header",
    "image",
    "input",
    "rich_text",
    "section",
    "video",
    "markdown",
]

TEXT_OBJECT: dict[str, Any] = {
    "type": "object",
    "required": ["type", "text"],
    "additionalProperties": False,
    "properties": {
        "type": {"enum": ["plain_text", "mrkdwn"]},
        "text": {"type": "string", "minLength": 1, "maxLength": 3000},
        "emoji": {"type": "boolean"},
        "verbatim": {"type": "boolean"},
    },
}


def _when(block_type: str, then: dict[str, Any]) -> dict[str, Any]:
    return {"if": {"required": ["type"], "properties": {"type": {"const": block_type}}}, "then": then}


BLOCK: dict[str, Any] = {
    "type": "object",
    "required": ["type"],
    "properties": {"type": {"enum": BLOCK_TYPES}, "block_id": {"type": "string", "maxLength": 255}},
    "allOf": [
        _when(
            "section",
            {
                "anyOf": [{"required": ["text"]}, {"required": ["fields"]}],
                "properties": {
                    "text": TEXT_OBJECT,
                    "fields": {"type": "array", "minItems": 1, "maxItems": 10, "items": TEXT_OBJECT},
                },
            },
        ),
        _when(
            "header",
            {
                "required": ["text"],
                "properties": {
                    "text": {
                        **TEXT_OBJECT,
                        "properties": {
                            **TEXT_OBJECT["properties"],
                            "type": {"const": "plain_text"},
                            "text": {"type": "string", "minLength": 1, "maxLength": 150},
                        },
                    }
                },
            },
        ),
        _when(
            "context",
            {
                "required": ["elements"],
                "properties": {
                    "elements": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 10,
                        # Image elements or text objects, each a text object's limits.
                        "items": {
                            "if": {"properties": {"type": {"enum": ["plain_text", "mrkdwn"]}}},
                            "then": TEXT_OBJECT,
                        },
                    }
                },
            },
        ),
        _when(
            "actions",
            {
                "required": ["elements"],
                "properties": {"elements": {"type": "array", "minItems": 1, "maxItems": 25}},
            },
        ),
        _when(
            "image",
            {"required": ["alt_text"], "anyOf": [{"required": ["image_url"]}, {"required": ["slack_file"]}]},
        ),
    ],
}
BLOCKS: dict[str, Any] = {"type": "array", "minItems": 1, "maxItems": 50, "items": BLOCK}

_MESSAGE_OPTIONS: dict[str, Any] = {
    "text": {"type": "string", "minLength": 1, "maxLength": 40000},
    "blocks": BLOCKS,
    "attachments": {"type": "array", "items": {"type": "object"}},
    "thread_ts": {"type": "string", "pattern": r"^\d+\.\d+$"},
    "mrkdwn": {"type": "boolean"},
    "unfurl_links": {"type": "boolean"},
    "unfurl_media": {"type": "boolean"},
}

POST_MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["channel", "text"],
    "additionalProperties": False,
    "properties": {
        **_MESSAGE_OPTIONS,
        "channel": {"type": "string", "minLength": 1},
        "reply_broadcast": {"type": "boolean"},
        "link_names": {"type": "boolean"},
        "parse": {"enum": ["none", "full"]},
        "username": {"type": "string"},
        "icon_emoji": {"type": "string"},
        "icon_url": {"type": "string"},
        "metadata": {
            "type": "object",
            "required": ["event_type", "event_payload"],
            "properties": {"event_type": {"type": "string"}, "event_payload": {"type": "object"}},
        },
    },
}

WEBHOOK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        **_MESSAGE_OPTIONS,
        "response_type": {"enum": ["in_channel", "ephemeral"]},
        "replace_original": {"type": "boolean"},
        "delete_original": {"type": "boolean"},
    },
}

OPEN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "anyOf": [{"required": ["users"]}, {"required": ["channel"]}],
    "properties": {
        "users": {"type": "string", "pattern": r"^[UW][A-Z0-9]+(,[UW][A-Z0-9]+){0,7}$"},
        "channel": {"type": "string", "minLength": 1},
        "return_im": {"type": ["boolean", "string"]},
        "prevent_creation": {"type": ["boolean", "string"]},
    },
}

_NUMERIC_TS = {"type": "string", "pattern": r"^\d+(\.\d+)?$"}
_FLAG = {"type": ["boolean", "string"]}
_LIMIT = {"type": ["integer", "string"], "pattern": r"^\d+$", "minimum": 1, "maximum": 1000}
HISTORY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["channel"],
    "additionalProperties": False,
    "properties": {
        "channel": {"type": "string", "pattern": r"^[CDG][A-Z0-9]+$"},
        "cursor": {"type": "string"},
        "include_all_metadata": _FLAG,
        "inclusive": _FLAG,
        "latest": _NUMERIC_TS,
        "oldest": _NUMERIC_TS,
        "limit": _LIMIT,
    },
}
_TYPE = "(public_channel|private_channel|mpim|im)"
LIST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "cursor": {"type": "string"},
        "exclude_archived": _FLAG,
        "limit": _LIMIT,
        "types": {"type": "string", "pattern": rf"^{_TYPE}(,{_TYPE})*$"},
        "team_id": {"type": "string"},
    },
}

_check_post = schema_check(POST_MESSAGE_SCHEMA)
_check_history = schema_check(HISTORY_SCHEMA)
_check_list = schema_check(LIST_SCHEMA)
_check_webhook = schema_check(WEBHOOK_SCHEMA)
_check_open = schema_check(OPEN_SCHEMA)


def _error_code(reason: str, default: str) -> str:
    if reason.startswith("body.blocks"):
        return "invalid_blocks"
    return "msg_too_long" if reason.startswith("body.text") and "too long" in reason else default


# Slack does not say how it counts a text's characters (https://api.slack.com/reference/block-kit/
# composition-objects#text says "characters"). The fake counts UTF-16 code units, as a JavaScript
# string's length does (a character beyond the Basic Multilingual Plane, most emoji, is two): never
# fewer than code points, so a sender counting code points alone is refused here before Slack can.
TEXT_OBJECT_UNITS = 3000
HEADER_TEXT_UNITS = 150
MESSAGE_TEXT_UNITS = 40000


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _block_texts(block: dict[str, Any]) -> list[tuple[str, Any]]:
    """The text objects of a block, each with where it is in the block."""
    texts = [(".text", block.get("text"))]
    texts += [(f".fields[{n}]", field) for n, field in enumerate(block.get("fields") or [])]
    texts += [(f".elements[{n}]", element) for n, element in enumerate(block.get("elements") or [])]
    return [(at, obj) for at, obj in texts if isinstance(obj, dict) and isinstance(obj.get("text"), str)]


def _check_lengths(body: dict[str, Any]) -> None:
    """Texts too long in UTF-16 code units (above): a text object ``invalid_blocks``, the message's
    ``text`` ``msg_too_long`` (https://api.slack.com/methods/chat.postMessage#errors)."""
    for index, block in enumerate(body.get("blocks") or []):
        limit = HEADER_TEXT_UNITS if block.get("type") == "header" else TEXT_OBJECT_UNITS
        for where, obj in _block_texts(block):
            units = utf16_units(obj["text"])
            if units > limit:
                raise ContractError(
                    f"body.blocks[{index}]{where}.text: {units} UTF-16 code units, more than {limit}",
                    "invalid_blocks",
                )
    text = body.get("text")
    if isinstance(text, str) and utf16_units(text) > MESSAGE_TEXT_UNITS:
        raise ContractError(f"body.text: {utf16_units(text)} UTF-16 code units is too long", "msg_too_long")


def check_post_message(body: Any) -> None:
    if isinstance(body, dict) and "text" not in body and "blocks" not in body:
        raise ContractError("body: text is required (blocks alone leave notifications empty)", "no_text")
    try:
        _check_post(body)
    except ContractError as error:
        raise ContractError(error.reason, _error_code(error.reason, "invalid_arguments")) from None
    _check_lengths(body)


def check_webhook(body: Any) -> None:
    if isinstance(body, dict) and not body.get("text") and not body.get("blocks"):
        raise ContractError("body: text or blocks is required", "no_text")
    try:
        _check_webhook(body)
    except ContractError as error:
        raise ContractError(error.reason, _error_code(error.reason, "invalid_payload")) from None
    _check_lengths(body)


def check_open(body: Any) -> None:
    try:
        _check_open(body)
    except ContractError as error:
        raise ContractError(error.reason, "invalid_arguments") from None


def check_history(arguments: Any) -> None:
    """``conversations.history`` takes a channel *id* (a name is ``channel_not_found`` there)."""
    try:
        _check_history(arguments)
    except ContractError as error:
        raise ContractError(error.reason, "invalid_arguments") from None


def check_list(arguments: Any) -> None:
    try:
        _check_list(arguments)
    except ContractError as error:
        raise ContractError(error.reason, "invalid_arguments") from None


def slack_error(error: str, code: int = 200, retry_after: int | None = None) -> Behaviour:
    """A scripted Slack Web API failure, e.g. ``slack_error("internal_error")`` or
    ``slack_error("ratelimited", 429, retry_after=3)``: answers ``{"ok": false, "error"}``."""
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return status(code, headers, json.dumps({"ok": False, "error": error}).encode())
