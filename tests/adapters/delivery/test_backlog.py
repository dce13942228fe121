"""A backlog of due deliveries, the worker stopped, the sweep running as beat would: the
broker holds a drain message or two per target, never one per delivery and never a duplicate; the
worker, once started, drains it without a task that finds nothing to do because of the sweep."""

from __future__ import annotations

import re
import threading
import time

import pytest

from adapters.delivery.replay import backfill
from adapters.delivery.sweep import sweep_due
from adapters.models import Delivery, Target
from lrs.statements.store import statement_store
from tests.adapters.helpers import wait_until
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db(transaction=True)

# 20,000 ran in 2 min 35 s against this slow fake (a thread and a connection per request); the
# broker held at most 2 messages throughout, as with this smaller backlog.
BACKLOG = 5_000
DRAINED = re.compile(r"Task adapters\.drain\[\S+\] succeeded in \S+: (\d+)")


def test_a_backlog_costs_the_broker_a_message_per_drain_slot_never_one_per_delivery(
    broker, private_redis, webhook_target, celery_worker_process, settings
):
    for _ in range(BACKLOG // 1000):  # stored before any target exists: no outbox entries
        statement_store(statements=[make_statement() for _ in range(1000)], credential=None)
    target = Target.objects.create(
        name="hook",
        adapter="webhook",
        config={"url": webhook_target.url, "secret": {"env": "TEST_WEBHOOK_SECRET"}},
    )
    backfill(target=target)
    assert Delivery.objects.filter(status=Delivery.PENDING).count() == BACKLOG
    redis = private_redis.client()
    for _ in range(5):  # beat's sweep while no worker runs
        sweep_due()
    queued = redis.llen("celery")
    assert queued <= settings.LRS_DRAIN_PARALLELISM, queued

    most = [queued]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            most.append(redis.llen("celery"))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    worker = celery_worker_process(broker, extra_env={"TEST_WEBHOOK_SECRET": "test-webhook-secret"})
    try:

        def drained() -> bool:
            sweep_due()
            return Delivery.objects.filter(status=Delivery.DELIVERED).count() == BACKLOG

        started = time.monotonic()
        wait_until(drained, timeout=300, interval=1, message="the backlog delivered")
        print(
            f"{BACKLOG} deliveries drained in {time.monotonic() - started:.1f} s; "
            f"broker queue at most {max(most)} message(s)"
        )
    finally:
        done.set()
        watcher.join()
    assert max(most) <= settings.LRS_DRAIN_PARALLELISM + 1  # + a wake-up at most
    assert len(webhook_target.distinct_keys()) == BACKLOG
    runs = [int(count) for count in DRAINED.findall(worker.log_text())]
    assert sum(runs) == BACKLOG and runs.count(0) <= settings.LRS_DRAIN_PARALLELISM, runs
