"""Fuzz: odd headers (version, Authorization, Content-Type, If-Match / If-None-Match) on every
resource and method, and the 1.0.3 alternate request syntax with odd form bodies.

Communication 3.3 (Versioning: a missing or unsupported version is a 400), 4.1 (Security: a
missing or wrong credential is a 401), 3.1 (Concurrency: If-Match / If-None-Match), 1.3
(Alternate Request Syntax):
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md
Whatever the headers, the answer is below 500, a rejection names the rule (and, for a 400, the
header or parameter), and a rejected write stores nothing.
"""

from __future__ import annotations

import base64
import json
import uuid
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import XAPIClient, make_statement
from tests.lrs.api.fuzz.harness import FUZZ_SETTINGS, Param, assert_clear, send, table_counts, tally

pytestmark = pytest.mark.django_db

AGENT = '{"mbox": "mailto:learner@example.com"}'
ACTIVITY = "http://example.com/activities/1"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


VERSIONS = (
    None,
    "",
    "1.0.3",
    "1.0",
    "1.0.0",
    "1.0.99",
    "2.0.0",
    "2.0",
    "2.0.9",
    "1.1.0",
    "0.95",
    "3.0.0",
    " 1.0.3 ",
    "1.0.3, 2.0.0",
    "1.0.3\t",
    "éé",
)
# None: keep the client's valid credential; the rest replace it.
AUTHORIZATIONS = (
    None,
    "",
    "Basic",
    "Basic ",
    "Basic !!!",
    "Basic " + _b64(b"no-colon"),
    "Basic " + _b64(b":"),
    "Basic " + _b64(b"\xff\xfe:x"),
    "Basic " + _b64(b"unknown:secret"),
    "Basic é",
    "Basic " + "A" * 5000,
    "Bearer abc",
    "basic",
    "Digest x",
    "Basic\t" + _b64(b"a:b"),
)
CONTENT_TYPES = (
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=UTF-8",
    "APPLICATION/JSON",
    "application/json; charset=latin-1",
    "application/json; charset=utf-16",
    "application/json; charset=nonsense",
    "application/json;;",
    "application/jsonx",
    "text/plain",
    "application/octet-stream",
    "multipart/mixed",
    "multipart/mixed; boundary=",
    'multipart/mixed; boundary=""',
    "multipart/mixed; boundary=abc",
    "multipart/form-data; boundary=abc",
    "application/x-www-form-urlencoded",
    "",
    "/",
    "é/é",
)
ETAGS = (
    None,
    "",
    "*",
    '"abc"',
    "abc",
    'W/"abc"',
    '"a", "b"',
    '"',
    '""',
    ",",
    '*, "a"',
    '"a" "b"',
    "\x01",
    "é",
)

ROUTES: tuple[tuple[str, tuple[str, ...], list[Param]], ...] = (
    (
        "/xapi/statements",
        ("get", "post", "put", "head", "delete", "patch"),
        [("statementId", "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b")],
    ),
    ("/xapi/statements", ("get", "post"), []),
    (
        "/xapi/activities/state",
        ("get", "put", "post", "delete"),
        [("activityId", ACTIVITY), ("agent", AGENT), ("stateId", "s")],
    ),
    ("/xapi/activities/state", ("get", "delete"), [("activityId", ACTIVITY), ("agent", AGENT)]),
    (
        "/xapi/activities/profile",
        ("get", "put", "post", "delete"),
        [("activityId", ACTIVITY), ("profileId", "p")],
    ),
    ("/xapi/agents/profile", ("get", "put", "post", "delete"), [("agent", AGENT), ("profileId", "p")]),
    ("/xapi/agents", ("get", "post", "head"), [("agent", AGENT)]),
    ("/xapi/activities", ("get", "put"), [("activityId", ACTIVITY)]),
    ("/xapi/about", ("get", "post", "head"), []),
)


def _bodies() -> st.SearchStrategy[bytes]:
    statement = json.dumps(make_statement()).encode()
    return st.sampled_from(
        (
            b"",
            statement,
            b"[" + statement + b"]",
            b'{"a": 1}',
            b"{",
            b"\xff\xfe",
            '{"é": "\\ud800"}'.encode(),
            b"null",
        )
    ) | st.binary(max_size=40)


