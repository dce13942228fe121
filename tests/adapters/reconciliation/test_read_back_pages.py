"""The PMS's event list comes a page at a time (``GET .../learning-events?cursor=&limit=``) and is
placed in chunks (``run.LOOKUP_CHUNK``): with pages and chunks smaller than what the PMS holds,
a run finds exactly what is lost, doubled and changed, wherever it falls, and nothing else; its
repair mends them and the next run is clean."""

from __future__ import annotations

import pytest

from tests.adapters.helpers import reconcile_now, scored_completion, store_now

pytestmark = pytest.mark.django_db


def test_a_run_over_many_pages_finds_exactly_what_is_wrong_and_its_repair_mends_it(
    pms_target, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr("adapters.pms.adapter.READ_BACK_PAGE", 3)
    monkeypatch.setattr("adapters.reconciliation.run.LOOKUP_CHUNK", 2)
    monkeypatch.setattr("adapters.reconciliation.drill.CHUNK", 2)
    capture = django_capture_on_commit_callbacks
    stored = store_now(capture, *[scored_completion(0.5 + i / 40) for i in range(11)])
    events = {event["statementId"]: event["id"] for event in pms_target.events().values()}
    pms_target.drop_event(events[stored[0]])  # the first page's
    pms_target.duplicate_event(stored[5])  # a middle page's
    pms_target.alter_event(stored[10], score=1.0)  # the last page's

    run = reconcile_now(capture, "pms", repair=True)

    assert sorted((m["kind"], m["key"]) for m in run.mismatches) == sorted(
        [("missing", stored[0]), ("extra", stored[5]), ("different", stored[10])]
    ), run.counts
    assert run.counts["found"] == 11  # 10 held once, one twice, one lost
    assert sorted(event["statementId"] for event in pms_target.events().values()) == sorted(stored)
    again = reconcile_now(capture, "pms")
    assert (again.mismatches, again.counts["found"]) == ([], 11)
