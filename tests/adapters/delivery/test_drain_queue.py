"""A drain is not starved behind a backlog of dispatch messages: with N dispatch (statement
expansion) messages waiting in the broker and a drain message queued after them, a worker started
with the default command (no ``-Q``: README, docker-compose.yml) runs the drain long before the
backlog is gone. Drain messages travel in a queue of their own (config/celery.py) that every
worker consumes beside the default one, in turn with it (kombu's Redis transport rotates the
queues it reads from after each message).

Before: one queue, first in first out, so the drain ran after all N dispatch messages (under
load, a recruited second drain waited there while its process ran dispatch: the
database-restart test's CI failure, db80521)."""

from __future__ import annotations

import re

import pytest

from adapters.delivery import queue
from adapters.delivery.replay import backfill
from adapters.models import Delivery, Target
from lrs.statements.store import statement_store
from tests.adapters.helpers import wait_until
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db(transaction=True)

BACKLOG = 200
RECEIVED = re.compile(r"Task (adapters\.\w+)\[\S+\] received")


def test_a_drain_queued_after_a_backlog_of_dispatch_messages_runs_before_the_backlog_is_gone(
    broker, private_redis, webhook_target, celery_worker_process
):
    for _ in range(BACKLOG):  # outbox batches that are gone: each message a quick no-op
        assert queue.publish(queue.DISPATCH_BATCH_TASK, ([-1],))
    statement_store(statements=[make_statement()], credential=None)  # no target yet: no outbox entry
    target = Target.objects.create(
        name="hook",
        adapter="webhook",
        config={"url": webhook_target.url, "secret": {"env": "TEST_WEBHOOK_SECRET"}},
    )
    backfill(target=target)  # one pending delivery; its drain message is queued after the backlog
    assert Delivery.objects.filter(target=target, status=Delivery.PENDING).count() == 1

    worker = celery_worker_process(
        broker, extra_env={"TEST_WEBHOOK_SECRET": "test-webhook-secret"}, extra_args=["--concurrency", "1"]
    )
    wait_until(
        lambda: Delivery.objects.filter(target=target, status=Delivery.DELIVERED).exists(),
        timeout=60,
        message="the delivery made",
    )
    received = wait_until(
        lambda: "adapters.drain" in (names := RECEIVED.findall(worker.log_text())) and names,
        timeout=30,
        message="the drain received",
    )
    before = received[: received.index("adapters.drain")].count("adapters.dispatch_batch")
    print(f"dispatch messages run before the drain: {before} of {BACKLOG}")
    assert before <= 2, f"{before} of {BACKLOG} dispatch messages ran before the drain"
    assert len(webhook_target.distinct_keys()) == 1
