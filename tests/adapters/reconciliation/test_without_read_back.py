"""A webhook cannot be read back: its reconciliation compares what should have reached it with
what our deliveries say did, and says so (``read_back`` false, ``found`` not counted)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import responses
from django.utils import timezone

from adapters.models import Delivery
from adapters.reconciliation.run import reconcile
from tests.adapters.helpers import store_now
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
