"""Retention keeps a statement whose retraction is dead: the target still holds the effect of a
voided statement, and only the retraction's delivery (which reads the statement) can remove it,
once an operator resends it. Deleted, the PMS would keep the event for good, and reconciliation,
finding the statement aged out, would no longer judge it. A dead *original* delivery keeps
nothing: the target never took the effect."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.base import DELIVER, RETRACT
from adapters.delivery.replay import deliveries_replay
from adapters.models import Delivery
from adapters.privacy.retention import Policy, apply_retention
from adapters.privacy.retention_preview import retention_preview
from lrs.statements.models import Statement
from tests.adapters.helpers import scored_completion, store_now, voiding
from tests.targets.behaviours import status

pytestmark = pytest.mark.django_db
POLICY = Policy(statement_days=30, mode="delete", attempt_body_days=0)
KEPT = "statements_kept_for_dead_retractions"


def test_a_voided_statement_whose_retraction_died_is_kept_until_it_is_resent(
    pms_target, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    [statement_id] = store_now(capture, scored_completion(0.9))
    assert [event["statementId"] for event in pms_target.events().values()] == [statement_id]
    pms_target.enqueue(status(400))  # the PMS refuses the retraction: a permanent error, it dies
    store_now(capture, voiding(statement_id))
    retraction = Delivery.objects.get(kind=RETRACT)
    assert retraction.status == Delivery.DEAD and len(pms_target.events()) == 1

    aged = max(Statement.objects.values_list("stored", flat=True)) + timedelta(days=31)
    preview = retention_preview(policy=POLICY, now=aged)["counts"]
    run = apply_retention(policy=POLICY, now=aged)

    # The voided statement stays for its dead retraction, its voiding statement for it (Data 2.3.2).
    assert Statement.objects.count() == 2
    assert Delivery.objects.get(id=retraction.id).status == Delivery.DEAD
    assert (run.counts[KEPT], run.counts["statements_kept_voiding"], run.counts["statements_deleted"]) == (
        1,
        1,
        0,
    )
    assert (preview[KEPT], preview["statements_kept_voiding"], preview["statements_deleted"]) == (1, 1, 0)

    with capture(execute=True):
        deliveries_replay(delivery_ids=[retraction.id])  # the operator resends it
    assert pms_target.events() == {}

    later = apply_retention(policy=POLICY, now=aged + timedelta(days=1))
    assert not Statement.objects.exists()
    assert (later.counts[KEPT], later.counts["statements_deleted"]) == (0, 2)


def test_a_statement_whose_original_delivery_died_goes(pms_target, django_capture_on_commit_callbacks):
    pms_target.enqueue(status(400))  # the PMS refuses the event: it never held it
    store_now(django_capture_on_commit_callbacks, scored_completion(0.9))
    assert Delivery.objects.get(kind=DELIVER).status == Delivery.DEAD and pms_target.events() == {}

    aged = Statement.objects.get().stored + timedelta(days=31)
    run = apply_retention(policy=POLICY, now=aged)
    assert not Statement.objects.exists() and not Delivery.objects.exists()
    assert (run.counts[KEPT], run.counts["statements_deleted"]) == (0, 1)


def test_an_operator_may_give_up_a_dead_retraction_and_retention_then_lets_its_statement_go(
    pms_target, django_capture_on_commit_callbacks
):
    """A target that never takes the retraction (the PMS refuses it for good): without a way to
    give it up, the statement, its person in it, would be kept forever. Cancelled by an operator
    (admin *Cancel*), the target keeps the event, on record as given up, and the next run deletes."""
    from adapters.delivery.replay import deliveries_cancel

    capture = django_capture_on_commit_callbacks
    [statement_id] = store_now(capture, scored_completion(0.9))
    pms_target.enqueue(status(400))
    store_now(capture, voiding(statement_id))
    retraction = Delivery.objects.get(kind=RETRACT)
    assert retraction.status == Delivery.DEAD

    assert deliveries_cancel(delivery_ids=[retraction.id]) == 1
    cancelled = Delivery.objects.get(id=retraction.id)
    assert cancelled.status == Delivery.CANCELLED and "cancelled by admin" in cancelled.last_error

    aged = max(Statement.objects.values_list("stored", flat=True)) + timedelta(days=31)
    run = apply_retention(policy=POLICY, now=aged)
    assert not Statement.objects.exists()
    assert (run.counts[KEPT], run.counts["statements_deleted"]) == (0, 2)
    assert len(pms_target.events()) == 1  # the operator's choice: the PMS keeps the event
