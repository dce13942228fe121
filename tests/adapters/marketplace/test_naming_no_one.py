"""A delivery run again (a forced backfill) after its learner's address was unlinked: the
statement names no one now, so it evidences no one's skill (adapters/marketplace/adapter.py): the
former member's record is recomputed without it and the delivery waits held, as one made now
would, until the address is linked again."""

from __future__ import annotations

import pytest

from adapters.delivery.replay import backfill
from adapters.identity.links import Identifiers, identity_links_remove, identity_links_upsert
from adapters.models import Delivery, SkillEvidence, Target
from tests.adapters.helpers import scored_completion, store_now

pytestmark = pytest.mark.django_db
OTHER = Identifiers(emails=["other@example.com"])


def test_a_delivery_run_again_after_an_unlink_takes_its_evidence_out_and_is_held(
    market_target, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    identity_links_upsert(employee_id="E100", identifiers=OTHER)
    store_now(capture, scored_completion(0.6, timestamp="2026-03-01T10:00:00Z"))
    [unlinked] = store_now(
        capture, scored_completion(0.95, email="other@example.com", timestamp="2026-03-10T10:00:00Z")
    )
    assert market_target.skills()[("E100", "SAFETY-BASICS")]["level"] == 5
    identity_links_remove(employee_id="E100", identifiers=OTHER)
    with capture(execute=True):
        backfill(target=Target.objects.get(name="market"), force=True)
    held = market_target.skills()[("E100", "SAFETY-BASICS")]
    assert held["level"] == 3  # the March 1 statement's, alone
    assert unlinked not in {item["statementId"] for item in held["evidence"]}
    assert not SkillEvidence.objects.filter(statement_uuid=unlinked).exists()
    assert Delivery.objects.get(statement_uuid=unlinked, kind="deliver").status == Delivery.HELD
