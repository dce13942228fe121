"""Parsing the query parameters of ``GET /xapi/statements`` into a ``StatementQuery``.

Communication 2.1.3, table of parameters; every parameter is checked and a bad
one is a 400 naming it.
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#213-get-statements
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import datetime

from django.utils.dateparse import parse_datetime

from lrs.statements.selectors import FORMATS, StatementQuery
from lrs.xapi.agents import agent_ifi, parse_agent_param
from lrs.xapi.errors import XAPIValidationError
from lrs.xapi.formats import parse_accept_language
from lrs.xapi.iris import is_iri
from lrs.xapi.timestamps import parse_timestamp
from lrs.xapi.uuids import parse_uuid

SINGLE_PARAMS = frozenset({"statementId", "voidedStatementId", "format", "attachments"})
LIST_PARAMS = frozenset(
    {
        "agent",
        "verb",
        "activity",
        "registration",
        "related_activities",
        "related_agents",
        "since",
        "until",
        "limit",
        "format",
        "attachments",
        "ascending",
        "cursor",
    }
)


def parse_bool(params: Mapping[str, str], name: str) -> bool:
    raw = params.get(name)
    if raw is None:
        return False
    lowered = raw.lower()
    if lowered not in {"true", "false"}:
        raise XAPIValidationError(f"{name} must be true or false, got {raw!r}", path=name, rule="boolean")
    return lowered == "true"


def parse_format(params: Mapping[str, str]) -> str:
    value = params.get("format", "exact")
    if value not in FORMATS:
        raise XAPIValidationError(
            f"format must be one of {', '.join(FORMATS)}, got {value!r}", path="format", rule="format"
        )
    return value


def _parse_limit(params: Mapping[str, str]) -> int:
    raw = params.get("limit")
    if raw is None:
        return 0
    # str.isdigit() is also true of "²" and other digits int() does not read: ASCII digits only.
    if not (raw.isascii() and raw.isdigit()):
        raise XAPIValidationError(
            f"limit must be a non-negative integer, got {raw!r}", path="limit", rule="limit"
        )
    return int(raw)


def _parse_iri(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not is_iri(value):
        raise XAPIValidationError(f"{name} must be an IRI, got {value!r}", path=name, rule="iri")
    return value


def _parse_time_param(params: Mapping[str, str], name: str, version: str) -> datetime | None:
    raw = params.get(name)
    if raw is None:
        return None
    # An unencoded "+01:00" offset arrives as " 01:00" after query-string decoding.
    return parse_timestamp(raw.replace(" ", "+"), path=name, version=version)


def encode_cursor(after: tuple[datetime, int]) -> str:
    stored, pk = after
    return base64.urlsafe_b64encode(json.dumps([stored.isoformat(), pk]).encode()).decode().rstrip("=")


def _decode_cursor(raw: str) -> tuple[datetime, int]:
    try:
        stored_text, pk = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        stored = parse_datetime(stored_text)
        if stored is None or not isinstance(pk, int):
            raise ValueError
    except (ValueError, TypeError, binascii.Error):
        raise XAPIValidationError("cursor is not one this LRS issued", path="cursor", rule="cursor") from None
    return stored, pk


def statement_query_from_params(
    params: Mapping[str, str], *, version: str, accept_language: str | None, credential_id: int | None
) -> StatementQuery:
    agent_ifi_value = None
    if "agent" in params:
        agent_ifi_value = agent_ifi(parse_agent_param(params["agent"], path="agent"))
    registration = (
        parse_uuid(params["registration"], path="registration") if "registration" in params else None
    )
    since = _parse_time_param(params, "since", version)
    until = _parse_time_param(params, "until", version)
    return StatementQuery(
        agent_ifi=agent_ifi_value,
        verb_id=_parse_iri(params, "verb"),
        activity_id=_parse_iri(params, "activity"),
        registration=registration,
        related_agents=parse_bool(params, "related_agents"),
        related_activities=parse_bool(params, "related_activities"),
        since=since,
        until=until,
        limit=_parse_limit(params),
        ascending=parse_bool(params, "ascending"),
        format=parse_format(params),
        attachments=parse_bool(params, "attachments"),
        languages=tuple(parse_accept_language(accept_language or "")),
        credential_id=credential_id,
        version=version,
        after=_decode_cursor(params["cursor"]) if "cursor" in params else None,
    )
