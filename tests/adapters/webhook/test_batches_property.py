"""Webhook batches, property-based: any sequence of stores, voids and drains answered 200, 500,
applied-then-500, 429 or 422 leaves the receiver holding the adapter's contract per item key, and
a delivery is given up only on an answer to it alone. ``LRS_WEBHOOK_BATCH_EXAMPLES`` sets the number
of examples (default 60)."""

from __future__ import annotations

import os

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.models import Delivery, Target
from lrs.statements.store import statement_store
from tests.adapters.helpers import voiding
from tests.adapters.webhook.batching import batched_target, drain_round, store_pending
from tests.conftest import make_statement
from tests.targets.webhook_server import WebhookServer, applied_then, status

# Examples per property; LRS_WEBHOOK_BATCH_EXAMPLES raises them (a longer run) or lowers them.
EXAMPLES = int(os.environ.get("LRS_WEBHOOK_BATCH_EXAMPLES", "60"))


def holdings(receiver: WebhookServer) -> dict[str, list[str]]:
    """Per statement id, the events the receiver applied (first per item key), in arrival order."""
    held: dict[str, list[str]] = {}
    for event in receiver.effects():
        held.setdefault(event["statement"]["id"], []).append(event["event"])
    return held


EXAMPLES = int(os.environ.get("LRS_WEBHOOK_BATCH_EXAMPLES", "60"))
ANSWERS = st.sampled_from([None, None, status(500), applied_then(500), status(429), status(422)])


@pytest.mark.django_db
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_sequence_of_statements_voids_and_failed_arrays_leaves_the_receiver_holding_the_contract(
    receiver, monkeypatch, no_recruiting, data
):
    """The adapter's contract, per item key, whatever the grouping: one ``statement.stored`` per
    live statement and no ``statement.voided``; for a voided one at most one of each, the voided
    event never before the stored one."""
    with transaction.atomic():
        receiver.reset()
        size = data.draw(st.sampled_from([2, 3, 5]), label="batch_size")
        max_attempts = data.draw(st.sampled_from([1, 2, 12]), label="max_attempts")
        target = batched_target(receiver, size)
        # One request at a time, in claim order: the scripted answer meets the same request each run.
        Target.objects.filter(pk=target.pk).update(concurrency=1, max_attempts=max_attempts)
        stored: list[str] = []
        voided: set[str] = set()
        for _ in range(data.draw(st.integers(1, 6), label="steps")):
            step = data.draw(st.sampled_from(["store", "void", "drain"]), label="step")
            if step == "store":
                count = data.draw(st.integers(1, 4), label="statements")
                stored += store_pending(monkeypatch, *[make_statement() for _ in range(count)])
            elif step == "void" and set(stored) - voided:
                target_id = data.draw(st.sampled_from(sorted(set(stored) - voided)), label="void")
                statement_store(statements=[voiding(target_id)], credential=None)
                voided.add(target_id)
            elif step == "drain":
                answer = data.draw(ANSWERS, label="answer")
                if answer is not None:
                    receiver.enqueue(answer)
                drain_round(target)
                receiver.clear_queue()
        for _ in range(20):  # then everything, the receiver answering 200
            if not Delivery.objects.filter(status__in=[Delivery.PENDING, Delivery.RETRYING]).exists():
                break
            drain_round(target)
        assert not Delivery.objects.exclude(
            status__in=[Delivery.DELIVERED, Delivery.CANCELLED, Delivery.DEAD]
        ).exists()
        assert all(request.rejected is None and len(request.json) <= size for request in receiver.requests)
        # A delivery is given up only on an answer to it alone, however few attempts it had.
        for dead in Delivery.objects.filter(status=Delivery.DEAD):
            carrying = [r for r in receiver.requests if dead.idempotency_key in dict(r.events())]
            assert carrying and len(carrying[-1].json) == 1, dead.idempotency_key
        held = holdings(receiver)
        originals = {str(d.statement_uuid): d for d in Delivery.objects.filter(kind="deliver")}
        retractions = {str(d.statement_uuid): d for d in Delivery.objects.filter(kind="retract")}
        for statement_id in stored:
            events, original = held.get(statement_id, []), originals[statement_id]
            retraction = retractions.get(statement_id)
            refused = retraction is not None and retraction.status == Delivery.DEAD  # given up alone
            if original.status == Delivery.DEAD:  # given up on an answer to it alone
                if not original.maybe_applied:  # refused (a scripted 422): never taken
                    assert events == [], (statement_id, events)
                elif statement_id not in voided:  # a 5xx after it may have been taken: held or not
                    assert events in ([], ["statement.stored"]), (statement_id, events)
                else:  # and a void retracts it, as without batches
                    expected = ([], ["statement.voided"], ["statement.stored", "statement.voided"])
                    assert events in expected, (statement_id, events)
            elif statement_id not in voided:
                assert events == ["statement.stored"], (statement_id, events)
            elif "statement.stored" in events:
                if refused and retraction.maybe_applied:  # given up on a 5xx after it was taken
                    expected = (["statement.stored"], ["statement.stored", "statement.voided"])
                else:
                    expected = (
                        ["statement.stored"] if refused else ["statement.stored", "statement.voided"],
                    )
                assert events in expected, (statement_id, events)
            else:  # voided first, or its attempt failed but may have been taken: a retraction then
                assert events in ([], ["statement.voided"]), (statement_id, events)
                assert events == [] or original.maybe_applied, (statement_id, events)
        transaction.set_rollback(True)
