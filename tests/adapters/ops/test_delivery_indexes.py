"""The deliveries table's status index (``delivery_due``) leaves delivered rows out, nearly all
rows of a running system: a delivery's last update writes no entry into it, and it stays the size
of the work in hand. Every query by status that is not about delivered rows must still read
through an index: PostgreSQL uses a partial index only where it can prove the query's condition
implies the index's, so a query it cannot prove would scan the whole table (issue 14, "cut it
where an index earns nothing")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count, QuerySet
from django.utils import timezone

from adapters.models import Delivery
from adapters.ops.store_gauges import UNSETTLED

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner"),
]


def plan(queryset: QuerySet) -> str:
    """The plan with sequential scans priced out: one is left only where no index applies."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


DUE = ("delivery_due",)
QUERIES = {
    # adapters.ops.store_gauges: the unsettled deliveries by target and status.
    "unsettled by status": (
        lambda: (
            Delivery.objects.filter(status__in=UNSETTLED)
            .values("target_id", "status")
            .annotate(n=Count("id"))
        ),
        DUE,
    ),
    # adapters.delivery.replay: what a replay may send again.
    "dead or cancelled": (
        lambda: Delivery.objects.filter(status__in=[Delivery.DEAD, Delivery.CANCELLED]),
        DUE,
    ),
    # adapters.delivery.sweep: claims that ran out.
    "stuck in flight": (
        lambda: Delivery.objects.filter(status=Delivery.IN_FLIGHT, claimed_until__lt=timezone.now()),
        DUE,
    ),
    "waiting for an answer": (lambda: Delivery.objects.filter(status=Delivery.UNKNOWN), DUE),
    # Retries due soon: the drains' own index (open rows by next attempt) serves as well.
    "due soon": (
        lambda: Delivery.objects.filter(
            status=Delivery.RETRYING, next_attempt_at__lte=timezone.now() + timedelta(minutes=5)
        ),
        ("delivery_due", "delivery_open"),
    ),
}


@pytest.mark.parametrize("name", list(QUERIES))
def test_every_query_by_an_unsettled_status_reads_through_an_index_of_status(name):
    """Not a full scan of the table, nor of an index in some other order (the primary key's)."""
    query, usable = QUERIES[name]
    found = plan(query())
    assert "Seq Scan" not in found, found
    assert any(
        f"using {index} on adapters_delivery" in found or f"on {index}" in found for index in usable
    ), found


def test_delivered_rows_are_not_in_the_status_index():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_indexdef('delivery_due'::regclass)")
        (definition,) = cursor.fetchone()
    assert "WHERE (NOT ((status)::text = 'delivered'::text))" in definition
