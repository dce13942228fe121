"""A URL under the JSON APIs (``LRS_JSON_ERROR_PATHS``: ``/xapi/``, ``/api/``) that names no
resource is a JSON 404 naming the path and the rule, as the APIs' other refusals are, not
Django's HTML page: ``/api/privacy/erasures/-1`` (no such id can exist), an employee id with a
newline, a resource that does not exist. Other paths keep Django's page."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    [
        "/xapi/nope",
        "/api/nope",
        "/api/privacy/erasures/-1",
        "/api/privacy/erasures/abc",
        "/api/identity/employees/%0A",
    ],
)
def test_no_resource_under_the_json_apis_is_a_json_404_naming_the_path(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json"), response.content[:80]
    body = response.json()
    assert body["error"] == "NotFound" and body["rule"] == "no-such-resource", body
    assert "no resource at" in body["message"], body


def test_other_paths_keep_djangos_page(client):
    response = client.get("/nope")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(("asked", "answered"), [("1.0.3", "1.0.3"), ("2.0.0", "2.0.0"), (None, "2.0.0")])
def test_an_xapi_404_answers_in_the_version_the_client_asked_for(client, settings, asked, answered):
    """Every xAPI response names the version it is answered in (Communication 3.3), and this
    LRS's resources answer a 1.0.3 client's error as 1.0.3 (lrs/api/base.py): a 1.0.3 client that
    mistyped a resource was told 2.0.0. No or an unknown header: the default version."""
    settings.LRS_DEFAULT_XAPI_VERSION = "2.0.0"
    headers = {"X-Experience-API-Version": asked} if asked else {}
    response = client.get("/xapi/statement", headers=headers)
    assert (response.status_code, response["X-Experience-API-Version"]) == (404, answered)
