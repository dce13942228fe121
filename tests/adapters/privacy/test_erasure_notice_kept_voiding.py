"""In ``delete`` mode an erasure keeps a voiding statement of the person's whose target stays
(another learner's statement they voided: ``voiding_statements_holding_targets``), pseudonymised
and cut down, and leaves it out of the statements it deletes. A send of it under way when the
erasure committed read it before: its ``actor.erased`` notice must still wait for that send, as
for the person's other statements, or the receiver hears of them after it was told to erase them;
and one that failed is cancelled when the erasure finishes, as theirs are, not retried after it."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from adapters.delivery import outbox
from adapters.delivery.drain import delivery_send
from adapters.models import Delivery, ErasureRequest, Target
from adapters.privacy.erasure import finish_erasures
from lrs.statements.store import statement_store
from tests.adapters.helpers import COURSE, erase_while_sending, expand_outbox, voiding
from tests.conftest import make_statement
from tests.targets.behaviours import status

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


@pytest.mark.django_db(transaction=True)
def test_a_failed_send_of_the_persons_kept_voiding_statement_is_not_retried_after_actor_erased(
    webhook_target, fake_env, monkeypatch
):
    """The send under way when the erasure committed fails (500): the statement is the person's,
    kept only to void another's, and their failed sends are cancelled when the erasure finishes
    (README "Privacy"), not retried, in its pseudonymised, cut-down form, after ``actor.erased``."""
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "test-webhook-secret")
    bees = make_statement(actor_email="bee@example.com", activity=COURSE, result={"completion": True})
    with monkeypatch.context() as patched:
        patched.setattr(outbox, "expand_and_queue", lambda batch_ids, **kwargs: None)
        [bees_id] = statement_store(statements=[bees], credential=None)
        expand_outbox()
        Target.objects.create(  # from here on: only the voiding statement is sent there
            name="hook",
            adapter="webhook",
            config={"url": webhook_target.url, "secret": {"env": "TEST_WEBHOOK_SECRET"}},
            filter={"verbs": [VOIDED]},
        )
        [voiding_id] = statement_store(statements=[voiding(bees_id, actor_email=ADDRESS)], credential=None)
        expand_outbox()
    [delivery] = Delivery.objects.filter(target__name="hook", kind="deliver")
    webhook_target.enqueue(status(500))  # the send under way fails

    erase_while_sending(monkeypatch, delivery.id, mode="delete")
    Delivery.objects.filter(id=delivery.id).update(next_attempt_at=timezone.now())  # its retry is due
    delivery_send(delivery.id)
    finish_erasures()

    assert ErasureRequest.objects.get().status == ErasureRequest.DONE
    assert Delivery.objects.get(id=delivery.id).status == Delivery.CANCELLED
    events = webhook_target.effects()
    order = [event["event"] for event in events]
    assert "actor.erased" in order, order
    after = events[order.index("actor.erased") + 1 :]
    assert [event for event in after if voiding_id in json.dumps(event)] == [], order
