"""Reconciling the marketplace after a learner's address was unlinked or their employee marked as
left before the statement: the statement names no one now. The PMS then holds no event of it (its
contract: one event per live statement whose actor maps to an employee, and none for any other;
its reconciliation finds the event extra and the repair retracts it). The marketplace holds the
same: no evidence of it, so the former member's record is recomputed without it (deleted when no
evidence is left), and the statement's delivery waits held, as one made now would, until the
learner is linked again."""

from __future__ import annotations

from datetime import date

import pytest

from adapters.identity.links import Identifiers, identity_links_remove, identity_links_upsert
from adapters.models import Delivery, Employee, SkillEvidence
from tests.adapters.helpers import reconcile_now, scored_completion, store_now

pytestmark = pytest.mark.django_db
CODE = "SAFETY-BASICS"
LEARNER = Identifiers(emails=["learner@example.com"])


def _unlinked() -> None:
    identity_links_remove(employee_id="E100", identifiers=LEARNER)


def test_after_an_unlink_the_marketplace_repair_takes_the_evidence_out_as_the_pms_repair_retracts(
    market_target, pms_target, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    store_now(capture, scored_completion(0.95))
    assert set(market_target.skills()) == {("E100", CODE)} and len(pms_target.events()) == 1
    _unlinked()
    pms = reconcile_now(capture, "pms", repair=True)
    market = reconcile_now(capture, "market", repair=True)
    assert [m["kind"] for m in pms.mismatches] == ["extra"]
    assert [(m["kind"], m["key"]) for m in market.mismatches] == [("extra", f"E100/{CODE}")]
    assert pms_target.events() == {}
    assert market_target.skills() == {}  # both targets agree: nothing of the statement
    assert not SkillEvidence.objects.exists()
    assert Delivery.objects.get(target__name="market", kind="deliver").status == Delivery.HELD
    for name in ("pms", "market"):
        after = reconcile_now(capture, name)
        assert after.drift_percent == 0.0, (name, after.mismatches)


def test_a_statement_from_after_a_backdated_leaving_date_is_taken_out_of_the_record_and_the_rest_kept(
    market_target, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    store_now(capture, scored_completion(0.6, timestamp="2026-03-01T10:00:00Z"))
    store_now(capture, scored_completion(0.95, timestamp="2026-03-10T10:00:00Z"))
    assert market_target.skills()[("E100", CODE)]["level"] == 5
    Employee.objects.create(employee_id="E100", status=Employee.TERMINATED, terminated_on=date(2026, 3, 5))
    market = reconcile_now(capture, "market", repair=True)
    assert [(m["kind"], m["key"]) for m in market.mismatches] == [("different", f"E100/{CODE}")]
    held = market_target.skills()[("E100", CODE)]
    assert (held["level"], len(held["evidence"])) == (3, 1)  # the March 1 statement alone
    assert reconcile_now(capture, "market").drift_percent == 0.0


def test_linked_again_the_held_delivery_puts_the_evidence_back(
    market_target, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    store_now(capture, scored_completion(0.95))
    _unlinked()
    reconcile_now(capture, "market", repair=True)
    assert market_target.skills() == {}
    with capture(execute=True):
        identity_links_upsert(employee_id="E200", identifiers=LEARNER)
    assert Delivery.objects.get(kind="deliver").status == Delivery.DELIVERED
    assert set(market_target.skills()) == {("E200", CODE)}
    assert reconcile_now(capture, "market").drift_percent == 0.0
