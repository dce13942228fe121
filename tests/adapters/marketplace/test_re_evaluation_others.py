"""A corrected competency mapping re-evaluated by a forced backfill whose write of a dropped
competency failed: until the statement's delivery recomputes that record, its evidence for the
competency stays in the ledger (so the retry finds the record), but it no longer counts, for
that delivery nor (marked superseded) for any other delivery recomputing the same record meanwhile.
The record another statement's delivery sends must be what the live evidence under the corrected
mapping gives, not one resting on evidence the mapping no longer awards."""

from __future__ import annotations

import pytest

from adapters.delivery.replay import backfill
from adapters.models import CompetencyMapping, Delivery, Target
from tests.adapters.helpers import COURSE, reconcile_now, scored_completion, store_now
from tests.conftest import make_statement
from tests.targets.behaviours import status

pytestmark = pytest.mark.django_db

FIRST_AID = "https://lms.example.com/courses/first-aid"
BEFORE = [
    {"activity_id": COURSE, "codes": ["FIRST-AID", "SAFETY-BASICS"], "level": {"fixed": 3}},
    {"activity_id": FIRST_AID, "codes": ["FIRST-AID"], "level": {"fixed": 1}},
]
# Corrected: safety-101 never evidenced FIRST-AID.
AFTER = [
    {"activity_id": COURSE, "codes": ["SAFETY-BASICS"], "level": {"fixed": 2}},
    {"activity_id": FIRST_AID, "codes": ["FIRST-AID"], "level": {"fixed": 1}},
]


@pytest.mark.parametrize("failure", [status(503), status(400)], ids=["retrying", "dead"])
def test_another_delivery_does_not_count_evidence_the_corrected_mapping_no_longer_awards(
    market_target, failure, django_capture_on_commit_callbacks
):
    CompetencyMapping.objects.filter(is_active=True).update(version="2026.1", rules=BEFORE)
    (course_id,) = store_now(django_capture_on_commit_callbacks, scored_completion(0.8))
    assert market_target.skills()[("E100", "FIRST-AID")]["level"] == 3
    CompetencyMapping.objects.filter(is_active=True).update(version="2026.2", rules=AFTER)
    # The re-evaluation's DELETE of FIRST-AID fails: its delivery retries later, or gives up.
    market_target.enqueue(failure)
    with django_capture_on_commit_callbacks(execute=True):
        backfill(target=Target.objects.get(name="market"), force=True)
    assert Delivery.objects.filter(statement_uuid=course_id, status=Delivery.DELIVERED).count() == 0
    # Meanwhile the learner completes first aid: its delivery recomputes E100's FIRST-AID.
    first_aid = make_statement(activity=FIRST_AID, result={"completion": True})
    (first_aid_id,) = store_now(django_capture_on_commit_callbacks, first_aid)
    record = market_target.skills()[("E100", "FIRST-AID")]
    assert [item["statementId"] for item in record["evidence"]] == [first_aid_id]
    assert record["level"] == 1
    assert record["mappingVersion"] == "2026.2"


def test_reconciliation_finds_and_repairs_a_dropped_competency_whose_re_evaluation_died(
    market_target, django_capture_on_commit_callbacks
):
    CompetencyMapping.objects.filter(is_active=True).update(version="2026.1", rules=BEFORE)
    store_now(django_capture_on_commit_callbacks, scored_completion(0.8))
    CompetencyMapping.objects.filter(is_active=True).update(version="2026.2", rules=AFTER)
    market_target.enqueue(status(400))  # the re-evaluation's DELETE of FIRST-AID refused: it dies
    with django_capture_on_commit_callbacks(execute=True):
        backfill(target=Target.objects.get(name="market"), force=True)
    assert Delivery.objects.get().status == Delivery.DEAD
    assert ("E100", "FIRST-AID") in market_target.skills()
    run = reconcile_now(django_capture_on_commit_callbacks, "market", repair=True)
    assert run.counts["extra"] + run.counts["different"] >= 1, run.counts
    assert set(market_target.skills()) == {("E100", "SAFETY-BASICS")}
    again = reconcile_now(django_capture_on_commit_callbacks, "market")
    assert again.counts["missing"] == again.counts["extra"] == again.counts["different"] == 0, again.counts
