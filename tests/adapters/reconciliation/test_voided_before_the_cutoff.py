"""A voided statement stored before retention's cut-off that the LRS still holds (kept for its
dead retraction in ``delete`` mode, README "Retention": "Deleted, its retraction would go with it
... and reconciliation, finding the statement aged out, would no longer judge it"; pseudonymised
in ``pseudonymise`` mode, whose void "retracts the event as before") owes the target nothing:
whatever retention did, the void is known, so the effect the target still holds is extra, and a
repair retracts it. Retention's "aged out" (``AgedOut``) spares what retention may have changed of
a *live* statement's effect, not a void's retraction that never landed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.base import RETRACT
from adapters.models import Delivery, Target
from adapters.privacy.retention import Policy, apply_retention
from lrs.statements.models import Statement
from tests.adapters.helpers import reconcile_now, scored_completion, store_now, voiding
from tests.targets.behaviours import status

pytestmark = pytest.mark.django_db
SKILL = ("E100", "SAFETY-BASICS")


def voided_with_a_dead_retraction_then_aged(capture, pms, mode: str) -> str:
    """A statement delivered to the PMS, voided, its retraction refused for good (dead); then
    retention, the clock a day past the cut-off, which keeps the voided statement (delete: for its
    dead retraction; pseudonymise: every statement stays)."""
    [statement_id] = store_now(capture, scored_completion(0.9))
    pms.enqueue(status(400))  # the PMS refuses the retraction (or its look-up): it dies
    store_now(capture, voiding(statement_id))
    assert Delivery.objects.get(kind=RETRACT).status == Delivery.DEAD
    assert [event["statementId"] for event in pms.events().values()] == [statement_id]
    aged = max(Statement.objects.values_list("stored", flat=True)) + timedelta(days=31)
    apply_retention(policy=Policy(statement_days=30, mode=mode, attempt_body_days=0), now=aged)
    assert Statement.objects.get(statement_id=statement_id).voided  # still held
    return statement_id


@pytest.mark.parametrize("mode", ["delete", "pseudonymise"])
def test_the_event_of_a_voided_statement_kept_past_the_cutoff_is_extra_and_a_repair_retracts_it(
    pms_target, django_capture_on_commit_callbacks, mode
):
    capture = django_capture_on_commit_callbacks
    statement_id = voided_with_a_dead_retraction_then_aged(capture, pms_target, mode)

    run = reconcile_now(capture, "pms")
    assert [(m["kind"], m["key"]) for m in run.mismatches] == [("extra", statement_id)], (
        "the PMS holds the event of a voided statement the LRS still holds, and the run said nothing",
        run.counts,
    )

    reconcile_now(capture, "pms", repair=True)
    assert pms_target.events() == {}
    again = reconcile_now(capture, "pms")
    assert (again.counts["extra"], again.mismatches) == (0, [])


@pytest.mark.parametrize("mode", ["delete", "pseudonymise"])
def test_without_read_back_a_voided_statement_kept_past_the_cutoff_is_owed_its_retraction(
    pms_target, django_capture_on_commit_callbacks, mode
):
    """A PMS keeping history (``retraction: "event"``) is judged by our deliveries: the dead
    retraction is owed whatever retention did."""
    target = Target.objects.get(name="pms")
    Target.objects.filter(pk=target.pk).update(config={**target.config, "retraction": "event"})
    capture = django_capture_on_commit_callbacks
    statement_id = voided_with_a_dead_retraction_then_aged(capture, pms_target, mode)

    run = reconcile_now(capture, "pms")
    assert not run.read_back
    assert [(m["kind"], m["key"]) for m in run.mismatches] == [("extra", statement_id)], (
        "our deliveries say the PMS holds the voided statement's event, and the run said nothing",
        run.counts,
    )


@pytest.mark.parametrize("mode", ["delete", "pseudonymise"])
def test_the_marketplace_record_of_a_voided_statement_kept_past_the_cutoff_is_extra_and_repaired(
    market_target, django_capture_on_commit_callbacks, mode
):
    """The marketplace's record evidenced by the statement alone is owed its revocation, as the
    PMS's event is owed its retraction."""
    capture = django_capture_on_commit_callbacks
    [statement_id] = store_now(capture, scored_completion(0.9))
    assert list(market_target.skills()) == [SKILL]
    market_target.enqueue(status(400))  # the marketplace refuses the revocation: it dies
    store_now(capture, voiding(statement_id))
    assert Delivery.objects.get(kind=RETRACT).status == Delivery.DEAD and list(market_target.skills()) == [
        SKILL
    ]
    aged = max(Statement.objects.values_list("stored", flat=True)) + timedelta(days=31)
    apply_retention(policy=Policy(statement_days=30, mode=mode, attempt_body_days=0), now=aged)
    assert Statement.objects.get(statement_id=statement_id).voided  # still held

    run = reconcile_now(capture, "market", repair=True)
    assert [(m["kind"], m["key"]) for m in run.mismatches] == [("extra", "/".join(SKILL))], (
        "the marketplace holds the record of a voided statement the LRS still holds, and the run "
        "said nothing",
        run.counts,
    )
    assert market_target.skills() == {}
    again = reconcile_now(capture, "market")
    assert (again.counts["extra"], again.mismatches) == (0, [])
