"""Fuzz: odd query parameters on every GET (and document DELETE) of the xAPI.

Communication 3.2: "The LRS MUST reject with 400 Bad Request status any requests that use any
parameters which the LRS does not recognize in their intended context", and every parameter is
validated like the statement value it stands for (Communication 2.1.3 for GET Statements,
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#213-get-statements).
Whatever the parameters, the answer is below 500, a rejection names the rule and the parameter,
and a read changes nothing.
"""

from __future__ import annotations

import base64
import json
import secrets

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import XAPIClient
from tests.lrs.api.fuzz.harness import FUZZ_SETTINGS, Param, assert_clear, send, table_counts, tally

pytestmark = pytest.mark.django_db

AGENT = '{"mbox": "mailto:learner@example.com"}'
UUID = "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b"
ACTIVITY = "http://example.com/activities/1"
LONG = secrets.token_hex(1500)  # an identifier PostgreSQL cannot compress into an index row


def _cursor(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


# Values for any parameter: right for some, wrong for most.
VALUES: tuple[str | bytes, ...] = (
    "",
    " ",
    "true",
    "TRUE",
    "false",
    "1",
    "0",
    "-1",
    "10",
    "99999999999999999999999999",
    "1e3",
    "\u00b2",  # superscript two
    "\u0661\u0662",  # Arabic-Indic digits
    "\uff11",
    "ids",
    "exact",
    "canonical",
    "IDS",
    UUID,
    UUID.upper(),
    "{" + UUID + "}",
    "urn:uuid:" + UUID,
    "00000000-0000-0000-0000-000000000000",
    "2024-05-04T17:00:00Z",
    "2024-05-04T17:00:00+01:00",
    "2024-05-04T17:00:00 01:00",
    "2024-02-30T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+23:59",
    "20240504T170000Z",
    "2024-05-04",
    "yesterday",
    ACTIVITY,
    "http://",
    "not an iri",
    "http://example.com/\x7f",
    AGENT,
    '{"mbox": "mailto:learner@example.com", "mbox": "mailto:learner@example.com"}',
    '{"mbox": "learner@example.com"}',
    '{"account": {"homePage": "http://example.com", "name": "a\\u0000b"}}',
    '{"account": {"homePage": "http://example.com", "name": 1}}',
    '{"objectType": "Group", "member": [{"mbox": "mailto:a@example.com"}]}',
    '{"objectType": "Group", "mbox": "mailto:team@example.com"}',
    '{"mbox": "mailto:a@example.com", "name": "\\ud800"}',
    '{"mbox": "mailto:a@example.com", "name": 1e400}',
    '{"mbox": "mailto:a@example.com", "name": NaN}',
    '{"mbox": "mailto:a@example.com"',
    '{"openid": "http://example.com/' + "a" * 3000 + '"}',
    '{"openid": "http://example.com/' + LONG + '"}',
    "http://example.com/" + LONG,
    LONG,
    '"mailto:a@example.com"',
    "[]",
    "null",
    "[" * 200 + "]" * 200,
    _cursor(["2024-05-04T17:00:00+00:00", 1]),
    _cursor(["2024-05-04T17:00:00", 10**30]),
    _cursor(["9999-12-31T23:59:59+00:00", -(2**63) - 1]),
    _cursor(["not a date", 1]),
    _cursor({"a": 1}),
    _cursor([1, 2, 3]),
    "!!!",
    "x" * 5000,
    "\x00",
    "a\x00b",
    b"\xff\xfe",
    b"\xed\xa0\x80",
    b"\xc3",
)

STATEMENT_PARAMS = (
    "statementId",
    "voidedStatementId",
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
    "method",
    "unknown",
    "Agent",
    "",
    "limit ",
)

RESOURCES: dict[str, tuple[str, ...]] = {
    "/xapi/statements": STATEMENT_PARAMS,
    "/xapi/activities/state": ("activityId", "agent", "registration", "stateId", "since", "profileId"),
    "/xapi/activities/profile": ("activityId", "profileId", "since", "agent"),
    "/xapi/agents/profile": ("agent", "profileId", "since", "activityId"),
    "/xapi/agents": ("agent", "activityId"),
    "/xapi/activities": ("activityId", "agent"),
    "/xapi/about": ("format", "x"),
}

# A valid base per resource, so most requests get past the required parameters to the odd one.
BASES: dict[str, list[Param]] = {
    "/xapi/statements": [],
    "/xapi/activities/state": [("activityId", ACTIVITY), ("agent", AGENT)],
    "/xapi/activities/profile": [("activityId", ACTIVITY)],
    "/xapi/agents/profile": [("agent", AGENT)],
    "/xapi/agents": [("agent", AGENT)],
    "/xapi/activities": [("activityId", ACTIVITY)],
    "/xapi/about": [],
}


def _text(name: str | bytes) -> str:
    """A parameter name as the LRS reads it (percent-decoded bytes that are not UTF-8 replaced)."""
    return name.decode("utf-8", "replace") if isinstance(name, bytes) else name


@st.composite
def odd_query(draw: st.DrawFn) -> tuple[str, list[Param]]:
    resource = draw(st.sampled_from(sorted(RESOURCES)))
    names = RESOURCES[resource]
    value = st.sampled_from(VALUES) | st.text(max_size=20)
    odd = draw(
        st.lists(st.tuples(st.sampled_from(names) | st.text(max_size=6), value), min_size=1, max_size=4)
    )
    base = draw(st.sampled_from((BASES[resource], [])))
    params = [*base, *odd]
    if draw(st.booleans()):
        params = draw(st.permutations(params))
    tally(f"{resource} {sorted({str(name) for name, _ in odd})[:2]}")
    return resource, params


@given(
    query=odd_query(),
    method=st.sampled_from(("get", "get", "head", "delete", "put", "post")),
    version=st.sampled_from(("1.0.3", "2.0.0")),
)
@FUZZ_SETTINGS
def test_odd_query_parameters_are_answered_below_500_and_a_rejection_names_the_parameter(
    xapi: XAPIClient, query: tuple[str, list[Param]], method: str, version: str
) -> None:
    resource, params = query
    xapi.headers["X-Experience-API-Version"] = version
    before = table_counts()
    # Writes send a small JSON document, creating it only where none is (If-None-Match: *).
    body_bytes, headers = (b'{"a": 1}', {"If-None-Match": "*"}) if method in {"put", "post"} else (b"", {})
    response = send(
        xapi, method, resource, params, body_bytes, content_type="application/json", headers=headers
    )
    body = assert_clear(response, head=method == "head")
    if method in {"get", "head"} or response.status_code >= 400:
        assert table_counts() == before, body
    if body is not None:
        tally(f"{response.status_code} {body.get('rule')}")
        if response.status_code == 400 and body.get("rule") not in {
            "version-required",
            "version-unsupported",
        }:
            # The path names a parameter sent (or one required and missing), or a JSON path inside it.
            path = body["path"]
            named = (
                {_text(name) or '""' for name, _ in params}
                | set(RESOURCES[resource])
                | {"Content-Type", "If-Match"}
            )
            assert (
                any(path == name or path.startswith((f"{name}.", f"{name}[")) for name in named)
                # A U+0000 in a name is shown as "?" (the name must be printable in the answer).
                or path in {name.replace("\x00", "?") for name in named}
            ), (path, params, body)
