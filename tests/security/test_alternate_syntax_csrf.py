"""The 1.0.3 alternate request syntax (Communication 1.3) is a form POST, which a browser sends
cross-site without a CORS preflight. Its headers travel as form fields: "any required parameters
which are expected to appear in the HTTP header must instead be included as a form parameter"
(Authorization among them). A 401 here names Basic, so a browser may have cached an LRS credential
someone typed into its prompt, and it attaches that to any form POST another site makes it send:
such a request must not be taken as authenticated by that cached header (cross-site request
forgery of statements and document deletions). Content that uses the syntax sends Authorization
as a field and still works; so do non-browser clients (no Origin), as the ADL suite is."""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlencode

import pytest
from django.test import Client

from lrs.statements.models import Statement
from tests.conftest import basic_auth, make_statement

pytestmark = pytest.mark.django_db


def forged(statement_id: str, authorization: str | None) -> dict[str, str]:
    fields = {
        "statementId": statement_id,
        "X-Experience-API-Version": "1.0.3",
        "Content-Type": "application/json",
        "content": json.dumps(make_statement()),
    }
    if authorization:
        fields["Authorization"] = authorization
    return fields


def put(fields: dict[str, str], headers: dict[str, str]):
    return Client().post(
        "/xapi/statements?method=PUT",
        urlencode(fields),
        content_type="application/x-www-form-urlencoded",
        headers=headers,
    )


def test_a_cross_site_form_post_riding_a_cached_basic_credential_is_401(make_credential) -> None:
    credential, secret = make_credential(scopes=["all"])
    statement_id = str(uuid.uuid4())
    cached = {"Authorization": basic_auth(credential.key, secret), "Origin": "https://evil.example"}
    response = put(forged(statement_id, None), cached)
    assert response.status_code == 401
    assert not Statement.objects.filter(statement_id=statement_id).exists()


def test_content_sending_authorization_as_a_field_still_stores(make_credential) -> None:
    credential, secret = make_credential(scopes=["all"])
    statement_id = str(uuid.uuid4())
    response = put(
        forged(statement_id, basic_auth(credential.key, secret)), {"Origin": "https://lms.example"}
    )
    assert response.status_code == 204
    assert Statement.objects.filter(statement_id=statement_id).exists()


@pytest.mark.parametrize("origin", [None, "http://testserver"])
def test_a_client_that_is_no_cross_site_browser_may_send_the_header(make_credential, origin) -> None:
    credential, secret = make_credential(scopes=["all"])
    statement_id = str(uuid.uuid4())
    headers = {"Authorization": basic_auth(credential.key, secret)}
    if origin:
        headers["Origin"] = origin
    assert put(forged(statement_id, None), headers).status_code == 204
