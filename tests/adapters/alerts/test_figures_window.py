"""The day's figures (success, held share) cover the last 24 h, or the time since the target's
``DAY_SAMPLE``-th latest delivery when it made more, and every read of the evaluation goes through
an index, never the whole deliveries table (``adapters/alerts/figures.py``): the evaluation runs
every minute per target, and at issue 14's drain rates a day holds tens of millions of rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
import responses
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from adapters.alerts import figures
from adapters.alerts.figures import target_figures
from adapters.models import Delivery
from tests.adapters.helpers import store_now
from tests.conftest import HOOK, make_statement

pytestmark = pytest.mark.django_db


def delivered(capture, count: int) -> list[Delivery]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(HOOK, status=200)
        store_now(capture, *[make_statement() for _ in range(count)])
    rows = list(Delivery.objects.filter(status=Delivery.DELIVERED).order_by("id"))
    assert len(rows) == count
    return rows


def set_row(row: Delivery, **values) -> None:
    Delivery.objects.filter(pk=row.pk).update(**values)


def test_a_target_that_delivered_more_than_the_sample_is_judged_since_its_sample_th_latest_delivery(
    hook_target, django_capture_on_commit_callbacks, monkeypatch, settings
):
    settings.LRS_ALERT_MIN_DELIVERIES = 1
    monkeypatch.setattr(figures, "DAY_SAMPLE", 3)
    now = timezone.now()
    rows = delivered(django_capture_on_commit_callbacks, 9)
    # Five delivered 50, 40, 30, 20 and 10 minutes ago: the window begins 30 minutes ago.
    for minutes, row in zip([50, 40, 30, 20, 10], rows[:5], strict=True):
        set_row(row, delivered_at=now - timedelta(minutes=minutes))
    set_row(rows[5], status=Delivery.DEAD, updated_at=now - timedelta(minutes=45))  # before it
    set_row(rows[6], status=Delivery.DEAD, updated_at=now - timedelta(minutes=15))  # in it
    set_row(rows[7], status=Delivery.HELD, created_at=now - timedelta(minutes=45))  # before it
    set_row(rows[8], status=Delivery.HELD, created_at=now - timedelta(minutes=5))  # in it

    found = target_figures(hook_target, now)

    assert found["success"] == pytest.approx(100 * 3 / 4)  # 3 delivered and 1 dead in the window
    assert found["held_share"] == pytest.approx(100 * 1 / 5)  # of 3 + 1 + 1 created in it


def test_with_fewer_deliveries_than_the_sample_the_window_is_the_whole_day(
    hook_target, django_capture_on_commit_callbacks, settings
):
    settings.LRS_ALERT_MIN_DELIVERIES = 1
    now = timezone.now()
    rows = delivered(django_capture_on_commit_callbacks, 4)
    set_row(rows[0], delivered_at=now - timedelta(hours=25))  # yesterday: out of the day
    set_row(rows[1], delivered_at=now - timedelta(hours=23))
    set_row(rows[2], status=Delivery.DEAD, updated_at=now - timedelta(hours=20))
    set_row(rows[3], status=Delivery.DEAD, updated_at=now - timedelta(hours=30))  # out of the day

    found = target_figures(hook_target, now)

    assert found["success"] == pytest.approx(100 * 1 / 2)
    assert found["dead_letters"] == 0  # none in the last hour


def fill_history(rows: int) -> None:
    """``rows`` delivered deliveries of other targets (copies of one delivered row, one per new
    target), then fresh statistics: a history the planner sees as large, as it is in production."""
    from adapters.models import Target

    columns = [field.column for field in Target._meta.concrete_fields if field.column not in {"id", "name"}]
    listed = ", ".join(f'"{column}"' for column in columns)
    copied = ", ".join(
        f'd."{field.column}"'
        for field in Delivery._meta.concrete_fields
        if field.column not in {"id", "target_id", "idempotency_key"}
    )
    delivery_columns = ", ".join(
        f'"{field.column}"'
        for field in Delivery._meta.concrete_fields
        if field.column not in {"id", "target_id", "idempotency_key"}
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO adapters_target (name, {listed}) SELECT 'history-' || n, {listed} "
            "FROM adapters_target, generate_series(1, %s) AS n WHERE name = 'hook'",
            [rows],
        )
        cursor.execute(
            f"INSERT INTO adapters_delivery ({delivery_columns}, target_id, idempotency_key) "
            f"SELECT {copied}, t.id, 'history-' || t.id FROM adapters_delivery d, adapters_target t "
            "WHERE d.id = (SELECT min(id) FROM adapters_delivery WHERE status = 'delivered') "
            "AND t.name LIKE 'history-%%'"
        )
        cursor.execute("ANALYZE adapters_target")
        cursor.execute("ANALYZE adapters_delivery")


USABLE = ("delivery_delivered", "delivery_dead", "delivery_due")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")
def test_every_read_of_the_deliveries_goes_through_a_partial_index(
    hook_target, django_capture_on_commit_callbacks
):
    delivered(django_capture_on_commit_callbacks, 3)
    fill_history(20_000)
    with CaptureQueriesContext(connection) as captured:
        target_figures(hook_target, timezone.now())
    reads = [query["sql"] for query in captured.captured_queries if '"adapters_delivery"' in query["sql"]]
    assert len(reads) == 5, reads  # the window, its dead letters, the rest, the lags, the hour's dead
    with connection.cursor() as cursor:
        for sql in reads:
            cursor.execute(f"EXPLAIN {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
            # Not the table, nor a whole index in another order (the unique key's, statement first):
            # an index that holds only delivered rows, dead letters or the work in hand.
            assert "Seq Scan on adapters_delivery" not in plan, plan
            scans = [line for line in plan.splitlines() if "on adapters_delivery" in line]
            assert scans and all(any(f"using {name} " in line for name in USABLE) for line in scans), plan
    window = next(sql for sql in reads if "MIN(" in sql.upper())
    assert f"LIMIT {figures.DAY_SAMPLE}" in window, window
