"""Helpers for the document resource tests: query strings with JSON agents, any body and Content-Type."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urlencode

from tests.conftest import XAPIClient

STATE = "/xapi/activities/state"
ACTIVITY_PROFILE = "/xapi/activities/profile"
AGENT_PROFILE = "/xapi/agents/profile"
ACTIVITY_ID = "http://example.com/activities/course-1"
AGENT = {"objectType": "Agent", "mbox": "mailto:learner@example.com"}


def query(params: dict[str, Any]) -> str:
    return "?" + urlencode(
        {key: json.dumps(value) if isinstance(value, dict) else value for key, value in params.items()}
    )


def _body(document: Any) -> bytes:
    if isinstance(document, bytes):
        return document
    if isinstance(document, str):
        return document.encode()
    return json.dumps(document).encode()


def send(
    xapi: XAPIClient,
    method: str,
    path: str,
    params: dict[str, Any],
    document: Any = None,
    *,
    content_type: str = "application/json",
    headers: dict[str, Any] | None = None,
):
    url = path + query(params)
    call = getattr(xapi.client, method)
    if method in {"put", "post"}:
        return call(url, _body(document), content_type=content_type, headers=xapi._headers(headers))
    return call(url, headers=xapi._headers(headers))


def sha1_etag(content: bytes) -> str:
    return '"' + hashlib.sha1(content).hexdigest() + '"'
