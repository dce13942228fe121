"""A drained batch commits twice: once to claim it, once for everything that came of it (its
attempt rows and the deliveries' new state, together or not at all). Issue 14: "record attempts
and outcomes in bulk: one commit per batch, not several per delivery".

Real commits (``transaction=True``): inside a test's own transaction nothing commits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
import responses
from django.db import connection

from adapters.delivery import drain as drains
from adapters.delivery import outcomes, queue
from adapters.models import Attempt, Delivery
from tests.adapters.helpers import pending_deliveries
from tests.conftest import HOOK

pytestmark = pytest.mark.django_db(transaction=True)

WRITES = ("INSERT", "UPDATE", "DELETE", "WITH")


@contextlib.contextmanager
def transactions_that_wrote() -> Iterator[list[str]]:
    """Each transaction that wrote, as the first write it ran: a write outside any atomic block
    (autocommit: a transaction of its own), or an atomic block's commit after a write."""
    found: list[str] = []
    pending: list[str] = []

    def watch(execute, sql, params, many, context):
        is_write = sql.lstrip().upper().startswith(WRITES)
        if is_write and not connection.in_atomic_block:
            found.append(sql)
        elif is_write and not pending:
            pending.append(sql)
        return execute(sql, params, many, context)

    real_commit = connection.commit

    def commit() -> None:
        real_commit()
        if pending:
            found.append(pending.pop())

    connection.commit = commit
    try:
        with connection.execute_wrapper(watch):
            yield found
    finally:
        del connection.commit


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the claim's SQL is PostgreSQL's")
@responses.activate
@pytest.mark.parametrize("count", [3, 8])
def test_a_drained_batch_commits_twice_its_claim_and_then_all_that_came_of_it(
    target, count, monkeypatch, settings
):
    """A full batch (8), and one of fewer deliveries, whose claim is shortened in the same
    transaction as it is taken."""
    settings.LRS_DRAIN_BATCH = 8
    responses.post(HOOK, status=200)
    pending_deliveries(count, monkeypatch)
    # A full batch recruits another drain: recorded, not run here (eagerly it would claim too).
    settings.CELERY_TASK_ALWAYS_EAGER = False
    published: list[tuple] = []
    monkeypatch.setattr(queue, "publish", lambda name, args, **kwargs: published.append(args) or True)
    with transactions_that_wrote() as found:
        assert drains._one_batch(target) == count
    assert Delivery.objects.filter(status=Delivery.DELIVERED).count() == count
    assert Attempt.objects.count() == count
    assert len(found) == 2, found
    assert found[0].startswith("UPDATE") and "FOR UPDATE SKIP LOCKED" in found[0]


@responses.activate
def test_attempt_rows_and_the_deliveries_state_are_written_together_or_not_at_all(target, monkeypatch):
    responses.post(HOOK, status=200)
    pending_deliveries(3, monkeypatch)

    def broken(*args):
        raise RuntimeError("the database went away mid-write")

    # The attempts go in after the deliveries' UPDATE (which says which are still this worker's).
    with monkeypatch.context() as patched, pytest.raises(RuntimeError):
        patched.setattr(outcomes, "insert_tuples", broken)
        drains._one_batch(target)
    # Nothing of the outcome is recorded: the deliveries stay claimed, to run again when the
    # claim runs out, and no attempt row says otherwise.
    assert Attempt.objects.count() == 0
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.IN_FLIGHT}

    Delivery.objects.update(claimed_until=None, status=Delivery.PENDING)  # as the sweep does at expiry
    assert drains._one_batch(target) == 3
    assert Attempt.objects.filter(outcome=Attempt.SUCCESS).count() == 3
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.DELIVERED}
