"""Two runs of one statement's delivery at once, its learner's identity moved between them: a
worker that stalled after planning (its claim ran out, the sweep put the delivery back) and the
run that took it over. Each holds the leases of the records it plans to change, and they plan
different members' records, so the leases alone keep neither from recording the statement's
evidence. The marketplace must never hold it under two members (adapters/marketplace/adapter.py:
"A statement is evidence for the member its delivery last named")."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from adapters.delivery import outbox
from adapters.delivery.drain import delivery_send
from adapters.delivery.sweep import sweep_due
from adapters.identity.links import Identifiers, identity_links_move
from adapters.marketplace import skills
from adapters.models import Delivery
from lrs.statements.store import statement_store
from tests.adapters.helpers import expand_outbox, scored_completion

pytestmark = pytest.mark.django_db(transaction=True)


def _members_holding(marketplace, statement_id: str) -> list[str]:
    return sorted(
        member
        for (member, _code), record in marketplace.skills().items()
        if statement_id in {item["statementId"] for item in record["evidence"]}
    )


def test_a_stalled_run_and_its_takeover_under_another_member_leave_the_evidence_under_one(
    market_target, monkeypatch
):
    with monkeypatch.context() as patched:  # its delivery written, not sent yet
        patched.setattr(outbox, "expand_and_queue", lambda batch_ids, **kwargs: None)
        [statement_id] = statement_store(statements=[scored_completion(0.95)], credential=None)
    expand_outbox()
    delivery = Delivery.objects.get(statement_uuid=statement_id, kind="deliver")
    planned, go = threading.Event(), threading.Event()
    real_exclusive = skills.exclusive
    stalled = threading.current_thread()

    def exclusive_after_a_stall(target_id, keys, *, seconds):
        if threading.current_thread() is not stalled:  # the stalled worker, once it planned
            planned.set()
            go.wait(10)
        return real_exclusive(target_id, keys, seconds=seconds)

    monkeypatch.setattr(skills, "exclusive", exclusive_after_a_stall)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            delivery_send(delivery.id)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert planned.wait(10), "the first run never planned its records"
        identity_links_move(
            identifiers=Identifiers(emails=["learner@example.com"]),
            from_employee_id="E100",
            to_employee_id="E200",
        )
        # Its claim runs out: the sweep puts the delivery back and the next drain runs it.
        Delivery.objects.filter(id=delivery.id).update(claimed_until=timezone.now() - timedelta(seconds=1))
        sweep_due()
        if Delivery.objects.get(id=delivery.id).status != Delivery.DELIVERED:
            delivery_send(delivery.id)
        assert _members_holding(market_target, statement_id) == ["E200"]
    finally:
        go.set()
        thread.join(20)
    assert not thread.is_alive() and not errors, errors
    assert _members_holding(market_target, statement_id) == ["E200"]
