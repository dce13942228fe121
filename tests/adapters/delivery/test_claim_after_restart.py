"""Deliveries claimed by a drain that dies in a database restart wait for their claim to run out,
then the sweep puts them back and a drain sends them: the wait is bounded by the claim
(``drain.claim_seconds``: at least ``LRS_DELIVERY_CLAIM_SECONDS``, longer for a batch that needs
it) and the sweep's period (``LRS_SWEEP_SECONDS``), README "A claim is a lease".

A real worker on real Redis; the restart is what it does to the worker's connection: its backend
terminated (``pg_terminate_backend``, as a restart's shutdown does) while the drain waits for the
target's answer, so the drain's write of the outcome fails and the task with it. The sweep runs
here, as beat would."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from adapters.delivery import sweep
from adapters.delivery.drain import claim_seconds
from adapters.delivery.replay import backfill
from adapters.models import Attempt, Delivery, Target
from lrs.statements.store import statement_store
from tests.adapters.helpers import wait_until
from tests.conftest import make_statement
from tests.targets.webhook_server import held

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="terminates PostgreSQL backends"),
]

CLAIM_SECONDS = 3
SWEEP_SECONDS = 0.5  # the test's sweep period (beat's is LRS_SWEEP_SECONDS, 15)


def _terminate_other_backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_deliveries_claimed_by_a_drain_that_died_in_a_database_restart_are_sent_once_the_claim_runs_out(
    broker, webhook_target, celery_worker_process
):
    worker = celery_worker_process(
        broker,
        extra_env={
            "TEST_WEBHOOK_SECRET": "test-webhook-secret",
            "LRS_DELIVERY_CLAIM_SECONDS": str(CLAIM_SECONDS),
        },
    )
    statement_store(statements=[make_statement()], credential=None)  # before the target: no outbox
    target = Target.objects.create(
        name="hook",
        adapter="webhook",
        config={"url": webhook_target.url, "secret": {"env": "TEST_WEBHOOK_SECRET"}, "timeout_seconds": 2},
    )
    release = threading.Event()
    webhook_target.enqueue(held(release, seconds=30))
    backfill(target=target)  # one delivery; its drain runs on the worker
    wait_until(lambda: webhook_target.requests, message="the send held at the target")
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.IN_FLIGHT
    claim = (delivery.claimed_until - delivery.updated_at).total_seconds()
    assert claim <= claim_seconds(target, 1) + 1, claim

    assert _terminate_other_backends() >= 1  # the worker's connection, as a restart ends it
    release.set()  # the target applies it and answers; the drain cannot write that
    wait_until(
        lambda: "raised unexpected: OperationalError" in worker.log_text(),
        message="the drain failed writing its outcome",
    )
    died = time.monotonic()
    assert Delivery.objects.get().status == Delivery.IN_FLIGHT

    def swept_and_delivered() -> bool:
        sweep.sweep_due()
        return Delivery.objects.filter(status=Delivery.DELIVERED).exists()

    wait_until(swept_and_delivered, timeout=60, interval=SWEEP_SECONDS, message="delivered again")
    waited = time.monotonic() - died
    print(f"claim {claim:.1f} s; delivered {waited:.1f} s after the drain died")
    assert waited < claim + SWEEP_SECONDS + 10, (waited, claim)
    assert len(webhook_target.distinct_keys()) == 1  # sent twice, under one key: one effect
    assert Attempt.objects.filter(error=sweep.STOPPED_MID_SEND).count() == 1
