"""Fuzz (a guard): the identity and privacy APIs (``/api/identity/employees/<id>``,
``/api/identity/hris``, ``/api/privacy/erasures``) answer any body, content type and employee id
below 500; a 4xx is a JSON object naming what it refused (a field, a place, or ``detail``); a
refused request changes no row of the identity map, the employee records, their history or the
erasure requests. Bodies are raw bytes, or JSON built from the APIs' own keys with text that holds
NUL, lone surrogate escapes and long runs, nested or repeated.

``LRS_API_FUZZ_EXAMPLES`` sets the examples (default 100, as tests/lrs/api/fuzz).
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.models import Employee, ErasureRequest, IdentityChange, IdentityLink
from tests.lrs.api.fuzz.harness import FUZZ_SETTINGS, tally

pytestmark = pytest.mark.django_db

KEYS = (
    "emails",
    "accounts",
    "openids",
    "mbox_sha1sums",
    "from",
    "agent",
    "employee_id",
    "mode",
    "dry_run",
    "rows",
    "status",
    "effective_date",
    "manager_id",
    "department",
    "homePage",
    "name",
    "mbox",
    "openid",
    "account",
)
TEXT = st.one_of(
    st.sampled_from(["E1", "ada@example.com", "mailto:ada@example.com", "https://lms.example.com", "active"]),
    st.text(max_size=20),
    st.sampled_from(["\x00", "E\x001", "\ud800", "a\udfff@example.com", "x" * 600, "", " "]),
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXT)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS) | TEXT, inner, max_size=4)
    ),
    max_leaves=12,
)
JSON_BODIES = st.builds(lambda value: json.dumps(value, ensure_ascii=True).encode(), VALUES)
BODIES = st.one_of(
    JSON_BODIES,
    st.binary(max_size=40),
    st.sampled_from([b"[" * 3000, b'{"emails": [], "emails": []}', b"\xff\xfe{}", b"NaN", b""]),
    st.lists(JSON_BODIES, max_size=3).map(lambda lines: b"\n".join(lines)),
)
CONTENT_TYPES = st.sampled_from(
    ["application/json", "application/x-ndjson", "text/plain", "application/json; charset=latin-1", ""]
)
ENDPOINTS = st.sampled_from(
    [
        ("get", "employee"),
        ("patch", "employee"),
        ("delete", "employee"),
        ("post", "/api/identity/hris"),
        ("post", "/api/identity/hris?dry_run=true"),
        ("post", "/api/privacy/erasures"),
    ]
)
EMPLOYEE_IDS = st.one_of(st.sampled_from(["E1", "E%00", "%20", "x" * 250]), st.text(min_size=1, max_size=12))


def _stored() -> tuple[int, ...]:
    return tuple(model.objects.count() for model in (Employee, IdentityLink, IdentityChange, ErasureRequest))


def _dry(body: bytes) -> bytes:
    """An erasure's body with ``dry_run`` set when it is a JSON object: the fuzz looks at how the
    request is read, not at erasing (tests/adapters/privacy)."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return body
    if isinstance(value, dict):
        value["dry_run"] = True
        return json.dumps(value, ensure_ascii=True).encode()
    return body


@pytest.fixture
def auth(make_credential) -> dict[str, str]:
    credential, secret = make_credential("fuzz", ["identity/write", "privacy"])
    return {"Authorization": "Basic " + base64.b64encode(f"{credential.key}:{secret}".encode()).decode()}


@FUZZ_SETTINGS
@given(endpoint=ENDPOINTS, employee_id=EMPLOYEE_IDS, body=BODIES, content_type=CONTENT_TYPES)
def test_any_request_is_answered_below_500_and_a_refused_one_changes_nothing(
    client, auth, endpoint, employee_id, body, content_type
):
    method, path = endpoint
    if path == "employee":
        path = "/api/identity/employees/" + (
            employee_id if "%" in employee_id else quote(employee_id, safe="")
        )
    if "erasures" in path:
        body = _dry(body)
    before = _stored()
    if method == "get":
        response = client.get(path, headers=auth)
    else:
        # generic: the body's bytes as given (post() re-encodes them for a charset it names)
        response = client.generic(method.upper(), path, body, content_type=content_type, headers=auth)
    status = response.status_code
    tally(f"{method} {path.split('?')[0][:30]} -> {status}")
    assert status < 500, (status, response.content[:300])
    if status >= 400:
        answer = json.loads(response.content)
        assert isinstance(answer, dict) and answer, answer
        assert _stored() == before, (status, answer)
