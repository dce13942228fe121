"""Version header, authentication, scopes, CORS, /about and the alternate request syntax."""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote, urlencode

import pytest

from tests.conftest import XAPIClient, basic_auth, make_statement

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("default_version", ["1.0.3", "2.0.0"])
def test_missing_version_header_is_400_and_the_response_names_the_configured_default(
    xapi, settings, default_version
):
    settings.LRS_DEFAULT_XAPI_VERSION = default_version
    response = xapi.get("/xapi/statements", headers={"X-Experience-API-Version": None})
    assert response.status_code == 400
    assert response.json()["rule"] == "version-required"
    assert response["X-Experience-API-Version"] == default_version
    assert "X-Experience-API-Consistent-Through" in response


@pytest.mark.parametrize("version", ["0.95", "1.1.0", "3.0.0", "abc"])
def test_unsupported_version_is_400(xapi, version):
    response = xapi.get("/xapi/statements", headers={"X-Experience-API-Version": version})
    assert response.status_code == 400
    assert response.json()["rule"] == "version-unsupported"


@pytest.mark.parametrize("version", ["1.0", "1.0.0", "1.0.1", "1.0.3"])
def test_every_1_0_x_version_is_served_as_1_0_3(xapi, version):
    response = xapi.get("/xapi/statements", headers={"X-Experience-API-Version": version})
    assert response.status_code == 200
    assert response["X-Experience-API-Version"] == "1.0.3"


def test_version_2_is_served_as_2_0_0(xapi):
    response = xapi.get("/xapi/statements", headers={"X-Experience-API-Version": "2.0.0"})
    assert response.status_code == 200
    assert response["X-Experience-API-Version"] == "2.0.0"


def test_missing_credentials_are_401(db):
    response = XAPIClient(None, None).get("/xapi/statements")
    assert response.status_code == 401
    assert response["X-Experience-API-Version"]


def test_wrong_secret_is_401(make_credential):
    credential, _secret = make_credential()
    response = XAPIClient(None, None).get(
        "/xapi/statements", headers={"Authorization": basic_auth(credential.key, "wrong")}
    )
    assert response.status_code == 401


def test_inactive_credential_is_401(make_credential):
    credential, secret = make_credential()
    credential.is_active = False
    credential.save()
    assert XAPIClient(credential, secret).get("/xapi/statements").status_code == 401


def test_secret_is_stored_only_as_a_digest(make_credential):
    credential, secret = make_credential()
    assert secret not in credential.secret_digest
    assert len(credential.secret_digest) == 64


def test_write_only_credential_cannot_read(xapi_for):
    client = xapi_for(["statements/write"])
    assert client.post_statements(make_statement()).status_code == 200
    response = client.get_statements()
    assert response.status_code == 403
    assert response.json()["rule"] == "scope"


def test_read_only_credential_cannot_write(xapi_for):
    client = xapi_for(["all/read"])
    assert client.post_statements(make_statement()).status_code == 403
    assert client.get_statements().status_code == 200


def test_read_mine_sees_only_statements_stored_with_its_own_credential(xapi, xapi_for):
    mine = xapi_for(["statements/write", "statements/read/mine"])
    [own_id] = mine.post_statements(make_statement()).json()
    [other_id] = xapi.post_statements(make_statement()).json()
    listed = [s["id"] for s in mine.get_statements().json()["statements"]]
    assert listed == [own_id]
    assert mine.get_statements(statementId=other_id).status_code == 404
    assert {s["id"] for s in xapi.get_statements().json()["statements"]} == {own_id, other_id}


def test_about_needs_no_credentials_and_lists_versions(db):
    response = XAPIClient(None, None, version="").get("/xapi/about")
    assert response.status_code == 200
    assert response.json()["version"] == ["1.0.3", "2.0.0"]
    assert response["X-Experience-API-Version"]


def test_cors_preflight_allows_browser_content(db):
    client = XAPIClient(None, None)
    response = client.client.options(
        "/xapi/statements",
        headers={
            "Origin": "https://content.example.com",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization,content-type,x-experience-api-version",
        },
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] in {"*", "https://content.example.com"}
    assert "x-experience-api-version" in response["Access-Control-Allow-Headers"].lower()


