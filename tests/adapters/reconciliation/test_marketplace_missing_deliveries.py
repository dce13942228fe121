"""Reconciling the marketplace when a statement's delivery never ran (a lost broker message, a dead
worker): no evidence was ever recorded for it, yet the live statement the target's filter takes
gives its member a skill, so the record it should give is missing (or different, when the member's
record exists without it), as the PMS's run sees the statement missing; a repair delivers it (the
delivery created if there is none) and converges. A statement held for a good reason (an unmapped
learner) is not counted."""

from __future__ import annotations

import pytest

from adapters.models import Delivery, SkillEvidence
from lrs.statements.store import statement_store
from tests.adapters.helpers import expand_outbox, reconcile_now, scored_completion, store_now

pytestmark = pytest.mark.django_db
SKILL = ("E100", "SAFETY-BASICS")
KEY = "E100/SAFETY-BASICS"


def stored_without_fan_out(capture, *statements: dict) -> list[str]:
    """Stored and committed, but the fan-out never runs (its after-commit dispatch is lost)."""
    with capture(execute=False):
        return statement_store(statements=list(statements), credential=None)


def test_a_completion_whose_delivery_never_ran_is_a_missing_skill_and_a_repair_delivers_it(
    market_target, pms_target, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    [lost] = stored_without_fan_out(capture, scored_completion(0.95))
    assert not Delivery.objects.exists() and market_target.skills() == {}
    pms = reconcile_now(capture, "pms")
    assert [(m["kind"], m["key"]) for m in pms.mismatches] == [("missing", lost)]

    found = reconcile_now(capture, "market", repair=True)
    assert found.counts["expected"] == 1 and found.drift_percent == 100.0, found.counts
    assert [(m["kind"], m["key"]) for m in found.mismatches] == [("missing", KEY)]
    assert found.counts["repaired"] == 1
    assert market_target.skills()[SKILL]["level"] == 5
    assert Delivery.objects.get(target__name="market").status == Delivery.DELIVERED

    again = reconcile_now(capture, "market", repair=True)
    assert again.drift_percent == 0.0 and again.counts["repaired"] == 0, again.mismatches
    assert SkillEvidence.objects.count() == 1


def test_a_pending_delivery_that_never_ran_makes_the_held_record_different_and_is_run_by_the_repair(
    market_target, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    store_now(capture, scored_completion(0.6))  # delivered: level 3
    assert market_target.skills()[SKILL]["level"] == 3
    stored_without_fan_out(capture, scored_completion(0.95))
    expand_outbox()  # its delivery exists, pending, but no worker ever takes it

    found = reconcile_now(capture, "market", repair=True)
    [mismatch] = found.mismatches
    assert (mismatch["kind"], mismatch["key"]) == ("different", KEY)
    assert (mismatch["expected"]["level"], mismatch["found"]["level"]) == (5, 3)
    assert found.counts["repaired"] == 1
    assert market_target.skills()[SKILL]["level"] == 5
    assert reconcile_now(capture, "market").drift_percent == 0.0


def test_an_undelivered_statement_of_an_unmapped_learner_is_not_counted(
    market_target, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    stored_without_fan_out(capture, scored_completion(0.95, email="new.hire@example.com"))
    found = reconcile_now(capture, "market", repair=True)
    assert found.counts["expected"] == 0 and found.mismatches == [] and found.counts["repaired"] == 0
    assert not Delivery.objects.exists()
