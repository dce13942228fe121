"""A database outage under the xAPI is a JSON 503 with Retry-After, never Django's HTML page;
the same request succeeds once the database is back (gunicorn, production settings, a private
PostgreSQL the test stops and starts)."""

from __future__ import annotations

import time
import uuid

import pytest
import requests
from django.test import Client

from tests.adapters.helpers import wait_until
from tests.conftest import make_statement
from tests.stack import KEY, SECRET


def test_a_database_outage_is_a_json_503_with_retry_after_and_the_retry_succeeds(private_stack):
    stack = private_stack()
    assert stack.post_statements([make_statement()]).status_code == 200
    stack.database.stop()
    identity = requests.get(
        f"{stack.url}/api/identity/employees/E1", auth=(KEY, SECRET), timeout=10
    )  # the identity API too
    assert identity.status_code == 503 and identity.json()["error"] == "ServiceUnavailable"
    assert int(identity.headers["Retry-After"]) > 0
    statement = make_statement(statement_id=str(uuid.uuid4()))
    during = stack.post_statements([statement])
    assert during.status_code == 503, during.text
    assert during.headers["Content-Type"].startswith("application/json")
    assert int(during.headers["Retry-After"]) > 0
    assert during.headers["X-Experience-API-Version"]
    body = during.json()
    assert body["error"] == "ServiceUnavailable" and body["rule"] == "storage-unavailable"
    stack.database.start()
    started = time.monotonic()
    after = wait_until(lambda: (r := stack.post_statements([statement])).status_code == 200 and r, timeout=10)
    assert after.json() == [statement["id"]]
    assert time.monotonic() - started < 5


@pytest.mark.django_db
def test_an_unexpected_error_under_the_xapi_is_a_json_500_not_the_html_page(xapi, monkeypatch):
    from lrs.api import statements as statements_view

    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(statements_view, "statement_store", broken)
    xapi.client.raise_request_exception = False
    response = xapi.post_statements([make_statement()], headers={"X-Request-ID": "req-42"})
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"] == "InternalError" and "req-42" in response.json()["message"]
    assert response["X-Experience-API-Version"]
    assert Client().get("/nowhere").status_code == 404  # outside the APIs Django answers as usual
