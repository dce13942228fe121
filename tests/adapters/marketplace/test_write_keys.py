"""The Idempotency-Key of a marketplace write: a retry of a write that went unanswered (perhaps
applied) keeps its key, so the marketplace drops it as a repeat; any other write is new, even one
sending a record the marketplace was sent before, so it is never answered by an earlier write's
reply without being applied."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from adapters.delivery.drain import delivery_send
from adapters.delivery.replay import backfill
from adapters.identity.links import Identifiers, identity_links_move
from adapters.models import Delivery, SkillRecord, Target
from lrs.statements.store import statement_store
from tests.adapters.helpers import COURSE, expand_outbox, store_now, voiding
from tests.adapters.marketplace.expected import Evidence, expected_record, held_record
from tests.conftest import make_statement
from tests.targets.behaviours import applied_then, ok, status

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("retries_far_off")]


def _statement(scaled: float, timestamp: str, statement_id: str) -> dict:
    result = {"completion": True, "score": {"scaled": scaled}}
    return make_statement(
        actor_email="learner@example.com",
        activity=COURSE,
        result=result,
        timestamp=timestamp,
        statement_id=statement_id,
    )


def _send(delivery_id: int) -> None:
    Delivery.objects.filter(id=delivery_id).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    Target.objects.update(paused_until=None, consecutive_failures=0)
    delivery_send(delivery_id)


def _delivery(statement_id: str, kind: str = "deliver") -> Delivery:
    return Delivery.objects.get(statement_uuid=statement_id, kind=kind)


def test_a_retry_of_a_write_applied_but_unanswered_keeps_its_key(market_target):
    s1 = str(uuid.uuid4())
    statement_store(statements=[_statement(0.6, "2026-03-01T10:00:00Z", s1)], credential=None)
    expand_outbox()
    market_target.enqueue(applied_then(500))
    _send(_delivery(s1).id)
    assert _delivery(s1).status == Delivery.RETRYING
    _send(_delivery(s1).id)
    assert _delivery(s1).status == Delivery.DELIVERED
    first, retry = market_target.requests_for("skills.put")
    assert first.idempotency_key == retry.idempotency_key
    assert len(market_target.effect_log("upsert")) == 1  # the retry was dropped as a repeat
    live = [Evidence(s1, "2026-03-01T10:00:00.000000Z", 0.6)]
    assert held_record(market_target.skills().get(("E100", "SAFETY-BASICS"))) == expected_record(live)


def test_a_retry_resending_an_earlier_record_after_another_write_landed_is_applied(market_target):
    """S1's write is applied but unanswered; S2 raises the level; S2 is voided; S1's retry runs
    before S2's retraction and sends S1's record again, the same content as its first attempt.
    Under the first attempt's key the marketplace would replay that answer without applying it,
    and keep the voided S2's record."""
    marketplace = market_target
    s1, s2 = str(uuid.uuid4()), str(uuid.uuid4())
    statement_store(statements=[_statement(0.6, "2026-03-01T10:00:00Z", s1)], credential=None)
    expand_outbox()
    marketplace.enqueue(applied_then(500))
    _send(_delivery(s1).id)
    assert _delivery(s1).status == Delivery.RETRYING

    statement_store(statements=[_statement(0.95, "2026-03-02T10:00:00Z", s2)], credential=None)
    expand_outbox()
    _send(_delivery(s2).id)
    assert marketplace.skills()[("E100", "SAFETY-BASICS")]["level"] == 5

    statement_store(statements=[voiding(s2)], credential=None)
    expand_outbox()
    _send(_delivery(s1).id)  # S1's retry, before S2's retraction
    _send(_delivery(s2, "retract").id)
    assert _delivery(s1).status == Delivery.DELIVERED
    assert _delivery(s2, "retract").status == Delivery.DELIVERED

    # Three writes, three keys: S1's retry (its record again, after S2's landed) is applied.
    keys = [request.idempotency_key for request in marketplace.requests_for("skills.put")]
    assert len(set(keys)) == 3
    assert len(marketplace.effect_log("upsert")) == 3
    live = [Evidence(s1, "2026-03-01T10:00:00.000000Z", 0.6)]
    held = marketplace.skills().get(("E100", "SAFETY-BASICS"))
    assert held_record(held) == expected_record(live)


def _move(from_employee_id: str, to_employee_id: str) -> None:
    identity_links_move(
        identifiers=Identifiers(emails=["learner@example.com"]),
        from_employee_id=from_employee_id,
        to_employee_id=to_employee_id,
    )


def test_a_retraction_deleting_two_members_records_of_a_competency_sends_each_its_own_key(
    market_target, django_capture_on_commit_callbacks
):
    """S is delivered to E200 (the learner's address wrongly linked there); the link is corrected
    to E100 and a forced backfill writes E100's record, but E200's deletion fails: both records
    rest on S. Their write numbers are where migration 0024 started existing rows (0), so the
    void's retraction deletes both as write 1. Under one key the marketplace, which keeps keys
    across paths, refused the second deletion and E200's record kept the voided S."""
    capture = django_capture_on_commit_callbacks
    _move("E100", "E200")
    s = store_now(capture, _statement(0.8, "2026-03-01T10:00:00Z", str(uuid.uuid4())))[0]
    _move("E200", "E100")
    market_target.enqueue(ok(), status(500))  # E100's record written, E200's deletion fails
    with capture(execute=True):
        backfill(target=Target.objects.get(name="market"), force=True)
    assert set(market_target.skills()) == {("E100", "SAFETY-BASICS"), ("E200", "SAFETY-BASICS")}
    SkillRecord.objects.update(writes=0, writing="")  # as migration 0024 left the rows before it

    store_now(capture, voiding(s))
    retraction = _delivery(s, "retract")
    assert retraction.status == Delivery.DELIVERED, retraction.last_error
    keys = [
        r.idempotency_key
        for r in market_target.requests_for("skills.revoke")
        if ":retract:" in r.idempotency_key
    ]
    assert len(keys) == 2 and len(set(keys)) == 2, keys
    assert market_target.skills() == {}
