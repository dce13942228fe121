"""Reconciling the marketplace record by record: a skill record changed at the marketplace by hand
shows as different (both versions), a record the marketplace lost as missing; a repair writes the
record the evidence gives again, under a key of its own, and the next run matches."""

from __future__ import annotations

import pytest

from tests.adapters.helpers import reconcile_now, scored_completion, store_now

pytestmark = pytest.mark.django_db
SKILL = ("E100", "SAFETY-BASICS")


def test_a_record_changed_at_the_marketplace_is_different_and_a_repair_restores_it(
    market_target, django_capture_on_commit_callbacks
):
    store_now(django_capture_on_commit_callbacks, scored_completion(0.95), scored_completion(0.6))
    right = market_target.skills()[SKILL]
    assert right["level"] == 5

    clean = reconcile_now(django_capture_on_commit_callbacks, "market")
    assert clean.read_back and clean.drift_percent == 0.0
    assert (clean.counts["expected"], clean.counts["found"]) == (1, 1)

    market_target.alter_skill(*SKILL, level=1)
    found = reconcile_now(django_capture_on_commit_callbacks, "market", repair=True)
    [mismatch] = found.mismatches
    assert (mismatch["kind"], mismatch["key"]) == ("different", "E100/SAFETY-BASICS")
    assert (mismatch["expected"]["level"], mismatch["found"]["level"]) == (5, 1)
    assert found.drift_percent == 100.0 and found.counts["repaired"] == 1
    assert market_target.skills()[SKILL] == right

    again = reconcile_now(django_capture_on_commit_callbacks, "market", repair=True)
    assert again.drift_percent == 0.0 and again.counts["repaired"] == 0


def test_a_record_the_marketplace_lost_is_missing_and_written_again(
    market_target, django_capture_on_commit_callbacks
):
    store_now(django_capture_on_commit_callbacks, scored_completion(0.8))
    right = market_target.skills()[SKILL]
    market_target.reset_state()  # the marketplace lost everything
    found = reconcile_now(django_capture_on_commit_callbacks, "market", repair=True)
    assert [(m["kind"], m["key"]) for m in found.mismatches] == [("missing", "E100/SAFETY-BASICS")]
    assert market_target.skills()[SKILL] == right
    assert reconcile_now(django_capture_on_commit_callbacks, "market").drift_percent == 0.0


def test_a_statement_its_mapping_awarded_nothing_stands_as_last_evaluated_until_a_backfill(
    market_target, django_capture_on_commit_callbacks
):
    # Delivered while the mapping awarded the course nothing; then the course is mapped, with no
    # forced backfill: as a statement that recorded evidence keeps the level its mapping gave, this
    # one keeps the nothing its mapping gave (the adapter's contract: the mapping the delivery
    # last applied), so the marketplace holding nothing for it is no drift.
    from adapters.models import CompetencyMapping

    mapped = CompetencyMapping.objects.get(is_active=True)
    CompetencyMapping.objects.filter(pk=mapped.pk).update(rules=[])
    store_now(django_capture_on_commit_callbacks, scored_completion(0.8))
    assert market_target.skills() == {}
    CompetencyMapping.objects.filter(pk=mapped.pk).update(version="2026.2", rules=mapped.rules)
    run = reconcile_now(django_capture_on_commit_callbacks, "market")
    assert run.drift_percent in (0.0, None) and run.mismatches == [], run.mismatches
    from adapters.delivery.replay import backfill
    from adapters.models import Target

    with django_capture_on_commit_callbacks(execute=True):
        backfill(target=Target.objects.get(name="market"), force=True)
    assert market_target.skills()[SKILL]["mappingVersion"] == "2026.2"
    assert reconcile_now(django_capture_on_commit_callbacks, "market").mismatches == []
