"""The vocabulary of the fake downstream APIs: requests as recorded, replies, contract checks.

Kept apart from the server machinery (``fake_base``) so each module stays short. Nothing here
imports Django, so the fakes also run as standalone processes (``run_all``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match

from tests.targets.webhook_handler import RecordedRequest

API, TOKEN = "api", "token"
UTC_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$"
FORMATS = FormatChecker(formats=())


@FORMATS.checks("utc-timestamp", raises=ValueError)
def _is_utc_timestamp(value: object) -> bool:
    """RFC 3339 date-time in UTC written with a trailing ``Z``, e.g. 2024-05-01T12:00:00.123Z."""
    if not isinstance(value, str):
        return True
    if not re.match(UTC_TIMESTAMP, value):
        return False
    head, _, fraction = value[:-1].partition(".")
    datetime.fromisoformat(head + ("." + fraction[:6] if fraction else "") + "+00:00")
    return True


@FORMATS.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    """A calendar date ``YYYY-MM-DD``."""
    if not isinstance(value, str):
        return True
    return len(value) == 10 and date.fromisoformat(value) is not None


class ContractError(Exception):
    """The request breaks the API's contract; ``error`` is the API's own error code, if any."""

    def __init__(self, reason: str, error: str | None = None, status: int = 400):
        super().__init__(reason)
        self.reason, self.error, self.status = reason, error, status


def schema_check(schema: dict[str, Any]) -> Callable[[Any, str], None]:
    """A checker raising ``ContractError("<where><json path>: <message>")`` for the most
    relevant violation of ``schema`` (JSON Schema 2020-12 with the formats above)."""
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=FORMATS)

    def check(instance: Any, where: str = "body") -> None:
        error = best_match(validator.iter_errors(instance))
        if error is not None:
            path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            raise ContractError(f"{where}{path}: {error.message}")

    return check


@dataclass
class Reply:
    """An HTTP answer."""

    code: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(code: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        code,
        json.dumps(payload).encode(),
        {"Content-Type": "application/json; charset=utf-8", **(headers or {})},
    )


def text_reply(
    code: int,
    text: str,
    headers: dict[str, str] | None = None,
    content_type: str = "text/plain; charset=utf-8",
) -> Reply:
    return Reply(code, text.encode(), {"Content-Type": content_type, **(headers or {})})


def empty_reply(code: int = 204, headers: dict[str, str] | None = None) -> Reply:
    return Reply(code, b"", dict(headers or {}))


@dataclass
class Outcome:
    """What ``route()`` decided: an immediate ``reply`` (rejection, no behaviour consumed) or an
    ``action`` that applies the request, run unless the next behaviour of ``queue`` overrides it."""

    reply: Reply | None = None
    action: Callable[[], Reply] | None = None
    queue: str = API


def answer(reply: Reply) -> Outcome:
    return Outcome(reply=reply)


def perform(action: Callable[[], Reply], queue: str = API) -> Outcome:
    return Outcome(action=action, queue=queue)


@dataclass
class Effect:
    """One change the fake applied: ``kind`` (e.g. create, retract, message), ``key`` (usually
    the Idempotency-Key) and the payload it applied."""

    kind: str
    key: str
    payload: Any
    at: float = field(default_factory=time.time)


@dataclass
class FakeRequest(RecordedRequest):
    """A recorded request, plus which fake and ``route`` got it and its query parameters."""

    server: str = ""
    route: str = ""
    url_path: str = ""
    query: dict[str, str] = field(default_factory=dict)

    @property
    def media_type(self) -> str:
        return (self.header("Content-Type") or "").split(";", 1)[0].strip().lower()

    def bearer(self) -> str | None:
        """The token of an ``Authorization: Bearer <token>`` header, else None."""
        scheme, _, token = (self.header("Authorization") or "").strip().partition(" ")
        return (token.strip() or None) if scheme.lower() == "bearer" else None

    def basic_credentials(self) -> tuple[str, str] | None:
        """(user, password) of ``Authorization: Basic``; both are form-decoded (RFC 6749 2.3.1)."""
        scheme, _, encoded = (self.header("Authorization") or "").strip().partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ContractError(f"malformed HTTP Basic credentials: {exc}", "invalid_request") from exc
        if not sep:
            raise ContractError("malformed HTTP Basic credentials: no ':'", "invalid_request")
        return unquote(user.replace("+", " ")), unquote(password.replace("+", " "))

    def form(self) -> dict[str, str]:
        """The ``application/x-www-form-urlencoded`` body; repeated parameters are refused."""
        if self.media_type != "application/x-www-form-urlencoded":
            raise ContractError("Content-Type must be application/x-www-form-urlencoded", "invalid_request")
        try:
            pairs = parse_qsl(self.body.decode(), keep_blank_values=True, strict_parsing=bool(self.body))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ContractError(f"malformed form body: {exc}", "invalid_request") from exc
        repeated = sorted({name for name, count in Counter(n for n, _ in pairs).items() if count > 1})
        if repeated:
            raise ContractError(f"form parameter(s) repeated: {', '.join(repeated)}", "invalid_request")
        return dict(pairs)

    def json_body(self) -> Any:
        """The JSON body, after checking ``Content-Type: application/json`` (UTF-8)."""
        charset = (self.header("Content-Type") or "").lower().partition("charset=")[2].strip(' ";')
        if self.media_type != "application/json":
            raise ContractError(f"Content-Type must be application/json, got {self.media_type or 'none'}")
        if charset and charset not in {"utf-8", "utf8"}:
            raise ContractError(f"JSON must be UTF-8, got charset {charset}")
        if self.json is None and self.body.strip() != b"null":
            raise ContractError("body must be valid JSON")
        return self.json

    def summary(self) -> dict[str, Any]:
        return {"server": self.server, "route": self.route, **super().summary()}


def idempotency_key(request: FakeRequest) -> str:
    """The ``Idempotency-Key`` header, checked: present, at most 255 printable ASCII characters."""
    key = (request.idempotency_key or "").strip()
    if not key:
        raise ContractError("missing Idempotency-Key header")
    if len(key) > 255 or not key.isascii() or not key.isprintable():
        raise ContractError("Idempotency-Key must be at most 255 printable ASCII characters")
    return key


def fingerprint(request: FakeRequest) -> str:
    """What makes two requests "the same" for an Idempotency-Key: method, path and JSON body."""
    return f"{request.method} {request.url_path} {json.dumps(request.json, sort_keys=True)}"


def header_safe(text: str) -> str:
    return " ".join(text.encode("ascii", "backslashreplace").decode().split())[:500]
