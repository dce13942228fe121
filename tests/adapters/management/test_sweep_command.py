"""``manage.py deliveries_sweep --dry-run`` counts what one sweep would expand and put back, and
where work is due, changing nothing; the real sweep then does what it counted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError
from django.utils import timezone

from adapters.delivery import queue
from adapters.delivery.sweep import sweep_due
from adapters.models import Delivery, OutboxBatch
from lrs.statements.store import statement_store
from tests.adapters.management.conftest import database, deliveries_of, run
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db


@pytest.fixture
def drains(monkeypatch) -> list[int]:
    """The targets the real sweep asks to drain (recorded, not drained: nothing is sent)."""
    asked: list[int] = []
    monkeypatch.setattr(queue, "request_drain", lambda target_id, **_: asked.append(target_id))
    monkeypatch.setattr(queue, "drain_targets", lambda target_ids, **_: asked.extend(target_ids))
    return asked


def test_a_dry_run_counts_forgotten_batches_stuck_and_due_work_and_the_sweep_then_does_it(
    hook_target, drains
):
    [stuck] = deliveries_of(hook_target, 1, status=Delivery.IN_FLIGHT)
    Delivery.objects.filter(pk=stuck).update(claimed_until=timezone.now() - timedelta(minutes=1))
    deliveries_of(hook_target, 1, status=Delivery.PENDING)
    statement_store(statements=[make_statement()], credential=None)  # its batch never dispatched
    before = database()

    out, _ = run("deliveries_sweep", "--dry-run")

    assert database() == before and drains == []
    assert out.strip() == (
        "would expand 1 outbox batches and put back 1 deliveries stuck in flight; "
        "due now at 1 targets: hook (dry run, nothing changed)"
    )
    assert sweep_due() == 2  # the batch's one delivery, and the one put back
    assert not OutboxBatch.objects.exists()
    assert Delivery.objects.get(pk=stuck).status == Delivery.RETRYING
    assert set(drains) == {hook_target.id}


def test_a_dry_run_with_nothing_forgotten_stuck_or_due_is_nothing_to_do(hook_target):
    deliveries_of(hook_target, 1, status=Delivery.DELIVERED)
    out, _ = run("deliveries_sweep", "--dry-run")
    assert out.startswith("nothing to do: ")


def test_a_dry_run_does_not_loop(db):
    with pytest.raises(CommandError, match="--dry-run sweeps once"):
        run("deliveries_sweep", "--dry-run", "--loop")
