"""When a marketplace record stops being "aged out" (``SkillRecord.evidence_aged_out``, set by
retention when it deletes evidence of the record): README "Retention" says the marketplace keeps
the record "until a later statement of the member recomputes" it, and reconciliation does not
judge it before. A delivery that recomputes it without the deleted evidence and finds the record
the marketplace holds already right has recomputed it too; and a statement whose delivery is owed
to the record (it never ran) is the later statement that recomputes it: its repair does what its
delivery would. Neither may leave real drift reported as aged out and never repaired."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.delivery.replay import backfill
from adapters.models import SkillRecord, Target
from adapters.privacy.retention import Policy, apply_retention
from lrs.statements.models import Statement
from lrs.statements.store import statement_store
from tests.adapters.helpers import expand_outbox, reconcile_now, scored_completion, store_now, voiding

pytestmark = pytest.mark.django_db
KEY = ("E100", "SAFETY-BASICS")


def _aged_out_without_effect(capture) -> list[str]:
    """An old level-2 statement, then ten level-3 ones, later: the record (level 3, the ten latest
    as evidence) does not rest on the old one, which retention then deletes. Returns the ten."""
    store_now(capture, scored_completion(0.1, timestamp="2026-01-01T10:00:00Z"))
    ten = [
        store_now(capture, scored_completion(0.55, timestamp=f"2026-02-{day:02d}T10:00:00Z"))[0]
        for day in range(1, 11)
    ]
    cutoff = Statement.objects.get(statement_id=ten[0]).stored
    apply_retention(policy=Policy(statement_days=30, attempt_body_days=0), now=cutoff + timedelta(days=30))
    assert SkillRecord.objects.get(member_id="E100").evidence_aged_out
    return ten


def test_a_delivery_finding_the_recomputed_record_already_held_ends_its_aged_out_state(
    market_target, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    ten = _aged_out_without_effect(capture)
    held = market_target.skills()[KEY]
    with capture(execute=True):
        backfill(target=Target.objects.get(name="market"), force=True)  # recomputes: nothing to send
    assert market_target.skills()[KEY] == held
    assert not SkillRecord.objects.get(member_id="E100").evidence_aged_out
    # So a void whose retraction never ran (a lost broker message) is drift again, and repaired.
    statement_store(statements=[voiding(ten[-1])], credential=None)
    expand_outbox()
    run = reconcile_now(capture, "market", repair=True)
    assert (run.counts["aged_out"], run.counts["different"]) == (0, 1), run.mismatches
    assert ten[-1] not in {item["statementId"] for item in market_target.skills()[KEY]["evidence"]}


def test_a_statement_whose_delivery_never_ran_is_not_hidden_by_an_aged_out_record(
    market_target, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    _aged_out_without_effect(capture)
    [lost] = statement_store(statements=[scored_completion(0.95)], credential=None)
    expand_outbox()  # its delivery is written, and never runs (a lost broker message)
    run = reconcile_now(capture, "market", repair=True)
    assert (run.counts["aged_out"], run.counts["different"]) == (0, 1), run.mismatches
    assert market_target.skills()[KEY]["level"] == 5
    assert lost in {item["statementId"] for item in market_target.skills()[KEY]["evidence"]}


def test_a_write_computed_before_retention_deleted_its_evidence_leaves_the_record_aged_out(
    market_target, django_capture_on_commit_callbacks, monkeypatch
):
    """Retention runs while a delivery of the member is under way: it deletes evidence the delivery
    has already read, and marks the record. The delivery's write, computed with that evidence,
    lands after: the marketplace holds a record resting on deleted evidence, so it must stay aged
    out, not be judged (and lowered by a repair) as drift."""
    from adapters.delivery.drain import delivery_send
    from adapters.marketplace import adapter
    from adapters.models import Delivery

    capture = django_capture_on_commit_callbacks
    store_now(capture, scored_completion(0.95))  # level 5, retention deletes it below
    [new] = statement_store(statements=[scored_completion(0.55)], credential=None)
    expand_outbox()
    read = adapter.statements_keyed_by_pk

    def read_then_retention(pks, **kwargs):
        found = read(pks, **kwargs)
        if len(found) == 2:  # the live evidence of the record, the old statement with it
            monkeypatch.setattr(adapter, "statements_keyed_by_pk", read)
            cutoff = Statement.objects.get(statement_id=new).stored
            policy = Policy(statement_days=30, attempt_body_days=0)
            apply_retention(policy=policy, now=cutoff + timedelta(days=30))
        return found

    monkeypatch.setattr(adapter, "statements_keyed_by_pk", read_then_retention)
    delivery_send(Delivery.objects.get(statement_uuid=new).id)
    assert market_target.skills()[KEY]["level"] == 5  # computed with the deleted evidence
    assert SkillRecord.objects.get(member_id="E100").evidence_aged_out
    run = reconcile_now(capture, "market", repair=True)
    assert (run.counts["aged_out"], run.counts["different"]) == (1, 0), run.mismatches
    assert market_target.skills()[KEY]["level"] == 5


def test_a_write_computed_before_retention_deleted_more_of_an_aged_out_records_evidence_leaves_it_aged_out(
    market_target, django_capture_on_commit_callbacks, monkeypatch
):
    """As above, with the record already aged out when the delivery reads it (an earlier run
    deleted older evidence): that the delivery read the mark does not make its write rest on live
    evidence only. Retention deletes evidence the delivery has read (the mark, already set, does
    not change); the write computed with it lands: it still rests on deleted evidence and must
    stay aged out, not be judged (and lowered by a repair) as drift."""
    from adapters.delivery.drain import delivery_send
    from adapters.marketplace import adapter
    from adapters.models import Delivery

    capture = django_capture_on_commit_callbacks
    policy = Policy(statement_days=30, attempt_body_days=0)
    store_now(capture, scored_completion(0.1, timestamp="2026-01-01T10:00:00Z"))
    [high] = store_now(capture, scored_completion(0.95))  # level 5, retention deletes it below
    apply_retention(policy=policy, now=Statement.objects.get(statement_id=high).stored + timedelta(days=30))
    assert SkillRecord.objects.get(member_id="E100").evidence_aged_out  # the oldest one is gone
    [new] = statement_store(statements=[scored_completion(0.55)], credential=None)
    expand_outbox()
    read = adapter.statements_keyed_by_pk

    def read_then_retention(pks, **kwargs):
        found = read(pks, **kwargs)
        if len(found) == 2:  # the live evidence of the record, the level-5 statement with it
            monkeypatch.setattr(adapter, "statements_keyed_by_pk", read)
            cutoff = Statement.objects.get(statement_id=new).stored
            apply_retention(policy=policy, now=cutoff + timedelta(days=30))
        return found

    monkeypatch.setattr(adapter, "statements_keyed_by_pk", read_then_retention)
    delivery_send(Delivery.objects.get(statement_uuid=new).id)
    assert not Statement.objects.filter(statement_id=high).exists()
    assert market_target.skills()[KEY]["level"] == 5  # computed with the deleted evidence
    assert SkillRecord.objects.get(member_id="E100").evidence_aged_out
    run = reconcile_now(capture, "market", repair=True)
    assert (run.counts["aged_out"], run.counts["different"]) == (1, 0), run.mismatches
    assert market_target.skills()[KEY]["level"] == 5
