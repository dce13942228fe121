"""In ``delete`` mode an erasure keeps a voiding statement of the person's whose target stays
(another learner's statement they voided: ``voiding_statements_holding_targets``), pseudonymised
and cut down, and leaves it out of the statements it deletes. A send of it under way when the
erasure committed read it before: its ``actor.erased`` notice must still wait for that send, as
for the person's other statements, or the receiver hears of them after it was told to erase them."""

from __future__ import annotations

import json

import pytest

from adapters.delivery import outbox
from adapters.models import Delivery, ErasureRequest, Target
from lrs.statements.store import statement_store
from tests.adapters.helpers import COURSE, erase_while_sending, expand_outbox, voiding
from tests.conftest import make_statement

ADDRESS = "learner@example.com"  # E100
VOIDED = "http://adlnet.gov/expapi/verbs/voided"


@pytest.mark.django_db(transaction=True)
def test_a_send_of_the_persons_kept_voiding_statement_reaches_the_receiver_before_actor_erased(
    webhook_target, fake_env, monkeypatch
):
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "test-webhook-secret")
    bees = make_statement(actor_email="bee@example.com", activity=COURSE, result={"completion": True})
    with monkeypatch.context() as patched:
        patched.setattr(outbox, "expand_and_queue", lambda batch_ids, **kwargs: None)
        [bees_id] = statement_store(statements=[bees], credential=None)
        expand_outbox()
        Target.objects.create(  # from here on: only the voiding statement is sent there
            name="hook",
            adapter="webhook",
            config={"url": webhook_target.url, "secret": {"env": "TEST_WEBHOOK_SECRET"}, "payload": "full"},
            filter={"verbs": [VOIDED]},  # a receiver told of voids as statements too
        )
        statement_store(statements=[voiding(bees_id, actor_email=ADDRESS)], credential=None)
        expand_outbox()
    [delivery] = Delivery.objects.filter(target__name="hook", kind="deliver")

    erase_while_sending(monkeypatch, delivery.id, mode="delete")
    assert ErasureRequest.objects.get().status == ErasureRequest.DONE
    events = webhook_target.effects()
    order = [event["event"] for event in events]
    assert "actor.erased" in order, order
    assert ADDRESS in json.dumps(events), order  # the send read the statement before the erasure
    after = [event for event in events[order.index("actor.erased") + 1 :] if ADDRESS in json.dumps(event)]
    assert after == [], order
