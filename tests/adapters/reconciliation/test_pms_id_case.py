"""A PMS may answer statement ids in capitals (UUIDs are case-blind; the PMS adapter's look-up by
statement already compares them so: ``PMSAdapter._events_of``). Its read-back must be placed by the
statement the id names, whatever its case: else each such event is reported twice, missing (the
statement's) and extra (an unknown id's), and a repair replaces an event that was right, run after
run, without the drift ever going."""

from __future__ import annotations

import pytest

from tests.adapters.helpers import reconcile_now, scored_completion, store_now

pytestmark = pytest.mark.django_db


def test_an_event_the_pms_names_in_capitals_is_its_statements_and_no_drift(
    pms_target, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    [statement_id] = store_now(capture, scored_completion(0.9))
    pms_target.alter_event(statement_id, statementId=statement_id.upper())  # as the PMS keeps it

    run = reconcile_now(capture, "pms", repair=True)

    assert [(m["kind"], m["key"]) for m in run.mismatches] == [], (
        "the PMS holds the statement's event, named in capitals: reported missing and extra",
        run.counts,
    )
    assert (run.counts["found"], run.counts["repaired"], run.drift_percent) == (1, 0, 0.0)
    assert [event["statementId"] for event in pms_target.events().values()] == [statement_id.upper()]