@given(
    route=st.sampled_from(ROUTES),
    data=st.data(),
    version=st.sampled_from(VERSIONS),
    authorization=st.sampled_from(AUTHORIZATIONS),
    content_type=st.sampled_from(CONTENT_TYPES),
    if_match=st.sampled_from(ETAGS),
    if_none_match=st.sampled_from(ETAGS),
    body=_bodies(),
)
@FUZZ_SETTINGS
def test_odd_headers_are_answered_below_500_and_a_rejected_write_stores_nothing(
    xapi: XAPIClient,
    route: tuple[str, tuple[str, ...], list[Param]],
    data: st.DataObject,
    version: str | None,
    authorization: str | None,
    content_type: str,
    if_match: str | None,
    if_none_match: str | None,
    body: bytes,
) -> None:
    path, methods, params = route
    method = data.draw(st.sampled_from(methods))
    headers: dict[str, str | None] = {
        "X-Experience-API-Version": version,
        "If-Match": if_match,
        "If-None-Match": if_none_match,
    }
    if authorization is not None:
        headers["Authorization"] = authorization
    if "statementId" in dict(params) and method == "put":
        params = [("statementId", str(uuid.uuid4()))]
    before = table_counts()
    response = send(xapi, method, path, params, body, content_type=content_type, headers=headers)
    result = assert_clear(response, head=method == "head")
    tally(f"{method} {path} {response.status_code} {result.get('rule') if result else ''}")
    if response.status_code >= 400 or method in {"get", "head"}:
        assert table_counts() == before, result


def _quoted(text: str) -> str:
    return quote_from_bytes(text.encode("utf-8", "surrogatepass"))


ALT_FIELDS = (
    "Authorization",
    "X-Experience-API-Version",
    "Content-Type",
    "content",
    "statementId",
    "agent",
    "activityId",
    "stateId",
    "If-Match",
    "limit",
    "method",
    "",
)


@given(
    path=st.sampled_from(("/xapi/statements", "/xapi/activities/state", "/xapi/agents", "/xapi/about")),
    method=st.sampled_from(("GET", "PUT", "POST", "DELETE", "HEAD", "get", "PATCH", "", "OPTIONS")),
    fields=st.lists(
        st.tuples(
            st.sampled_from(ALT_FIELDS),
            st.text(max_size=30)
            | st.sampled_from(("1.0.3", "2.0.0", "\x00", AGENT, ACTIVITY, "application/json")),
        )
    ),
    raw=st.sampled_from(
        (b"", b"\xff\xfe=1", b"content=%FF", b"content=%ED%A0%80", b"a=%", b"&&==&", b"content=\xc3")
    ),
    charset=st.sampled_from(
        (
            "",
            "; charset=utf-8",
            "; charset=latin-1",
            "; charset=nonsense",
            "; charset=unicode_escape",
            "; charset=utf-16",
        )
    ),
    credential=st.booleans(),
    statement=st.booleans(),
)
@FUZZ_SETTINGS
def test_odd_alternate_syntax_requests_are_answered_below_500_and_store_nothing_when_rejected(
    xapi: XAPIClient,
    path: str,
    method: str,
    fields: list[tuple[str, str]],
    raw: bytes,
    charset: str,
    credential: bool,
    statement: bool,
) -> None:
    form = list(fields)
    if credential:
        form += [("Authorization", xapi.headers["Authorization"]), ("X-Experience-API-Version", "1.0.3")]
    if statement:
        form += [("statementId", str(uuid.uuid4())), ("content", json.dumps(make_statement()))]
    encoded = "&".join(f"{_quoted(name)}={_quoted(value)}" for name, value in form).encode()
    body = encoded + (b"&" + raw if raw else b"")
    before = table_counts()
    response = xapi.client.generic(
        "POST",
        f"{path}?method={method}",
        body,
        content_type="application/x-www-form-urlencoded" + charset,
        headers={},
    )
    result = assert_clear(response)  # the request itself is a POST: a body either way
    tally(f"{method} {response.status_code} {result.get('rule') if result else ''}")
    if response.status_code >= 400 or method.upper() in {"GET", "HEAD"}:
        assert table_counts() == before, result
