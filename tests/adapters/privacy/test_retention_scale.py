"""Retention of many aged statements, each delivered (an attempt kept), in its batches of
``LRS_RETENTION_BATCH_SIZE``: every batch locks its statements' deliveries, then the statements,
then reads what keeps one (``retention_kept.still_needed``, a query more per batch since the
reads moved under the locks). All go, in bounded time. ``LRS_TEST_RETENTION_STATEMENTS`` sets how
many (default 2,000; 10,000 take about 8 s here)."""

from __future__ import annotations

import os
import time

import pytest
from django.utils import timezone

from adapters.models import Attempt, Delivery, Target
from adapters.privacy.retention import apply_retention
from lrs.statements.models import Statement
from tests.adapters.privacy.test_retention import ADA, policy, store  # noqa: F401 (the policy fixture)

pytestmark = pytest.mark.django_db
STATEMENTS = int(os.environ.get("LRS_TEST_RETENTION_STATEMENTS", "2000"))
SECONDS_PER_THOUSAND = 10  # generous: a shared, loaded machine; measured about 1 s


def test_retention_of_many_delivered_statements_deletes_them_all_in_bounded_time():
    target = Target.objects.create(name="pms", adapter="pms", config={}, enabled=False)
    pks: list[int] = []
    for _ in range(0, STATEMENTS, 1000):
        pks += store(min(1000, STATEMENTS - len(pks)), days_ago=40, actor=ADA)
    now = timezone.now()
    rows = Statement.objects.filter(id__in=pks).values_list("id", "statement_id")
    Delivery.objects.bulk_create(
        Delivery(
            target=target,
            statement_id=pk,
            statement_uuid=uuid,
            status=Delivery.DELIVERED,
            attempts=1,
            idempotency_key=f"key-{pk}",
            next_attempt_at=now,
        )
        for pk, uuid in rows
    )
    Attempt.objects.bulk_create(
        Attempt(delivery_id=delivery_id, number=1, started_at=now, outcome=Attempt.SUCCESS, status_code=201)
        for delivery_id in Delivery.objects.values_list("id", flat=True)
    )

    began = time.monotonic()
    run = apply_retention()
    took = time.monotonic() - began

    print(f"retention of {STATEMENTS} delivered statements: {took:.2f} s")
    assert run.counts["statements_deleted"] == STATEMENTS
    assert run.counts["deliveries_deleted"] == STATEMENTS
    assert not Statement.objects.exists() and not Delivery.objects.exists()
    assert took < SECONDS_PER_THOUSAND * STATEMENTS / 1000
