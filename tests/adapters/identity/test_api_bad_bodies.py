"""Bodies of the identity and privacy APIs (``/api/identity/...``, ``/api/privacy/erasures``) that
are not the JSON they take are refused with a 400 naming the place (the body, a property, an
NDJSON line) and the rule, as the xAPI resources refuse them (lrs/xapi/json_types.parse_json):
JSON nested beyond ``LRS_MAX_JSON_DEPTH`` (rule ``json-depth``), a property given twice (rule
``duplicate-property``: DRF's parser kept the last silently, so an erasure naming ``agent`` twice
erased only the second person), a lone surrogate escape (rule ``unpaired-surrogate``), NDJSON
that is not UTF-8 (rule ``utf-8``). Nothing is stored.

An employee id in the URL the database cannot hold (a NUL) is refused naming ``employee_id``
(PATCH and DELETE since the HRIS fix checked it in ``links.checked_employee_id``; GET was a 500).
"""

from __future__ import annotations

import base64

import pytest

from adapters.models import Employee, ErasureRequest, IdentityChange, IdentityLink

pytestmark = pytest.mark.django_db

DEEP = b"[" * 5000 + b"]" * 5000


@pytest.fixture
def auth(make_credential) -> dict[str, str]:
    credential, secret = make_credential("dsar-and-hris", ["identity/write", "privacy"])
    return {"Authorization": "Basic " + base64.b64encode(f"{credential.key}:{secret}".encode()).decode()}


def _stored() -> tuple[int, ...]:
    return tuple(model.objects.count() for model in (Employee, IdentityLink, IdentityChange, ErasureRequest))


# (method, path, body, content type, the key the answer must name, the rule it must name)
BAD_BODIES = [
    ("patch", "/api/identity/employees/E1", DEEP, "application/json", "body", "json-depth"),
    ("delete", "/api/identity/employees/E1", DEEP, "application/json", "body", "json-depth"),
    ("post", "/api/identity/hris", DEEP, "application/json", "body", "json-depth"),
    ("post", "/api/identity/hris", b'{"rows": ' + DEEP + b"}", "application/json", "body", "json-depth"),
    ("post", "/api/privacy/erasures", b'{"agent": ' + DEEP + b"}", "application/json", "body", "json-depth"),
    ("post", "/api/identity/hris", DEEP + b"\n", "application/x-ndjson", "line 1", "json-depth"),
    ("post", "/api/identity/hris", b'{"employee_id": "E\xff"}\n', "application/x-ndjson", "body", "utf-8"),
    (
        "patch",
        "/api/identity/employees/E1",
        b'{"emails": ["a@example.com"], "emails": ["b@example.com"]}',
        "application/json",
        "emails",
        "duplicate-property",
    ),
    (
        "post",
        "/api/privacy/erasures",
        b'{"agent": {"mbox": "mailto:a@example.com"}, "agent": {"mbox": "mailto:b@example.com"}, '
        b'"dry_run": true}',
        "application/json",
        "agent",
        "duplicate-property",
    ),
    (
        "post",
        "/api/privacy/erasures",
        b'{"agent": {"account": {"homePage": "https://lms.example.com", "name": "\\ud800"}}}',
        "application/json",
        "agent.account.name",
        "unpaired-surrogate",
    ),
    (
        "post",
        "/api/privacy/erasures",
        b'{"agent": {"openid": "https://id.example.com/\\ud800"}}',
        "application/json",
        "agent.openid",
        "unpaired-surrogate",
    ),
    (
        "post",
        "/api/identity/hris",
        b'{"employee_id": "E2", "emails": ["a@example.com"]}\n{"employee_id": "E3", "employee_id": "E4"}\n',
        "application/x-ndjson",
        "line 2.employee_id",
        "duplicate-property",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type", "key", "rule"),
    BAD_BODIES,
    ids=[f"{m} {p} {r} {k}" for m, p, _b, _c, k, r in BAD_BODIES],
)
def test_a_body_that_is_not_the_json_taken_is_a_400_naming_the_place_and_rule(
    client, auth, method, path, body, content_type, key, rule
):
    before = _stored()
    response = getattr(client, method)(path, body, content_type=content_type, headers=auth)
    assert response.status_code == 400, (response.status_code, response.content[:300])
    answer = response.json()
    assert list(answer) == [key], answer
    assert f"(rule {rule})" in answer[key][0], answer
    assert _stored() == before


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_an_employee_id_in_the_url_the_database_cannot_hold_is_a_400_naming_it(client, auth, method):
    before = _stored()
    body = (
        {}
        if method == "get"
        else {"data": b'{"emails": ["a@example.com"]}', "content_type": "application/json"}
    )
    response = getattr(client, method)("/api/identity/employees/E%00", headers=auth, **body)
    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert "NUL" in response.json()["employee_id"][0], response.json()
    assert _stored() == before
