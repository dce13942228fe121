"""A marketplace record resting on evidence retention deleted stands, unjudged, "until a later
delivery of the member's recomputes it" (adapters/marketplace/reconcile.py); a void of its last
live evidence is such a delivery (its retraction recomputes the record from what is left: nothing,
so the record goes). While that retraction is owed (dead: the marketplace refused it), the record
the marketplace holds is not the one it should: judged, as one a statement's delivery is owed to
("moving") is, and repaired by running that retraction again."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.base import RETRACT
from adapters.models import Delivery, SkillRecord
from adapters.privacy.retention import Policy, apply_retention
from lrs.statements.models import Statement
from tests.adapters.helpers import reconcile_now, scored_completion, store_now, voiding
from tests.targets.behaviours import status

pytestmark = pytest.mark.django_db
SKILL = ("E100", "SAFETY-BASICS")


def test_an_aged_out_record_whose_last_live_evidence_was_voided_is_judged_and_revoked(
    market_target, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    store_now(capture, scored_completion(0.95))  # level 5: retention deletes it
    [new] = store_now(capture, scored_completion(0.55))
    cutoff = Statement.objects.get(statement_id=new).stored
    apply_retention(policy=Policy(statement_days=30, attempt_body_days=0), now=cutoff + timedelta(days=30))
    assert SkillRecord.objects.get(member_id="E100").evidence_aged_out
    market_target.enqueue(status(400))  # the marketplace refuses the revocation: it dies
    store_now(capture, voiding(new))
    assert Delivery.objects.get(kind=RETRACT).status == Delivery.DEAD
    assert market_target.skills()[SKILL]["level"] == 5

    run = reconcile_now(capture, "market", repair=True)

    assert [(m["kind"], m["key"]) for m in run.mismatches] == [("extra", "/".join(SKILL))], (
        "the record of a member with no live evidence left, owed its revocation, was counted aged out",
        run.counts,
    )
    assert market_target.skills() == {}
    again = reconcile_now(capture, "market")
    assert (again.mismatches, again.counts["aged_out"]) == ([], 0)
