"""The admin's target health (``adapters.ops.selectors.target_health``) finds a target's last failed
attempt among the failed attempts only, through ``attempt_outcome_time``: successful attempts,
nearly all of a running system's (one per delivery), are never read. "Not a success" read the whole
attempts table for every target on the admin's list."""

from __future__ import annotations

import pytest
import responses
from django.db import connection
from django.test.utils import CaptureQueriesContext

from adapters.models import Attempt
from adapters.ops.selectors import target_health
from tests.adapters.helpers import store_now
from tests.conftest import HOOK, make_statement

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner"),
]


def fill_successes(rows: int) -> None:
    """``rows`` more successful attempts (copies of one), then fresh statistics."""
    columns = [
        field.column for field in Attempt._meta.concrete_fields if field.column not in {"id", "number"}
    ]
    listed = ", ".join(f'"{column}"' for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO adapters_attempt ({listed}, number) SELECT {listed}, 1 + n "
            "FROM adapters_attempt, generate_series(1, %s) AS n "
            "WHERE id = (SELECT min(id) FROM adapters_attempt WHERE outcome = 'success')",
            [rows],
        )
        cursor.execute("ANALYZE adapters_attempt")


def test_the_last_failure_is_read_among_failed_attempts_only(hook_target, django_capture_on_commit_callbacks):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(HOOK, status=200)
        store_now(django_capture_on_commit_callbacks, make_statement())
        mocked.replace(responses.POST, HOOK, status=422)
        store_now(django_capture_on_commit_callbacks, make_statement())
    fill_successes(20_000)

    with CaptureQueriesContext(connection) as captured:
        health = target_health(hook_target)

    assert "422" in health.last_error
    (sql,) = [query["sql"] for query in captured.captured_queries if '"adapters_attempt"' in query["sql"]]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Seq Scan on adapters_attempt" not in plan, plan
    assert "attempt_outcome_time on adapters_attempt" in plan, plan
