"""A target holds nothing from before it existed, unless a backfill gave it older statements
(``run.expected_since``). A backfill of a recent range (a replay after an outage) gives it nothing
older than the target: the statements stored between the target's creation and that backfill's
start were sent live, and a run over them still judges them."""

from __future__ import annotations

import pytest
from django.utils import timezone

from adapters.delivery.replay import backfill
from adapters.models import Target
from tests.adapters.helpers import reconcile_now, scored_completion, store_now

pytestmark = pytest.mark.django_db


def test_a_backfill_of_a_later_range_does_not_hide_what_was_sent_live_before_it(
    pms_target, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    [statement_id] = store_now(capture, scored_completion(0.9))
    [event] = pms_target.events().values()
    pms_target.drop_event(event["id"])  # the PMS lost it
    with capture(execute=True):
        backfill(target=Target.objects.get(name="pms"), since=timezone.now())  # a later range

    run = reconcile_now(capture, "pms")

    assert [(m["kind"], m["key"]) for m in run.mismatches] == [("missing", statement_id)], (
        "the run's window started at the backfill's start, past the statement sent live before it",
        run.since,
        run.counts,
    )
