"""Voiding while a worker claims the same delivery: whichever comes first, the target ends up
without the voided statement's effect (tests on real connections: the worker is another thread
with its own database session)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from adapters.delivery import voiding as voiding_module
from adapters.delivery.drain import delivery_send
from adapters.models import Delivery
from lrs.statements.store import statement_store
from tests.adapters.helpers import COURSE, voiding
from tests.conftest import make_statement
from tests.targets.behaviours import status

pytestmark = pytest.mark.django_db(transaction=True)


def a_retrying_delivery(pms) -> tuple[str, Delivery]:
    # The first attempt takes no effect: the delivery waits to retry. With a Retry-After, or the
    # full-jitter backoff may make the retry due at once and the same drain send it (a CI run).
    pms.enqueue(status(503, headers={"Retry-After": "60"}))
    statement = make_statement(
        actor_email="learner@example.com", activity=COURSE, result={"completion": True}
    )
    [statement_id] = statement_store(statements=[statement], credential=None)
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.RETRYING
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    return statement_id, delivery


def in_a_worker(delivery_id: int, results: list) -> threading.Thread:
    def work() -> None:
        try:
            results.append(delivery_send(delivery_id))
        finally:
            connection.close()

    return threading.Thread(target=work)


def test_a_claim_during_the_void_waits_for_it_and_finds_the_delivery_cancelled(pms_target, monkeypatch):
    statement_id, delivery = a_retrying_delivery(pms_target)
    results: list = []
    worker = in_a_worker(delivery.pk, results)
    real = voiding_module.adapter_class

    def claim_now(name: str):  # the worker claims right after the void cancelled (locked) the row
        if not worker.is_alive() and not results:
            worker.start()
        return real(name)

    monkeypatch.setattr(voiding_module, "adapter_class", claim_now)
    statement_store(statements=[voiding(statement_id)], credential=None)
    worker.join(timeout=30)
    assert results == [None]  # its claim waited for the void's commit, then found nothing due
    assert pms_target.events() == {}
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.CANCELLED


def test_a_delivery_made_just_before_the_void_is_retracted(pms_target, monkeypatch):
    statement_id, delivery = a_retrying_delivery(pms_target)
    results: list = []
    real = voiding_module.expand_batches_holding

    def deliver_first(statement_pks):  # the worker sends before the void touches the deliveries
        worker = in_a_worker(delivery.pk, results)
        worker.start()
        worker.join(timeout=30)
        return real(statement_pks)

    monkeypatch.setattr(voiding_module, "expand_batches_holding", deliver_first)
    statement_store(statements=[voiding(statement_id)], credential=None)
    assert results == [Delivery.DELIVERED]
    assert Delivery.objects.get(kind="retract").status == Delivery.DELIVERED
    assert pms_target.events() == {} and len(pms_target.retractions()) == 1
