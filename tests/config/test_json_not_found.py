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
