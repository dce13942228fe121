"""The webhook contract (adapters/webhook/adapter.py, "What the receiver holds"), property-based,
one event per request: whatever the order of stores, the LMS sending a statement again, voids
(before or after their statement), drains answered 200, 500, applied-then-500, 429 with
Retry-After or 422, forced backfills and replays of dead letters, a receiver dropping repeats by
``webhook-id`` holds one ``statement.stored`` per live statement and, for a voided one, nothing
or the stored event then one ``statement.voided``; never a voided event before its stored one.
``LRS_WEBHOOK_PROPERTY_EXAMPLES`` sets the number of examples (default 40)."""

from __future__ import annotations

import os
import uuid

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.delivery.replay import backfill, deliveries_replay
from adapters.models import Delivery, Target
from tests.adapters.helpers import COURSE, voiding
from tests.adapters.webhook.batching import drain_round, store_pending
from tests.conftest import make_statement
from tests.targets.webhook_server import WebhookServer, applied_then, retry_after, status

EXAMPLES = int(os.environ.get("LRS_WEBHOOK_PROPERTY_EXAMPLES", "40"))
ANSWERS = [None, status(500), applied_then(500), retry_after(30), status(422)]
STEPS = ["store", "again", "void", "drain", "drain", "backfill", "replay"]


def holdings(receiver: WebhookServer) -> dict[str, list[str]]:
    """Per statement id, the events a receiver dropping repeats by key applied, in arrival order."""
    held: dict[str, list[str]] = {}
    for event in receiver.effects():
        held.setdefault(event["statement"]["id"], []).append(event["event"])
    return held


@pytest.mark.django_db
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_sequence_leaves_the_receiver_holding_the_webhook_contract(
    webhook_target, fake_env, monkeypatch, no_recruiting, data
):
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "test-webhook-secret")
    with transaction.atomic():
        webhook_target.reset()
        target = Target.objects.create(
            name="hook",
            adapter="webhook",
            config={
                "url": webhook_target.url,
                "secret": {"env": "TEST_WEBHOOK_SECRET"},
                "timeout_seconds": 2,
            },
            max_attempts=data.draw(st.sampled_from([1, 3, 12]), label="max_attempts"),
            concurrency=1,
        )
        count = data.draw(st.integers(1, 4), label="statements")
        statements = [
            make_statement(activity=COURSE, result={"completion": True}, statement_id=str(uuid.uuid4()))
            for _ in range(count)
        ]
        stored: set[int] = set()
        voided_first: set[int] = set()
        voided: set[int] = set()
        for _ in range(data.draw(st.integers(1, 10), label="steps")):
            step = data.draw(st.sampled_from(STEPS), label="step")
            index = data.draw(st.integers(0, count - 1), label="statement")
            if step in ("store", "again") and (step == "store" or index in stored):
                store_pending(monkeypatch, statements[index])  # again: the LMS sends it once more
                stored.add(index)
            elif step == "void" and index not in voided:
                store_pending(monkeypatch, voiding(statements[index]["id"]))
                voided.add(index)
                if index not in stored:
                    voided_first.add(index)
            elif step == "drain":
                answer = data.draw(st.sampled_from(ANSWERS), label="answer")
                if answer is not None:
                    webhook_target.enqueue(answer)
                drain_round(target)
                webhook_target.clear_queue()
            elif step == "backfill":
                backfill(target=target, force=True)
            elif step == "replay":
                deliveries_replay(target=target)
        # Then the receiver answers 200: what died is replayed, everything due is sent.
        for _ in range(3):
            deliveries_replay(target=target)
            for _ in range(10):
                if not Delivery.objects.filter(status__in=[Delivery.PENDING, Delivery.RETRYING]).exists():
                    break
                drain_round(target)
        assert all(request.rejected is None for request in webhook_target.requests)
        held = holdings(webhook_target)
        for index, statement in enumerate(statements):
            events = held.get(statement["id"], [])
            if index not in stored or index in voided_first:  # voided when it came (Data 2.3.2)
                assert events == [], (index, events)
            elif index not in voided:
                assert events == ["statement.stored"], (index, events)
            else:
                original = Delivery.objects.get(statement_uuid=statement["id"], kind="deliver")
                allowed = [[], ["statement.stored", "statement.voided"]]
                if original.maybe_applied:  # its attempt failed but may have been taken: retracted
                    allowed.append(["statement.voided"])
                assert events in allowed, (index, events, original.status)
        transaction.set_rollback(True)
