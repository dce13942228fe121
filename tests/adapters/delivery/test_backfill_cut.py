"""A backfill while ingest goes on: every statement reaches a newly enabled target exactly once,
by the backfill or by the live fan-out, whatever commits while the backfill walks.

Two ways a statement misses the live fan-out of a target just enabled: its batch decided its
targets before the target was enabled and commits late (``stored`` is taken when the batch's
transaction starts, so it lands behind statements already visible), or another process still
holds the enabled targets it cached (``LRS_TARGETS_CACHE_SECONDS``). The backfill must take
those (README "Replay and backfill"; ``adapters/delivery/replay.py``). Real PostgreSQL, the fake
webhook receiver (tests/targets/webhook_server.py).
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter

import pytest
from django.db import connection

from adapters.delivery.drain import delivery_send
from adapters.delivery.replay import backfill
from adapters.models import Delivery, Target
from adapters.targets.enabled import enabled_targets, forget_targets
from lrs.statements.models import Statement
from lrs.statements.signals import statements_stored
from lrs.statements.store import statement_store
from tests.conftest import make_statement

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="slow writers are seen on PostgreSQL"),
]


def disabled_hook(webhook_target, monkeypatch) -> Target:
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "test-webhook-secret")
    forget_targets()
    return Target.objects.create(
        name="late",
        adapter="webhook",
        enabled=False,
        config={"url": webhook_target.url, "secret": {"env": "TEST_WEBHOOK_SECRET"}},
    )


def enable_elsewhere(target: Target) -> None:
    """Enabled by another process (the admin's): this one's targets cache is not told."""
    Target.objects.filter(pk=target.pk).update(enabled=True)


def a_statement() -> dict:
    """A statement of its own learner and course: batches storing them wait on no common row."""
    n = uuid.uuid4()
    statement = make_statement(
        actor_email=f"{n.hex[:8]}@example.com", activity=f"https://lms.example.com/{n}"
    )
    return {**statement, "id": str(n)}


def send_everything_due() -> None:
    while due := list(
        Delivery.objects.filter(status__in=[Delivery.PENDING, Delivery.RETRYING]).values_list("id", flat=True)
    ):
        for delivery_id in due:
            delivery_send(delivery_id)


def received(webhook_target) -> Counter:
    """How many times the receiver took each statement id (statement.stored events, repeats too)."""
    return Counter(
        event["statement"]["id"]
        for request in webhook_target.accepted()
        for _key, event in request.events()
        if event.get("event") == "statement.stored"
    )


class SlowBatch:
    """A batch that decided its targets and holds its transaction open (on ``statements_stored``,
    inside it) until released."""

    def __init__(self, statement: dict) -> None:
        self.in_transaction, self.release = threading.Event(), threading.Event()
        self.failures: list[BaseException] = []
        statements_stored.connect(self._hold)
        self.thread = threading.Thread(target=self._write, args=(statement,))
        self.thread.start()
        assert self.in_transaction.wait(10)
        statements_stored.disconnect(self._hold)

    def _hold(self, **_kwargs) -> None:
        if threading.current_thread() is self.thread:
            self.in_transaction.set()
            self.release.wait(30)

    def _write(self, statement: dict) -> None:
        try:
            statement_store(statements=[statement], credential=None)
        except BaseException as error:  # reported by the test
            self.failures.append(error)
        finally:
            connection.close()

    def finish(self) -> None:
        self.release.set()
        self.thread.join(30)
        statements_stored.disconnect(self._hold)
        assert not self.thread.is_alive() and not self.failures, self.failures


def test_a_batch_committing_after_the_backfill_passed_its_stored_time_is_delivered_once(
    webhook_target, monkeypatch
):
    target = disabled_hook(webhook_target, monkeypatch)
    slow = a_statement()
    batch = SlowBatch(slow)  # its targets decided: "late" was not enabled yet
    try:
        enable_elsewhere(target)
        forget_targets()
        later = a_statement()
        statement_store(statements=[later], credential=None)  # stored after the slow one, visible

        def progress(_read: int) -> None:
            batch.release.set()  # the slow batch commits once the backfill has read a page

        backfill(target=target, progress=progress)
    finally:
        batch.finish()
    send_everything_due()
    stored = dict(Statement.objects.values_list("statement_id", "stored"))
    assert stored[uuid.UUID(slow["id"])] < stored[uuid.UUID(later["id"])]  # the case meant

    assert received(webhook_target) == {slow["id"]: 1, later["id"]: 1}, (
        "the statement of the batch that committed behind the backfill was never delivered"
    )


def test_a_statement_stored_by_a_process_with_a_stale_targets_cache_after_the_backfill_is_delivered_once(
    webhook_target, monkeypatch, settings
):
    settings.LRS_TARGETS_CACHE_SECONDS = 1
    target = disabled_hook(webhook_target, monkeypatch)
    assert enabled_targets() == []  # this process caches the enabled targets: none
    enable_elsewhere(target)
    before = a_statement()
    statement_store(statements=[before], credential=None)

    backfill(target=target)
    after = a_statement()  # stored once the backfill is done, by a process that may not know yet
    statement_store(statements=[after], credential=None)
    send_everything_due()

    assert received(webhook_target) == {before["id"]: 1, after["id"]: 1}, (
        "a statement stored after the backfill ended, while a process still cached the targets "
        "without the new one, was never delivered"
    )
