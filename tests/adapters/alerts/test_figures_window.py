"""The day's figures (success, held share) cover the last 24 h, or the time since the target's
``DAY_SAMPLE``-th latest delivery when it made more, and every read of the evaluation goes through
an index, never the whole deliveries table (``adapters/alerts/figures.py``): the evaluation runs
every minute per target, and at issue 14's drain rates a day holds tens of millions of rows."""

from __future__ import annotations

import re
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


@pytest.fixture
def sample_of_three(monkeypatch, settings):
    """A day's figures judged from one delivery on, over a sample of three."""
    settings.LRS_ALERT_MIN_DELIVERIES = 1
    monkeypatch.setattr(figures, "DAY_SAMPLE", 3)


def test_a_target_that_delivered_more_than_the_sample_is_judged_since_its_sample_th_latest_delivery(
    hook_target, django_capture_on_commit_callbacks, sample_of_three
):
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
    """``rows`` finished deliveries of other targets (copies of one delivered row, one per new
    target, finished one second apart over the last hours; every tenth a dead letter), then fresh
    statistics: a busy history the planner sees as large, as it is in production."""
    from adapters.models import Target

    columns = [field.column for field in Target._meta.concrete_fields if field.column not in {"id", "name"}]
    listed = ", ".join(f'"{column}"' for column in columns)
    changed = {"id", "target_id", "idempotency_key", "status", "delivered_at", "updated_at"}
    kept = [field.column for field in Delivery._meta.concrete_fields if field.column not in changed]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO adapters_target (name, {listed}) SELECT 'history-' || n, {listed} "
            "FROM adapters_target, generate_series(1, %s) AS n WHERE name = 'hook'",
            [rows],
        )
        cursor.execute(
            f"INSERT INTO adapters_delivery ({', '.join(kept)}, target_id, idempotency_key, status, "
            "delivered_at, updated_at) "
            f"SELECT {', '.join('d.' + column for column in kept)}, t.id, 'history-' || t.id, "
            "CASE WHEN t.id % 10 = 0 THEN 'dead' ELSE 'delivered' END, "
            "CASE WHEN t.id % 10 = 0 THEN NULL ELSE now() - t.id * interval '1 second' END, "
            "now() - t.id * interval '1 second' "
            "FROM adapters_delivery d, adapters_target t "
            "WHERE d.id = (SELECT min(id) FROM adapters_delivery WHERE status = 'delivered') "
            "AND t.name LIKE 'history-%%'"
        )
        cursor.execute("ANALYZE adapters_target")
        cursor.execute("ANALYZE adapters_delivery")


USABLE = ("delivery_delivered", "delivery_dead", "delivery_due")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")
def test_a_quiet_targets_reads_do_not_walk_the_other_targets_history(
    hook_target, django_capture_on_commit_callbacks
):
    delivered(django_capture_on_commit_callbacks, 3)
    fill_history(50_000)  # other targets finished 50,000 deliveries in the last 14 hours
    with CaptureQueriesContext(connection) as captured:
        target_figures(hook_target, timezone.now())
    reads = [query["sql"] for query in captured.captured_queries if '"adapters_delivery"' in query["sql"]]
    assert len(reads) == 6, (
        reads
    )  # the window's edge and count, its dead, the rest, the lags, the hour's dead
    with connection.cursor() as cursor:
        for sql in reads:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
            # Not the table, nor a whole index in another order (the unique key's, statement first):
            # an index that holds only delivered rows, dead letters or the work in hand...
            assert "Seq Scan on adapters_delivery" not in plan, plan
            scans = [line for line in plan.splitlines() if "on adapters_delivery" in line]
            assert scans and all(any(f"using {name} " in line for name in USABLE) for line in scans), plan
            # ...and of it only this target's part: a few pages, where the history's entries of the
            # day fill hundreds (a scan of delivered_at first read them all).
            pages = sum(
                int(n) for n in re.findall(r"Buffers: shared (?:hit|read)=(\d+)", plan.split("\n")[1])
            )
            assert pages < 30, plan
    edge = next(sql for sql in reads if "OFFSET" in sql)
    assert f"LIMIT 2 OFFSET {figures.DAY_SAMPLE - 1}" in edge, edge


def test_deliveries_at_the_windows_first_instant_all_count(
    hook_target, django_capture_on_commit_callbacks, sample_of_three
):
    # A drain batch records one delivered_at for all its deliveries: the window's edge may fall
    # inside a batch, and every one of it counts (as the dead letters at that instant do).
    now = timezone.now()
    rows = delivered(django_capture_on_commit_callbacks, 7)
    batch = now - timedelta(minutes=10)
    for row in rows[:6]:
        set_row(row, delivered_at=batch)
    set_row(rows[6], status=Delivery.DEAD, updated_at=batch)

    assert target_figures(hook_target, now)["success"] == pytest.approx(100 * 6 / 7)


def test_exactly_the_sample_keeps_the_whole_day(
    hook_target, django_capture_on_commit_callbacks, sample_of_three
):
    now = timezone.now()
    rows = delivered(django_capture_on_commit_callbacks, 4)
    for minutes, row in zip([30, 20, 10], rows[:3], strict=True):
        set_row(row, delivered_at=now - timedelta(minutes=minutes))
    set_row(rows[3], status=Delivery.DEAD, updated_at=now - timedelta(hours=2))  # in the day

    assert target_figures(hook_target, now)["success"] == pytest.approx(100 * 3 / 4)
