"""What every fuzzed request is checked against, and the requests' raw material.

The promise under test: bad input gets a clear error and nothing is lost. For every request:

- the status is below 500 (a 5xx tells the client "our fault, try again", which for bad input it
  is not: xAPI 1.0.3 Communication 3.2, "Error Codes",
  https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#32-error-codes);
- a 4xx has a JSON body with ``error`` and ``message``, and names the rule it applied
  (``rule``); a 400, 409 or 412 also names where (``path``: the parameter, header or JSON path);
- a rejected write changes no row of any table a write touches (statements, their index rows,
  attachments, activities, documents, the delivery outbox).

Requests go through ``Client.generic`` with bytes bodies and hand-built query strings, so the
fuzz can send what a browser or a broken client can: repeated parameters, percent-encoded bytes
that are not UTF-8, a ``Content-Type`` whose charset names no codec.

``LRS_API_FUZZ_EXAMPLES`` sets the examples of each property (default 100: about 20 s for the
folder; it was run at 3,000 on PostgreSQL and on SQLite, ``DATABASE_URL=sqlite:///...``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote_from_bytes

from django.db.models import Model
from django.http import HttpResponse
from hypothesis import HealthCheck, event, settings

from adapters.models import Delivery, OutboxBatch
from lrs.activities.models import Activity
from lrs.attachment_store import AttachmentContent
from lrs.documents.models import Document
from lrs.statements.models import Statement, StatementActivity, StatementAgent, StatementAttachment
from tests.conftest import XAPIClient

EXAMPLES = int(os.environ.get("LRS_API_FUZZ_EXAMPLES", "100"))

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
    derandomize=False,
)

WRITE_TABLES: tuple[type[Model], ...] = (
    Statement,
    StatementAgent,
    StatementActivity,
    StatementAttachment,
    AttachmentContent,
    Activity,
    Document,
    Delivery,
    OutboxBatch,
)

# Which statuses must say where (``path``) and which rule (``rule``). 401/403/404/413 name the
# rule; 405 (a method the resource does not have) names neither, the method being the whole story.
NEEDS_PATH = {400, 409, 412}
NEEDS_RULE = {400, 401, 403, 404, 409, 412, 413}

Param = tuple[str | bytes, str | bytes]


def tally(label: object) -> None:
    """``hypothesis.event`` in printable ASCII, escapes for the rest: the statistics are written as
    UTF-8, which a lone surrogate in a fuzzed key is not, and a NUL in them makes tools read the
    test output as binary."""
    event(str(label).encode("unicode_escape").decode("ascii"))


def encode(part: str | bytes) -> str:
    raw = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
    return quote_from_bytes(raw, safe="")


def query_string(params: Iterable[Param]) -> str:
    """``?a=1&a=2``: every pair in order, repeats kept, each part percent-encoded byte by byte."""
    pairs = "&".join(f"{encode(name)}={encode(value)}" for name, value in params)
    return f"?{pairs}" if pairs else ""


def table_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in WRITE_TABLES}


def send(
    xapi: XAPIClient,
    method: str,
    path: str,
    params: Iterable[Param] = (),
    body: bytes = b"",
    *,
    content_type: str | None = None,
    headers: dict[str, str | None] | None = None,
) -> HttpResponse:
    """One request with the client's headers (overridden, or removed by None, by ``headers``)."""
    extra: dict[str, Any] = {}
    if content_type is not None:
        extra["content_type"] = content_type
    return xapi.client.generic(
        method.upper(), path + query_string(params), body, headers=xapi._headers(headers), **extra
    )


def error_body(response: HttpResponse) -> dict[str, Any]:
    assert response.content, f"a {response.status_code} with an empty body"
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = json.loads(response.content)
    assert isinstance(body, dict), body
    return body


def assert_clear(response: HttpResponse, *, head: bool = False) -> dict[str, Any] | None:
    """Below 500; a 4xx (but for HEAD, which has no body) says what and where. The error body."""
    status = response.status_code
    assert status < 500, (status, response.content[:500])
    if status < 400 or head:
        return None
    body = error_body(response)
    assert body.get("error") and body.get("message"), body
    if status in NEEDS_RULE:
        assert body.get("rule"), body
    if status in NEEDS_PATH:
        assert body.get("path"), body
    return body


def error_paths(body: dict[str, Any]) -> list[str]:
    """The path at the top and those of every listed error."""
    return [body.get("path", ""), *(entry.get("path", "") for entry in body.get("errors", ()))]


def names_place(body: dict[str, Any], places: Sequence[str]) -> bool:
    """Whether an error is at or inside one of ``places``, or at an object holding one (an object
    missing its only identifier is rejected as a whole)."""
    for path in error_paths(body):
        for place in places:
            if path.startswith(place) or (path and place.startswith(path)):
                return True
    return False


def assert_rejected_cleanly(response: HttpResponse, before: dict[str, int]) -> dict[str, Any]:
    """A 4xx naming the rule, and every write table exactly as before."""
    body = assert_clear(response)
    assert body is not None, (response.status_code, response.content[:300])
    assert table_counts() == before, (body, before)
    return body
