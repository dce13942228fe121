"""Lag figures (``adapters.ops.selectors.delivery_lags``: the alert rule ``lag_p95`` and the admin's
target list) read the latest deliveries of their window, at most ``LAG_SAMPLE``, newest first
through the delivered rows' index: a bounded read whatever the volume. Before, they read every
delivery of the hour into Python, millions at the drain rates of issue 14."""

from __future__ import annotations

from datetime import timedelta

import pytest
import responses
from django.db import connection
from django.test.utils import CaptureQueriesContext

from adapters.models import Delivery
from adapters.ops.selectors import delivery_lags
from tests.adapters.helpers import store_now
from tests.conftest import HOOK, make_statement

pytestmark = pytest.mark.django_db


def delivered(capture, count: int) -> list[Delivery]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(HOOK, status=200)
        store_now(capture, *[make_statement() for _ in range(count)])
    rows = list(Delivery.objects.filter(status=Delivery.DELIVERED).select_related("statement").order_by("id"))
    assert len(rows) == count
    return rows


def test_lags_are_those_of_the_latest_deliveries_of_the_window(
    hook_target, django_capture_on_commit_callbacks
):
    rows = delivered(django_capture_on_commit_callbacks, 5)
    # Delivery i made i minutes after its statement was stored, the later ones more recently; the
    # first one outside the hour.
    for minutes, row in enumerate(rows):
        Delivery.objects.filter(pk=row.pk).update(
            delivered_at=row.statement.stored + timedelta(minutes=minutes)
        )
    Delivery.objects.filter(pk=rows[0].pk).update(delivered_at=rows[0].statement.stored - timedelta(hours=2))

    assert sorted(delivery_lags(target=hook_target)) == [60.0, 120.0, 180.0, 240.0]
    assert sorted(delivery_lags(target=hook_target, sample=2)) == [180.0, 240.0]  # the two latest


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")
def test_the_lag_read_stops_after_the_sample_through_the_delivered_index(hook_target):
    with CaptureQueriesContext(connection) as captured:
        delivery_lags(target=hook_target, sample=7)
    (query,) = captured.captured_queries
    assert query["sql"].rstrip().endswith("LIMIT 7"), query["sql"]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {query['sql']}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Scan Backward using delivery_delivered on adapters_delivery" in plan, plan
    assert "Sort" not in plan.split("Index Scan")[0], plan  # newest first from the index, no sort
