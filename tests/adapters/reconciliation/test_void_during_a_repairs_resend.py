"""The void of a statement whose event a repair is making again at that very moment (its re-send
claimed by a worker, in flight) after an earlier repair retracted it: the statement's one
retraction row was spent by the earlier repair, and the original's ``delivered_at`` is still the
first delivery's (before that retraction) when the void comes; the re-send lands after. The void
must still retract what it made (``voiding._spent_before_made_again``), after it, as a first void
retracts an original in flight (``voiding._needs_retraction``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from adapters.delivery import batch, outcomes
from adapters.delivery.drain import claim_due, delivery_send
from adapters.identity.hris import HrisRow, hris_import
from adapters.identity.links import Identifiers
from adapters.models import Delivery, Target
from adapters.reconciliation.run import reconcile
from tests.adapters.helpers import reconcile_now, scored_completion, store_now, voiding
from tests.targets.behaviours import applied_then, ok

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("retries_far_off")]
LINKED = HrisRow(1, "E1", Identifiers(emails=["ann@example.com"]), "active", None)
UNLINKED = HrisRow(1, "E1", Identifiers(), "active", None)


def test_a_void_while_a_repairs_resend_is_in_flight_retracts_what_it_makes(
    pms_target, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    hris_import([LINKED])
    [statement_id] = store_now(capture, scored_completion(0.8, email="ann@example.com"))
    hris_import([UNLINKED])
    taken_away = reconcile_now(capture, "pms", repair=True)
    assert [m["kind"] for m in taken_away.mismatches] == ["extra"] and pms_target.events() == {}
    with capture(execute=True):
        hris_import([LINKED])
    target = Target.objects.get(name="pms")
    now = timezone.now()
    with capture(execute=False):  # the repair's re-send is queued, not run
        made_again = reconcile(
            target=target, since=now - timedelta(hours=1), until=now + timedelta(minutes=1), repair=True
        )
    assert [m["kind"] for m in made_again.mismatches] == ["missing"]
    claimed = claim_due(target, 10)  # a worker claims the re-send and sends it (not written yet)
    assert [row.kind for row in claimed] == ["deliver"]
    sent = batch.run(target, claimed)
    assert len(pms_target.events()) == 1

    store_now(capture, voiding(statement_id))  # the void comes while the re-send is in flight
    outcomes.persist(target, sent)  # the worker writes what came of its send
    for row in Delivery.objects.filter(status__in=[Delivery.PENDING, Delivery.RETRYING]):
        Delivery.objects.filter(id=row.id).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        delivery_send(row.id)

    assert pms_target.events() == {}, (
        "the void retracted nothing: the statement's retraction was spent by the first repair, and "
        "the second repair's re-send, in flight when the void came, made the event after it"
    )


def test_a_void_after_a_repairs_resend_applied_unanswered_retracts_what_it_made(
    pms_target, django_capture_on_commit_callbacks
):
    """The re-send's attempt created the event and answered 500 (a retry waits, ``maybe_applied``
    as it was once delivered anyway): the void cancels the retry, and must retract the event."""
    capture = django_capture_on_commit_callbacks
    hris_import([LINKED])
    [statement_id] = store_now(capture, scored_completion(0.8, email="ann@example.com"))
    hris_import([UNLINKED])
    reconcile_now(capture, "pms", repair=True)
    assert pms_target.events() == {}
    with capture(execute=True):
        hris_import([LINKED])
    target = Target.objects.get(name="pms")
    now = timezone.now()
    with capture(execute=False):
        reconcile(
            target=target, since=now - timedelta(hours=1), until=now + timedelta(minutes=1), repair=True
        )
    resend = Delivery.objects.get(kind="deliver", status=Delivery.PENDING)
    pms_target.enqueue(ok(), applied_then(500))  # the look-up answered, the POST applied unanswered
    delivery_send(resend.id)
    pms_target.clear_queue()
    assert Delivery.objects.get(id=resend.id).status == Delivery.RETRYING and len(pms_target.events()) == 1

    store_now(capture, voiding(statement_id))
    for row in Delivery.objects.filter(status__in=[Delivery.PENDING, Delivery.RETRYING]):
        Delivery.objects.filter(id=row.id).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        delivery_send(row.id)

    assert pms_target.events() == {}, (
        "the void retracted nothing: the re-send's attempt made the event unanswered after the first "
        "repair spent the statement's retraction, and the void only cancelled its retry"
    )
