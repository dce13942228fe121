"""Reconciliation against the fake PMS, which can be read back: what it lost (a 201 for an event it
did not keep), what it kept although we retracted it, and what was changed there, each found by
statement id and repaired through the delivery path (adapters/reconciliation/)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from adapters.models import Delivery, ReconciliationRun, Target
from adapters.reconciliation.run import reconcile
from tests.adapters.helpers import COURSE, store_now, voiding
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db


def completion(email: str = "learner@example.com") -> dict:
    return make_statement(
        actor_email=email, activity=COURSE, result={"completion": True, "score": {"scaled": 0.9}}
    )


def window() -> dict:
    now = timezone.now()
    return {"since": now - timedelta(hours=1), "until": now + timedelta(minutes=1)}


def run_now(capture, *, repair: bool = False) -> ReconciliationRun:
    with capture(execute=True):  # repairs are queued after commit and, here, drained eagerly
        return reconcile(target=Target.objects.get(name="pms"), repair=repair, **window())


def test_events_the_pms_lost_are_named_repaired_once_and_then_nothing_is_sent(
    pms_target, django_capture_on_commit_callbacks
):
    pms_target.lose_every(33)
    stored = store_now(django_capture_on_commit_callbacks, *[completion() for _ in range(100)])
    lost = pms_target.lost_statement_ids()
    assert len(lost) == 3 and len(pms_target.events()) == 97

    found = run_now(django_capture_on_commit_callbacks)
    assert found.read_back and found.counts["expected"] == 100 and found.counts["found"] == 97
    assert found.counts["delivered"] == 100  # our deliveries say all arrived: only read-back shows it
    assert (found.counts["missing"], found.counts["extra"], found.counts["different"]) == (3, 0, 0)
    assert found.drift_percent == 3.0 and found.success_percent == 100.0
    assert sorted(m["key"] for m in found.mismatches) == sorted(lost)
    assert {m["kind"] for m in found.mismatches} == {"missing"}
    assert set(lost) <= set(stored)

    pms_target.lose_every(0)
    repaired = run_now(django_capture_on_commit_callbacks, repair=True)
    assert repaired.counts["repaired"] == 3
    assert {event["statementId"] for event in pms_target.events().values()} == set(stored)

    again = run_now(django_capture_on_commit_callbacks)
    assert again.drift_percent == 0.0 and again.mismatches == [] and again.counts["found"] == 100
    requests_before = len(pms_target.requests)
    third = run_now(django_capture_on_commit_callbacks, repair=True)
    assert third.counts["repaired"] == 0
    assert [r.route for r in pms_target.requests[requests_before:]] == ["learning-events.list"]


def test_an_event_whose_retraction_the_pms_lost_is_extra_and_retracted_again(
    pms_target, django_capture_on_commit_callbacks
):
    kept, voided = store_now(django_capture_on_commit_callbacks, completion(), completion())
    pms_target.lose_next_retractions(1)
    store_now(django_capture_on_commit_callbacks, voiding(voided))
    assert Delivery.objects.get(kind="retract").status == Delivery.DELIVERED  # the PMS said 204
    assert len(pms_target.events()) == 2

    found = run_now(django_capture_on_commit_callbacks, repair=True)
    assert (found.counts["missing"], found.counts["extra"]) == (0, 1)
    assert [(m["kind"], m["key"]) for m in found.mismatches] == [("extra", voided)]
    assert found.counts["repaired"] == 1
    assert [event["statementId"] for event in pms_target.events().values()] == [kept]
    assert run_now(django_capture_on_commit_callbacks).drift_percent == 0.0


def test_an_event_changed_at_the_pms_is_different_with_both_versions(
    pms_target, django_capture_on_commit_callbacks
):
    [statement_id] = store_now(django_capture_on_commit_callbacks, completion())
    pms_target.alter_event(statement_id, score=10.0)
    found = run_now(django_capture_on_commit_callbacks)
    [mismatch] = found.mismatches
    assert (mismatch["kind"], mismatch["key"]) == ("different", statement_id)
    assert (mismatch["expected"]["score"], mismatch["found"]["score"]) == (90.0, 10.0)
    assert found.counts["different"] == 1 and found.drift_percent == 100.0

    repaired = run_now(django_capture_on_commit_callbacks, repair=True)
    assert repaired.counts["repaired"] == 1
    # The altered event was replaced: exactly one event for the statement, with the right score.
    [event] = [e for e in pms_target.events().values() if e["statementId"] == statement_id]
    assert event["score"] == 90.0 and len(pms_target.events()) == 1
    assert run_now(django_capture_on_commit_callbacks).drift_percent == 0.0


def test_a_learner_without_an_identity_link_is_held_not_missing(
    pms_target, django_capture_on_commit_callbacks
):
    store_now(django_capture_on_commit_callbacks, completion(), completion("nobody@example.com"))
    found = run_now(django_capture_on_commit_callbacks)
    assert (found.counts["expected"], found.counts["held"], found.counts["missing"]) == (1, 1, 0)
    assert found.drift_percent == 0.0


def test_days_that_match_are_compared_by_count_and_hash_only(pms_target, django_capture_on_commit_callbacks):
    store_now(django_capture_on_commit_callbacks, *[completion() for _ in range(5)])
    found = run_now(django_capture_on_commit_callbacks)
    [bucket] = found.buckets
    assert bucket == {"day": timezone.now().date().isoformat(), "expected": 5, "found": 5, "match": True}
    # One read-back pass and no drill-down: the list was asked for once.
    assert [r.route for r in pms_target.requests].count("learning-events.list") == 1


def test_an_event_the_pms_holds_twice_is_extra_and_replaced_by_one(
    pms_target, django_capture_on_commit_callbacks
):
    [statement_id] = store_now(django_capture_on_commit_callbacks, completion())
    pms_target.duplicate_event(statement_id)
    found = run_now(django_capture_on_commit_callbacks, repair=True)
    assert [(m["kind"], m["key"]) for m in found.mismatches] == [("extra", statement_id)]
    assert found.counts["repaired"] == 1
    assert [e["statementId"] for e in pms_target.events().values()] == [statement_id]
    assert run_now(django_capture_on_commit_callbacks).drift_percent == 0.0


def test_alerts_only_targets_and_statements_from_before_a_target_are_not_reconciled(
    pms_target, django_capture_on_commit_callbacks, slack_target
):
    from adapters.reconciliation.run import NotReconcilable

    Target.objects.filter(name="slack").update(receives=Target.RECEIVES_ALERTS)
    with pytest.raises(NotReconcilable):
        reconcile(target=Target.objects.get(name="slack"), **window())
    target = Target.objects.get(name="pms")
    Target.objects.filter(pk=target.pk).update(enabled=False)
    store_now(django_capture_on_commit_callbacks, completion())  # before the new target existed
    Target.objects.filter(pk=target.pk).update(enabled=True, created_at=timezone.now())
    assert run_now(django_capture_on_commit_callbacks).counts["expected"] == 0
