"""Reconciling the marketplace after a learner's address moved to another employee (a wrong import
corrected): the records the statements give now name the employee the address names now, as the
PMS's do, so a record still held under the former one is a mismatch, and a repair (running the
statement's delivery again) moves it and converges."""

from __future__ import annotations

import pytest

from adapters.identity.links import Identifiers, identity_links_move
from adapters.models import SkillEvidence
from tests.adapters.helpers import reconcile_now, scored_completion, store_now

pytestmark = pytest.mark.django_db
CODE = "SAFETY-BASICS"


def _moved_to_e200() -> None:
    """The learner's address was linked to the wrong employee: moved from E100 to E200."""
    identity_links_move(
        identifiers=Identifiers(emails=["learner@example.com"]),
        from_employee_id="E100",
        to_employee_id="E200",
    )


def test_marketplace_reconciliation_sees_a_moved_identity_like_the_pms_does(
    market_target, pms_target, django_capture_on_commit_callbacks
):
    store_now(django_capture_on_commit_callbacks, scored_completion(0.95))
    assert set(market_target.skills()) == {("E100", CODE)}
    _moved_to_e200()
    pms = reconcile_now(django_capture_on_commit_callbacks, "pms")
    assert [m["kind"] for m in pms.mismatches] == ["different"]  # the PMS run sees it
    market = reconcile_now(django_capture_on_commit_callbacks, "market")
    # The learning records now say the completion is E200's; the marketplace holds it as E100's.
    assert market.drift_percent > 0, (market.counts, market.mismatches, market_target.skills())
    assert sorted((m["kind"], m["key"]) for m in market.mismatches) == [
        ("extra", f"E100/{CODE}"),
        ("missing", f"E200/{CODE}"),
    ]


def test_a_repair_after_a_moved_identity_moves_the_record_to_the_member_named_now(
    market_target, django_capture_on_commit_callbacks
):
    store_now(django_capture_on_commit_callbacks, scored_completion(0.95))
    _moved_to_e200()
    reconcile_now(django_capture_on_commit_callbacks, "market", repair=True)
    assert set(market_target.skills()) == {("E200", CODE)}
    after = reconcile_now(django_capture_on_commit_callbacks, "market")
    assert after.drift_percent == 0.0, after.mismatches
    assert list(SkillEvidence.objects.values_list("member_id", flat=True)) == ["E200"]


def test_marketplace_repair_after_a_moved_identity_converges_without_doubling(
    market_target, django_capture_on_commit_callbacks
):
    store_now(django_capture_on_commit_callbacks, scored_completion(0.95))
    _moved_to_e200()
    market_target.reset_state()  # the marketplace lost its records
    first = reconcile_now(django_capture_on_commit_callbacks, "market", repair=True)
    assert first.counts["repaired"] == 1
    reconcile_now(django_capture_on_commit_callbacks, "market", repair=True)  # nothing left to repair
    third = reconcile_now(django_capture_on_commit_callbacks, "market")
    evidence = sorted(SkillEvidence.objects.values_list("member_id", "competency_code"))
    # One statement, one learner: its evidence is one member's, and the repair converges.
    assert third.drift_percent == 0.0, (evidence, third.mismatches, market_target.skills())
    assert len(evidence) == 1, (evidence, market_target.skills())


def test_a_void_after_a_moved_identity_and_a_repair_retracts_the_skill(
    market_target, django_capture_on_commit_callbacks
):
    from adapters.models import Delivery
    from tests.adapters.helpers import voiding

    [first] = store_now(django_capture_on_commit_callbacks, scored_completion(0.95))
    _moved_to_e200()
    market_target.reset_state()
    reconcile_now(django_capture_on_commit_callbacks, "market", repair=True)
    store_now(django_capture_on_commit_callbacks, voiding(first))
    retraction = Delivery.objects.get(kind="retract")
    assert retraction.status == Delivery.DELIVERED, (retraction.status, retraction.last_error)
    assert market_target.skills() == {}
