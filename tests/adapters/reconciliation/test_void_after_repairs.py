"""A reconciliation repair may take a live statement's effect away (the PMS's event of a statement
whose learner names no one now is extra: its repair retracts it) and a later repair make it again
(the learner linked again: the event is missing, its repair re-sends it). The statement's one
retraction row was spent by the first repair; its void must still retract the event the second
made (adapters/pms/adapter.py: "none for any other statement"), without waiting for a
reconciliation to find it extra."""

from __future__ import annotations

import pytest

from adapters.identity.hris import HrisRow, hris_import
from adapters.identity.links import Identifiers
from tests.adapters.helpers import reconcile_now, scored_completion, store_now, voiding

pytestmark = pytest.mark.django_db
LINKED = HrisRow(1, "E1", Identifiers(emails=["ann@example.com"]), "active", None)
UNLINKED = HrisRow(1, "E1", Identifiers(), "active", None)


def test_a_void_retracts_the_event_a_repair_made_again_after_one_retracted_it(
    pms_target, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    hris_import([LINKED])
    [statement_id] = store_now(capture, scored_completion(0.8, email="ann@example.com"))
    hris_import([UNLINKED])
    taken_away = reconcile_now(capture, "pms", repair=True)
    assert [m["kind"] for m in taken_away.mismatches] == ["extra"] and pms_target.events() == {}
    with capture(execute=True):
        hris_import([LINKED])
    made_again = reconcile_now(capture, "pms", repair=True)
    assert [m["kind"] for m in made_again.mismatches] == ["missing"] and len(pms_target.events()) == 1

    store_now(capture, voiding(statement_id))

    assert pms_target.events() == {}, "the void retracted nothing: its retraction was spent by the repair"
    assert reconcile_now(capture, "pms").mismatches == []
