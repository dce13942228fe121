"""A corrected competency mapping re-evaluated by a forced backfill: a competency the statement no
longer evidences is recomputed without it, even when that write fails and is retried (the
adapter's contract, adapters/marketplace/adapter.py: the record is a function of the live
evidence under the mapping the delivery last applied)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from adapters.delivery.drain import delivery_send
from adapters.delivery.replay import backfill
from adapters.models import CompetencyMapping, Delivery, SkillEvidence, Target
from tests.adapters.helpers import COURSE, scored_completion, store_now
from tests.targets.behaviours import applied_then, status

pytestmark = pytest.mark.django_db

TWO_CODES = [{"activity_id": COURSE, "codes": ["FIRST-AID", "SAFETY-BASICS"], "level": {"fixed": 3}}]
ONE_CODE = [{"activity_id": COURSE, "codes": ["SAFETY-BASICS"], "level": {"fixed": 2}}]


def retry_due(delivery: Delivery) -> None:
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    Target.objects.update(paused_until=None, consecutive_failures=0)
    delivery_send(delivery.pk)


@pytest.fixture
def two_records(market_target, django_capture_on_commit_callbacks):
    """A completion evidencing FIRST-AID and SAFETY-BASICS, both held by the marketplace; then the
    mapping is corrected to SAFETY-BASICS alone."""
    CompetencyMapping.objects.filter(is_active=True).update(version="2026.1", rules=TWO_CODES)
    store_now(django_capture_on_commit_callbacks, scored_completion(0.8))
    assert set(market_target.skills()) == {("E100", "FIRST-AID"), ("E100", "SAFETY-BASICS")}
    CompetencyMapping.objects.filter(is_active=True).update(version="2026.2", rules=ONE_CODE)
    return market_target


@pytest.mark.parametrize("failure", [status(503), applied_then(503)], ids=["not-applied", "applied"])
def test_a_dropped_competency_is_deleted_even_when_its_first_delete_fails(
    two_records, failure, django_capture_on_commit_callbacks
):
    # FIRST-AID's DELETE goes first (codes in order) and fails; the retry must still delete it.
    two_records.enqueue(failure)
    with django_capture_on_commit_callbacks(execute=True):
        backfill(target=Target.objects.get(name="market"), force=True)
    delivery = Delivery.objects.get(status=Delivery.RETRYING)
    retry_due(delivery)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.DELIVERED
    assert set(two_records.skills()) == {("E100", "SAFETY-BASICS")}
    assert two_records.skills()[("E100", "SAFETY-BASICS")]["level"] == 2
    # The ledger forgets the dropped competency once its record is gone, not before.
    assert set(SkillEvidence.objects.values_list("competency_code", flat=True)) == {"SAFETY-BASICS"}


def test_a_dropped_competency_s_evidence_stays_while_its_record_is_not_yet_recomputed(
    two_records, django_capture_on_commit_callbacks
):
    two_records.enqueue(status(503))
    with django_capture_on_commit_callbacks(execute=True):
        backfill(target=Target.objects.get(name="market"), force=True)
    # A worker could die here as well as fail: what lets the retry find FIRST-AID is still there.
    codes = set(SkillEvidence.objects.values_list("competency_code", flat=True))
    assert codes == {"FIRST-AID", "SAFETY-BASICS"}