def test_alternate_syntax_put_stores_a_statement(xapi):
    statement_id = str(uuid.uuid4())
    import json

    form = urlencode(
        {
            "statementId": statement_id,
            "content": json.dumps(make_statement()),
            "Authorization": xapi.headers["Authorization"],
            "X-Experience-API-Version": "1.0.3",
            "Content-Type": "application/json",
        }
    )
    response = xapi.client.post(
        "/xapi/statements?method=PUT", form, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 204, response.content
    assert xapi.get_statements(statementId=statement_id).status_code == 200


def _alternate_put(xapi: XAPIClient, name: str, *, form_charset: str) -> tuple[str, object]:
    """PUT by the alternate syntax a statement whose actor's name is ``name``, the form encoded in
    ``form_charset`` (percent-escapes of that charset's bytes, as a browser's form sends them)."""
    statement_id = str(uuid.uuid4())
    statement = make_statement()
    statement["actor"]["name"] = name
    form = urlencode(
        {
            "statementId": statement_id,
            "content": json.dumps(statement, ensure_ascii=False),
            "Authorization": xapi.headers["Authorization"],
            "X-Experience-API-Version": "1.0.3",
            "Content-Type": "application/json",
        },
        encoding=form_charset,
    )
    response = xapi.client.post(
        "/xapi/statements?method=PUT",
        form,
        content_type=f"application/x-www-form-urlencoded; charset={form_charset}",
    )
    return statement_id, response


def test_alternate_syntax_percent_escapes_are_read_in_the_forms_charset(xapi):
    """A form in ISO-8859-1 (a page's charset, Communication 1.3) sends "é" as %E9: read in that
    charset, as its raw bytes are, the statement holds "é", not U+FFFD."""
    statement_id, response = _alternate_put(xapi, "Ren\u00e9", form_charset="iso-8859-1")
    assert response.status_code == 204, response.content
    stored = xapi.get_statements(statementId=statement_id).json()
    assert stored["actor"]["name"] == "Ren\u00e9"


def test_alternate_syntax_percent_escapes_that_are_not_utf_8_are_a_400_and_store_nothing(xapi):
    """In a UTF-8 form, %E9 alone is no UTF-8: bad input (rule charset, as the form's raw bytes
    are), not a statement stored with U+FFFD in place of what the client meant."""
    form = urlencode(
        {
            "statementId": str(uuid.uuid4()),
            "Authorization": xapi.headers["Authorization"],
            "X-Experience-API-Version": "1.0.3",
        }
    )
    body = form + "&content=" + quote(json.dumps(make_statement())).replace("A%20Learner", "Ren%E9")
    response = xapi.client.post(
        "/xapi/statements?method=PUT", body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400, response.content
    assert response.json()["rule"] == "charset", response.json()
    assert xapi.get_statements().json()["statements"] == []


def test_alternate_syntax_with_other_query_parameters_is_400(xapi):
    response = xapi.client.post(
        "/xapi/statements?method=GET&limit=1", "", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert response.json()["rule"] == "alternate-query"


def test_alternate_syntax_is_rejected_in_xapi_2(xapi):
    form = urlencode({"Authorization": xapi.headers["Authorization"], "X-Experience-API-Version": "2.0.0"})
    response = xapi.client.post(
        "/xapi/statements?method=GET", form, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert response.json()["rule"] == "alternate-syntax-v2"


ACTIVITY = "http://x.example.com/a"


@pytest.mark.parametrize(
    ("path", "params", "bad"),
    [
        ("/xapi/activities/state", {"activityId": ACTIVITY, "stateId": "s\x00"}, "stateId"),
        ("/xapi/activities/profile", {"activityId": ACTIVITY, "profileId": "p\x00"}, "profileId"),
        ("/xapi/agents/profile", {"profileId": "p\x00"}, "profileId"),
    ],
)
def test_a_query_parameter_with_u0000_is_400_naming_it(xapi, path, params, bad):
    # PostgreSQL text cannot hold U+0000: refused as bad input, not failing in the database.
    query = {**params, "agent": json.dumps({"mbox": "mailto:a@example.com"})}
    response = xapi.put_json(path, {"a": 1}, query="?" + urlencode(query))
    assert response.status_code == 400
    assert response.json()["path"] == bad and response.json()["rule"] == "no-nul"
