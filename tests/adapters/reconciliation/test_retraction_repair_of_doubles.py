"""A repair retracting what the target should not hold at all takes every copy of it away at once
(adapters/reconciliation/repair.py: "A repaired target matches on the next run"): a PMS holding
an event twice of a statement whose learner names no one now, or that the filter no longer
takes, is left with none after one repair, whether the statement had a retraction before or not."""

from __future__ import annotations

import pytest

from adapters.identity.hris import HrisRow, hris_import
from adapters.identity.links import Identifiers
from tests.adapters.helpers import reconcile_now, scored_completion, store_now

pytestmark = pytest.mark.django_db


def test_one_repair_retracts_both_copies_of_an_event_the_pms_should_not_hold(
    pms_target, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    hris_import([HrisRow(1, "E1", Identifiers(emails=["ann@example.com"]), "active", None)])
    [statement_id] = store_now(capture, scored_completion(0.8, email="ann@example.com"))
    pms_target.duplicate_event(statement_id)  # the PMS made it twice
    hris_import([HrisRow(1, "E1", Identifiers(), "active", None)])  # the feed no longer lists it

    repaired = reconcile_now(capture, "pms", repair=True)
    assert [(m["kind"], m["key"]) for m in repaired.mismatches] == [("extra", statement_id)]

    assert pms_target.events() == {}, "one repair retracted one copy: the PMS still holds the other"
    assert reconcile_now(capture, "pms").mismatches == []
