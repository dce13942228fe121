"""What an operator may be shown of a request that was sent: the values of fields whose names
look secret (authorization, signatures, keys, tokens, passwords, codes) are replaced by
``REDACTED`` wherever the request names them: in its query string, its headers, and a JSON or
form-encoded body (a token request's ``client_secret`` and ``refresh_token``)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson

from adapters.outbound import OutboundRequest

REDACTED = "[redacted]"
# An idempotency key (``Idempotency-Key``, a batch item's ``idempotencyKey``) is no secret: an
# operator matches attempts and receivers' logs by it.
SECRET_NAME = re.compile(
    r"auth|sign|secret|token|(?<!idempotency.)(?<!idempotency)key|password|cookie|session|code",
    re.IGNORECASE,
)
FORM_TYPE = "application/x-www-form-urlencoded"


def redacted_pairs(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The name-value pairs, each value whose name looks secret replaced."""
    return [(name, REDACTED if SECRET_NAME.search(name) else value) for name, value in pairs]


def redacted_json(value: Any) -> Any:
    """The JSON value with every scalar held under a name that looks secret replaced, at any
    depth (an object or array under such a name is walked, not hidden whole: ``authority``)."""
    if isinstance(value, dict):
        return {
            name: redacted_json(item)
            if isinstance(item, dict | list) or not SECRET_NAME.search(str(name))
            else REDACTED
            for name, item in value.items()
        }
    if isinstance(value, list):
        return [redacted_json(item) for item in value]
    return value


def readable_body(request: OutboundRequest) -> str:
    """The request's body as an operator reads it, secret-named fields redacted: JSON indented,
    a form-encoded body as its pairs, anything else as text."""
    if request.json is not None:
        return orjson.dumps(redacted_json(request.json), option=orjson.OPT_INDENT_2).decode()
    text = (request.body or b"").decode("utf-8", errors="replace")
    if not text:
        return ""
    with contextlib.suppress(orjson.JSONDecodeError):
        return orjson.dumps(redacted_json(orjson.loads(text)), option=orjson.OPT_INDENT_2).decode()
    content_type = next(
        (value for name, value in request.headers.items() if name.lower() == "content-type"), ""
    )
    if content_type.split(";")[0].strip().lower() == FORM_TYPE:
        return urlencode(redacted_pairs(parse_qsl(text, keep_blank_values=True)), safe="[]")
    return text
