"""Reconciliation of the PMS and the marketplace after retention. Retention ages statements out
of the LRS, not out of the targets (README "Retention": "A PMS keeps the learning events of
deleted statements", the marketplace "its records until a later statement of the member
recomputes them"; the PMS adapter's docstring: "an event stays after its statement is deleted by
retention"), so what a target keeps of a statement retention removed or pseudonymised is what it
should hold: not a mismatch, and nothing a repair may take away.

Reconciliation reports such records "aged out" (``adapters.reconciliation.expected.AgedOut``;
the marketplace's: ``SkillRecord.evidence_aged_out``), neither drift nor repaired. The PMS's two
were found by tests/adapters/privacy/test_retention_properties.py."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.delivery.outbox import erased_statement_digest
from adapters.models import Delivery, ErasedStatement, SkillRecord
from adapters.privacy.retention import Policy, apply_retention
from lrs.statements.models import Statement
from tests.adapters.helpers import COURSE, reconcile_now, scored_completion, store_now
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db


def completion() -> dict:
    result = {"completion": True, "score": {"scaled": 0.9}}
    return make_statement(actor_email="learner@example.com", activity=COURSE, result=result)


def old_and_new(capture, pms, mode: str) -> tuple[str, str]:
    """Two statements delivered to the PMS; then retention, the clock moved on 30 days past the
    second's stored time, ages out the first (only)."""
    [old] = store_now(capture, completion())
    [new] = store_now(capture, completion())
    assert sorted(event["statementId"] for event in pms.events().values()) == sorted([old, new])
    cutoff = Statement.objects.get(statement_id=new).stored
    policy = Policy(statement_days=30, mode=mode, attempt_body_days=0)
    apply_retention(policy=policy, now=cutoff + timedelta(days=30))
    return old, new


def test_the_pms_event_of_a_statement_retention_deleted_is_no_mismatch(
    pms_target, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    old, _new = old_and_new(capture, pms_target, "delete")
    assert not Statement.objects.filter(statement_id=old).exists()

    run = reconcile_now(capture, "pms")

    assert (run.counts["missing"], run.counts["extra"], run.counts["different"]) == (0, 0, 0), run.mismatches
    assert run.drift_percent == 0.0
    assert run.counts["aged_out"] == 1  # the deleted statement's event: reported, not judged


def test_a_repair_leaves_the_pms_event_of_a_statement_retention_pseudonymised(
    pms_target, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    old, new = old_and_new(capture, pms_target, "pseudonymise")
    assert "learner@example.com" not in Statement.objects.get(statement_id=old).payload

    run = reconcile_now(capture, "pms", repair=True)

    assert sorted(event["statementId"] for event in pms_target.events().values()) == sorted([old, new])
    assert run.counts["extra"] == 0 and run.counts["repaired"] == 0, run.mismatches
    assert run.counts["aged_out"] == 1 and run.counts["expected"] == 1  # the old one: not judged


def test_the_marketplace_record_resting_on_evidence_retention_deleted_is_no_mismatch(
    market_target, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    [_old] = store_now(capture, scored_completion(0.95))  # level 5
    [new] = store_now(capture, scored_completion(0.55))  # level 3
    assert market_target.skills()[("E100", "SAFETY-BASICS")]["level"] == 5
    cutoff = Statement.objects.get(statement_id=new).stored
    apply_retention(policy=Policy(statement_days=30, attempt_body_days=0), now=cutoff + timedelta(days=30))

    run = reconcile_now(capture, "market", repair=True)

    assert run.counts["different"] == 0 and run.counts["repaired"] == 0, run.mismatches
    assert market_target.skills()[("E100", "SAFETY-BASICS")]["level"] == 5
    assert run.counts["aged_out"] == 1


def test_a_later_statement_recomputes_the_aged_out_marketplace_record_and_it_is_judged_again(
    market_target, django_capture_on_commit_callbacks
):
    """The record stands until a later statement of the member recomputes it without the deleted
    evidence (README "Retention"); from then on reconciliation compares it as any other."""
    capture = django_capture_on_commit_callbacks
    [_old] = store_now(capture, scored_completion(0.95))  # level 5
    [new] = store_now(capture, scored_completion(0.55))  # level 3
    cutoff = Statement.objects.get(statement_id=new).stored
    apply_retention(policy=Policy(statement_days=30, attempt_body_days=0), now=cutoff + timedelta(days=30))
    assert SkillRecord.objects.get(member_id="E100").evidence_aged_out

    store_now(capture, scored_completion(0.65))  # recomputed from what is left: level 4
    assert market_target.skills()[("E100", "SAFETY-BASICS")]["level"] < 5
    assert not SkillRecord.objects.get(member_id="E100").evidence_aged_out

    run = reconcile_now(capture, "market")
    assert (run.counts["aged_out"], run.counts["different"], run.counts["missing"]) == (0, 0, 0)


def test_an_aged_out_marketplace_record_the_marketplace_lost_is_still_missing(
    market_target, django_capture_on_commit_callbacks
):
    """Only a record the marketplace holds as last sent is left unjudged: one it lost is drift."""
    capture = django_capture_on_commit_callbacks
    store_now(capture, scored_completion(0.95))
    [new] = store_now(capture, scored_completion(0.55))
    cutoff = Statement.objects.get(statement_id=new).stored
    apply_retention(policy=Policy(statement_days=30, attempt_body_days=0), now=cutoff + timedelta(days=30))
    market_target.reset_state()

    run = reconcile_now(capture, "market")

    assert (run.counts["aged_out"], run.counts["missing"]) == (0, 1), run.mismatches


def test_the_pms_event_of_a_statement_an_erasure_deleted_stays_extra_after_retention(
    pms_target, django_capture_on_commit_callbacks
):
    """Once retention has deleted statements, a PMS event of a statement the LRS does not hold is
    taken for one it aged out; but not one of an id a delete-mode erasure removed: that event is
    owed a retraction (the erasure's), and stays drift."""
    capture = django_capture_on_commit_callbacks
    old_and_new(capture, pms_target, "delete")
    [erased] = store_now(capture, completion())
    ErasedStatement.objects.create(digest=erased_statement_digest(erased))
    Statement.objects.filter(statement_id=erased).delete()  # as the erasure's sweep leaves it

    run = reconcile_now(capture, "pms")

    assert [(m["kind"], m["key"]) for m in run.mismatches] == [("extra", erased)]
    assert run.counts["aged_out"] == 1


def test_without_a_deleting_retention_the_event_of_an_unknown_statement_is_extra(
    pms_target, django_capture_on_commit_callbacks
):
    """A pseudonymising retention deletes no statement: an unknown one's event is a stray record."""
    capture = django_capture_on_commit_callbacks
    old_and_new(capture, pms_target, "pseudonymise")
    [stray] = store_now(capture, completion())
    Delivery.objects.filter(statement__statement_id=stray).delete()
    Statement.objects.filter(statement_id=stray).delete()

    run = reconcile_now(capture, "pms")

    assert [(m["kind"], m["key"]) for m in run.mismatches] == [("extra", stray)]
