"""The sweep records each attempt whose worker stopped mid-send once (its time: where a chat
retry looks, ``Delivery.maybe_applied_between``), in the transaction that puts the delivery back:
two sweeps at once record it once, and one that finds a delivery locked (a worker writing its
outcome, a claim renewal) leaves it to the next sweep, which puts it back."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import responses
from django.db import connection, transaction

from adapters.delivery import sweep
from adapters.models import Attempt, Delivery
from tests.adapters.helpers import claimed_until, pending_deliveries
from tests.conftest import HOOK

pytestmark = pytest.mark.django_db(transaction=True)


def _stopped_records() -> Counter:
    return Counter(Attempt.objects.filter(error=sweep.STOPPED_MID_SEND).values_list("delivery_id", flat=True))


@responses.activate
def test_two_sweeps_at_once_record_each_stopped_attempt_once(target, monkeypatch):
    responses.post(HOOK, status=200)
    pending_deliveries(6, monkeypatch)
    claimed_until(target, -1)  # the claim ran out: its worker stopped mid-send
    start = threading.Barrier(2)

    def sweeping() -> None:
        try:
            start.wait()
            sweep.sweep_due()
        finally:
            connection.close()

    threads = [threading.Thread(target=sweeping) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert _stopped_records() == Counter(Delivery.objects.values_list("id", flat=True))
    assert not Delivery.objects.filter(status=Delivery.IN_FLIGHT).exists()


@responses.activate
def test_a_delivery_locked_as_the_sweep_runs_is_put_back_by_the_next(target, monkeypatch):
    responses.post(HOOK, status=200)
    pending_deliveries(2, monkeypatch)
    claimed = claimed_until(target, -1)
    locked, release = threading.Event(), threading.Event()

    def holding() -> None:  # another transaction holds one row (a worker writing its outcome)
        try:
            with transaction.atomic():
                Delivery.objects.select_for_update().filter(id=claimed[0].id).exists()
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=holding)
    holder.start()
    assert locked.wait(10)
    sweep.sweep_due()
    assert Delivery.objects.get(id=claimed[0].id).status == Delivery.IN_FLIGHT
    release.set()
    holder.join(30)
    sweep.sweep_due()
    assert _stopped_records() == Counter({claimed[0].id: 1, claimed[1].id: 1})
    assert not Delivery.objects.filter(status=Delivery.IN_FLIGHT).exists()
