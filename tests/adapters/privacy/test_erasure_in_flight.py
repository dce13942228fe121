"""An erasure that commits while another learner's statement naming the person (here as their
instructor) is being sent: that send read the statement before it was pseudonymised, and a failed
attempt keeps the request it sent, the person's address in it, after the erasure scrubbed the
earlier records. The erasure waits for such a send and scrubs what it recorded when it finishes
(adapters/privacy/erasure.py: "the personal data kept in delivery and attempt records")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import Q
from django.utils import timezone

from adapters.delivery.drain import delivery_send
from adapters.models import Attempt, Delivery, ErasureRequest, Target
from adapters.privacy.erasure import erase_subject, finish_erasures
from adapters.privacy.subjects import subject_for
from adapters.registry import adapter_class
from lrs.statements.store import statement_store
from tests.adapters.helpers import COURSE, expand_outbox
from tests.conftest import make_statement
from tests.targets.behaviours import status

pytestmark = pytest.mark.django_db
PERSON = {"objectType": "Agent", "name": "A Learner", "mbox": "mailto:learner@example.com"}  # E100
ADDRESS = "learner@example.com"


def send(delivery: Delivery) -> None:
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    Target.objects.update(paused_until=None, consecutive_failures=0)
    delivery_send(delivery.pk)


def quoting_the_person() -> list[Attempt]:
    return list(
        Attempt.objects.filter(
            Q(request__contains=ADDRESS) | Q(error__contains=ADDRESS) | Q(response_excerpt__contains=ADDRESS)
        )
    )


@pytest.mark.parametrize("mode", ["pseudonymise", "delete"])
def test_an_attempt_on_anothers_statement_sent_during_the_erasure_is_scrubbed_when_it_finishes(
    mode, webhook_target, fake_env, monkeypatch
):
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "test-webhook-secret")
    Target.objects.create(
        name="hook",
        adapter="webhook",
        config={
            "url": webhook_target.url,
            "secret": {"env": "TEST_WEBHOOK_SECRET"},
            "on_erasure": "ignore",
            "payload": "full",
        },
    )
    bees = make_statement(
        actor_email="bee@example.com",
        activity=COURSE,
        result={"completion": True},
        context={"instructor": PERSON},
    )
    statement_store(statements=[bees], credential=None)
    expand_outbox()
    webhook = adapter_class("webhook")
    real_translate = webhook.translate
    erasures: list = []

    def erasure_then_translate(self, statement, context):
        if not erasures:  # the erasure commits after the send read Bee's statement, before it went out
            erasures.append(erase_subject(subject_for(employee_id="E100"), mode=mode, requested_by="dpo"))
            webhook_target.enqueue(status(503))
        return real_translate(self, statement, context)

    monkeypatch.setattr(webhook, "translate", erasure_then_translate)
    delivery = Delivery.objects.get()
    send(delivery)
    monkeypatch.setattr(webhook, "translate", real_translate)
    assert Attempt.objects.filter(outcome=Attempt.RETRY).exists()  # the send failed after the erasure

    finish_erasures()
    assert ErasureRequest.objects.get().status == ErasureRequest.DONE
    assert quoting_the_person() == []
    # The retry sends Bee's statement as stored now: without the person.
    send(delivery)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.DELIVERED
    assert ADDRESS not in str(webhook_target.accepted()[-1].body)
