"""Reconciling the marketplace record by record: a skill record changed at the marketplace by hand
shows as different (both versions), a record the marketplace lost as missing; a repair writes the
record the evidence gives again, under a key of its own, and the next run matches."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from adapters.models import ReconciliationRun, Target
from adapters.reconciliation.run import reconcile
from tests.adapters.helpers import COURSE, store_now
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db
SKILL = ("E100", "SAFETY-BASICS")


def completion(scaled: float) -> dict:
    return make_statement(
        actor_email="learner@example.com",
        activity=COURSE,
        result={"completion": True, "score": {"scaled": scaled}},
    )


def run_now(capture, *, repair: bool = False) -> ReconciliationRun:
    now = timezone.now()
    with capture(execute=True):
        return reconcile(
            target=Target.objects.get(name="market"),
            since=now - timedelta(hours=1),
            until=now + timedelta(minutes=1),
            repair=repair,
        )


def test_a_record_changed_at_the_marketplace_is_different_and_a_repair_restores_it(
    market_target, django_capture_on_commit_callbacks
):
    store_now(django_capture_on_commit_callbacks, completion(0.95), completion(0.6))
    right = market_target.skills()[SKILL]
    assert right["level"] == 5

    clean = run_now(django_capture_on_commit_callbacks)
    assert clean.read_back and clean.drift_percent == 0.0
    assert (clean.counts["expected"], clean.counts["found"]) == (1, 1)

    market_target.alter_skill(*SKILL, level=1)
    found = run_now(django_capture_on_commit_callbacks, repair=True)
    [mismatch] = found.mismatches
    assert (mismatch["kind"], mismatch["key"]) == ("different", "E100/SAFETY-BASICS")
    assert (mismatch["expected"]["level"], mismatch["found"]["level"]) == (5, 1)
    assert found.drift_percent == 100.0 and found.counts["repaired"] == 1
    assert market_target.skills()[SKILL] == right

    again = run_now(django_capture_on_commit_callbacks, repair=True)
    assert again.drift_percent == 0.0 and again.counts["repaired"] == 0


def test_a_record_the_marketplace_lost_is_missing_and_written_again(
    market_target, django_capture_on_commit_callbacks
):
    store_now(django_capture_on_commit_callbacks, completion(0.8))
    right = market_target.skills()[SKILL]
    market_target.reset_state()  # the marketplace lost everything
    found = run_now(django_capture_on_commit_callbacks, repair=True)
    assert [(m["kind"], m["key"]) for m in found.mismatches] == [("missing", "E100/SAFETY-BASICS")]
    assert market_target.skills()[SKILL] == right
    assert run_now(django_capture_on_commit_callbacks).drift_percent == 0.0
