"""A webhook cannot be read back: its reconciliation compares what should have reached it with
what our deliveries say did, and says so (``read_back`` false, ``found`` not counted). A voided
statement whose delivery was made and whose retraction never landed is extra, at a target that
retracts."""

from __future__ import annotations

from datetime import timedelta

import pytest
import responses
from django.utils import timezone

from adapters.models import Delivery, Target
from adapters.reconciliation.run import reconcile
from lrs.statements.store import statement_store
from tests.adapters.helpers import reconcile_now, scored_completion, store_now, voiding
from tests.conftest import HOOK, make_statement

pytestmark = pytest.mark.django_db


@responses.activate
def test_undelivered_statements_are_missing_and_lower_the_success_rate(
    hook_target, django_capture_on_commit_callbacks
):
    responses.post(HOOK, status=200)
    delivered = store_now(django_capture_on_commit_callbacks, make_statement(), make_statement())
    responses.replace(responses.POST, HOOK, status=422)  # rejected for good: a dead letter
    [dead] = store_now(django_capture_on_commit_callbacks, make_statement())
    assert Delivery.objects.get(statement_uuid=dead).status == Delivery.DEAD
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        run = reconcile(target=hook_target, since=now - timedelta(hours=1), until=now + timedelta(minutes=1))
    assert not run.read_back
    assert {k: run.counts[k] for k in ("expected", "delivered", "missing", "extra", "found")} == {
        "expected": 3,
        "delivered": 2,
        "missing": 1,
        "extra": 0,
        "found": 0,
    }
    assert run.success_percent == pytest.approx(66.667) and run.drift_percent == pytest.approx(33.333)
    assert [(m["kind"], m["key"]) for m in run.mismatches] == [("missing", dead)]
    assert set(delivered).isdisjoint(m["key"] for m in run.mismatches)
    assert run.buckets[0]["delivered"] == 2 and run.buckets[0]["match"] is False

    responses.replace(responses.POST, HOOK, status=200)
    with django_capture_on_commit_callbacks(execute=True):
        repaired = reconcile(
            target=hook_target, since=now - timedelta(hours=1), until=now + timedelta(minutes=1), repair=True
        )
    assert repaired.counts["repaired"] == 1
    assert Delivery.objects.get(statement_uuid=dead).status == Delivery.DELIVERED


def test_without_read_back_a_void_whose_retraction_never_landed_is_extra(
    pms_target, django_capture_on_commit_callbacks
):
    target = Target.objects.get(name="pms")
    target.config = {**target.config, "retraction": "event"}  # a PMS keeping history: no read-back
    target.save()
    [first] = store_now(django_capture_on_commit_callbacks, scored_completion(0.95))
    assert len(pms_target.events()) == 1
    with django_capture_on_commit_callbacks(execute=False):  # the retraction is never sent
        statement_store(statements=[voiding(first)], credential=None)
    run = reconcile_now(django_capture_on_commit_callbacks, "pms")
    assert not run.read_back
    # Our own deliveries say the PMS still holds the completion of a voided statement.
    assert run.counts["extra"] == 1 and run.drift_percent == 100.0, (run.counts, run.drift_percent)
    # The repair sends the retraction (here a retraction event) and the next run is in sync.
    repaired = reconcile_now(django_capture_on_commit_callbacks, "pms", repair=True)
    assert repaired.counts["repaired"] == 1
    assert [event["eventType"] for event in pms_target.events().values()].count("retraction") == 1
    assert reconcile_now(django_capture_on_commit_callbacks, "pms").counts["extra"] == 0


def test_without_read_back_a_target_that_never_retracts_reports_no_voided_statement_extra(
    slack_target, django_capture_on_commit_callbacks
):
    """Slack keeps its announcement of a voided statement by design (README): not drift."""
    [first] = store_now(django_capture_on_commit_callbacks, scored_completion(0.95))
    store_now(django_capture_on_commit_callbacks, voiding(first))
    assert reconcile_now(django_capture_on_commit_callbacks, "slack").counts["extra"] == 0


def test_without_read_back_a_retraction_cancelled_on_purpose_is_not_extra(
    pms_target, django_capture_on_commit_callbacks
):
    """An admin cancelled it (or an erasure did): not owed, as a cancelled delivery is not
    expected; counting it would leave drift no repair can clear."""
    target = Target.objects.get(name="pms")
    target.config = {**target.config, "retraction": "event"}
    target.save()
    [first] = store_now(django_capture_on_commit_callbacks, scored_completion(0.95))
    with django_capture_on_commit_callbacks(execute=False):
        statement_store(statements=[voiding(first)], credential=None)
    Delivery.objects.filter(kind="retract").update(status=Delivery.CANCELLED, last_error="by admin")
    repaired = reconcile_now(django_capture_on_commit_callbacks, "pms", repair=True)
    after = reconcile_now(django_capture_on_commit_callbacks, "pms")
    assert after.counts["extra"] == 0, (repaired.counts, after.counts)
