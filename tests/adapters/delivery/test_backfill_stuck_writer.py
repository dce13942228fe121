"""A backfill waits behind a batch still being written (``consistent_through``: the oldest open
storing transaction); a storing transaction left idle, its process hung between two queries (a
stuck thread of a threaded web worker, a hung call inside the transaction, a frozen host whose
connection no FIN closes), would hold every backfill, and every ascending page of the API, until
TCP keepalive noticed (two hours and more by default). PostgreSQL ends such a transaction after
``bulk.STORING_IDLE_LIMIT`` idle (``idle_in_transaction_session_timeout``, set for that
transaction alone): the batch is rolled back (its client gets an error and sends it again) and
the backfill goes on. Real PostgreSQL."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from django.db import connection

from adapters.delivery.replay import backfill
from adapters.models import Delivery, Target
from adapters.targets.enabled import forget_targets
from lrs.statements.models import Statement
from lrs.statements.signals import statements_stored
from lrs.statements.store import statement_store
from tests.adapters.helpers import wait_until
from tests.conftest import make_statement

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="storing writers are seen on PostgreSQL"),
]

# How long the stuck batch would hold its transaction if nothing ended it; the backfill must end
# well before (the limit, 30 s, and a margin for a loaded machine).
HELD_SECONDS = 75
BOUND_SECONDS = 55


def a_statement() -> dict:
    n = uuid.uuid4()
    return {**make_statement(actor_email=f"{n.hex[:8]}@example.com"), "id": str(n)}


class StuckBatch:
    """A batch of two (the general path: several round trips in one transaction) whose process
    stops between two queries (on ``statements_stored``, inside the transaction) for
    ``HELD_SECONDS``, as a hung one would."""

    def __init__(self) -> None:
        self.statements = [a_statement(), a_statement()]
        self.in_transaction, self.release = threading.Event(), threading.Event()
        self.failures: list[BaseException] = []
        statements_stored.connect(self._hold)
        self.thread = threading.Thread(target=self._write)
        self.thread.start()
        assert self.in_transaction.wait(10)

    def _hold(self, **_kwargs) -> None:
        if threading.current_thread() is self.thread:
            self.in_transaction.set()
            self.release.wait(HELD_SECONDS)

    def _write(self) -> None:
        try:
            statement_store(statements=self.statements, credential=None)
        except BaseException as error:  # reported by the test
            self.failures.append(error)
        finally:
            connection.close()

    def finish(self) -> None:
        self.release.set()
        self.thread.join(30)
        statements_stored.disconnect(self._hold)
        assert not self.thread.is_alive()


def test_a_backfill_ends_though_a_storing_transaction_was_left_idle(webhook_target, monkeypatch, settings):
    settings.LRS_TARGETS_CACHE_SECONDS = 0
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "test-webhook-secret")
    [earlier] = statement_store(statements=[a_statement()], credential=None)  # before any target
    forget_targets()
    target = Target.objects.create(
        name="hook",
        adapter="webhook",
        config={"url": webhook_target.url, "secret": {"env": "TEST_WEBHOOK_SECRET"}},
    )
    stuck = StuckBatch()
    try:
        began = time.monotonic()
        counts = backfill(target=target)
        took = time.monotonic() - began
    finally:
        stuck.finish()
    print(f"the backfill ended after {took:.1f} s behind a storing transaction left idle")
    assert took < BOUND_SECONDS, f"the backfill waited {took:.1f} s for the idle storing transaction"
    assert counts["created"] == 1
    wait_until(
        lambda: Delivery.objects.filter(target=target, status=Delivery.DELIVERED).count() == 1,
        message="the earlier statement delivered",
    )
    # The stuck batch was rolled back, and its writer told: nothing of it is stored.
    assert stuck.failures, "the stuck batch committed"
    assert "idle-in-transaction timeout" in str(stuck.failures[0]), stuck.failures[0]
    ids = [statement["id"] for statement in stuck.statements]
    assert not Statement.objects.filter(statement_id__in=ids).exists()
    assert Statement.objects.filter(statement_id=earlier).exists()
