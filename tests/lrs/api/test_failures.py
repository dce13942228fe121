"""A database outage under the xAPI is a JSON 503 with Retry-After, never Django's HTML page;
the same request succeeds once the database is back (gunicorn, production settings, a private
PostgreSQL the test stops and starts)."""

from __future__ import annotations

import time
import uuid

from tests.adapters.helpers import wait_until
from tests.conftest import make_statement


def test_a_database_outage_is_a_json_503_with_retry_after_and_the_retry_succeeds(private_stack):
    stack = private_stack()
    assert stack.post_statements([make_statement()]).status_code == 200
    stack.database.stop()
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
