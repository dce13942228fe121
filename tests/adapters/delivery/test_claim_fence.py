"""A worker writes what came of its batch only while the batch is still its own.

A claim is a lease (``claimed_until``): once it has run out, the sweep puts the delivery back
(``sweep_due``), another worker may take it, and admins, erasure and reconciliation treat it as
no longer in flight. A worker that was alive but stalled past its claim (a paused VM, a starved
idle-priority process) must then drop its outcome, as if it had been killed before writing it
(which the engine already survives: the delivery runs again under the same idempotency key).
Writing it anyway overwrote the newer state (a cancel, another worker's success) and recorded an
attempt, with the request it sent, after an erasure had blanked what the deliveries held.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import responses
from django.utils import timezone

from adapters.base import Prepared
from adapters.delivery import batch, outcomes, pacing, queue, replay, sweep
from adapters.delivery import drain as drains
from adapters.models import Attempt, Delivery, Target
from adapters.ops.instruments import OUTCOMES_DROPPED
from adapters.outbound import OutboundRequest
from tests.adapters.helpers import pending_deliveries
from tests.conftest import HOOK

pytestmark = pytest.mark.django_db(transaction=True)


def _stalled_batch(target, monkeypatch: pytest.MonkeyPatch) -> list[outcomes.Outcome]:
    """What a worker made of a claimed batch (a 500 from the target) without writing it yet; then
    its claim runs out and the sweep puts the deliveries back, as for a dead worker."""
    claimed = drains.claim_due(target, 10)
    assert claimed
    stalled = batch.run(target, claimed)
    assert {outcome.status for outcome in stalled} == {Delivery.RETRYING}
    Delivery.objects.update(claimed_until=timezone.now() - timedelta(seconds=1))
    with monkeypatch.context() as patched:  # the drain it requests is the test's to run
        patched.setattr(queue, "request_drain", lambda *args, **kwargs: None)
        assert sweep.sweep_due() == len(claimed)
    return stalled


@responses.activate
def test_an_outcome_written_after_the_claim_ran_out_and_another_worker_delivered_changes_nothing(
    target, monkeypatch
):
    responses.post(HOOK, status=500)
    pending_deliveries(3, monkeypatch)
    stalled = _stalled_batch(target, monkeypatch)

    responses.replace(responses.POST, HOOK, status=200)
    assert drains._one_batch(target) == 3  # another worker takes them over and delivers
    dropped = OUTCOMES_DROPPED.labels(target.name)._value.get()
    outcomes.persist(target, stalled)  # the stalled worker wakes up

    assert OUTCOMES_DROPPED.labels(target.name)._value.get() - dropped == 3  # for operators to see

    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.DELIVERED}
    # The sweep's record of each stopped attempt (its time: where a chat retry looks), then the
    # other worker's success; nothing of the stalled worker's.
    assert (
        sorted(Attempt.objects.values_list("outcome", "error"))
        == [(Attempt.RETRY, sweep.STOPPED_MID_SEND)] * 3 + [(Attempt.SUCCESS, "")] * 3
    )


@responses.activate
def test_an_outcome_written_after_the_claim_ran_out_leaves_an_admins_cancel_alone(target, monkeypatch):
    responses.post(HOOK, status=500)
    pending_deliveries(2, monkeypatch)
    stalled = _stalled_batch(target, monkeypatch)
    ids = list(Delivery.objects.values_list("id", flat=True))
    assert replay.deliveries_cancel(delivery_ids=ids) == 2  # put back, so no longer in flight

    outcomes.persist(target, stalled)

    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.CANCELLED}
    # No attempt recorded after the fact: the request it would keep names the learner, and an
    # erasure that ran once the deliveries were put back has blanked what they recorded. Only the
    # sweep's record that each stopped (when, no request).
    assert list(Attempt.objects.values_list("error", "request")) == [(sweep.STOPPED_MID_SEND, "")] * 2


@responses.activate
def test_an_outcome_written_late_is_kept_when_nobody_took_the_deliveries_over(target, monkeypatch):
    """Past the claim but before any sweep: the deliveries are still in flight under this claim,
    so the outcome is the truth and sending again would be waste."""
    responses.post(HOOK, status=200)
    pending_deliveries(2, monkeypatch)
    claimed = drains.claim_due(target, 10)
    done = batch.run(target, claimed)
    Delivery.objects.update(claimed_until=claimed[0].claimed_until)  # unchanged, merely passed
    outcomes.persist(target, done)

    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.DELIVERED}
    assert Attempt.objects.filter(outcome=Attempt.SUCCESS).count() == 2


@responses.activate
@pytest.mark.parametrize("sequential", [False, True], ids=["concurrent", "sequential"])
def test_a_request_is_not_sent_once_the_batchs_claim_has_run_out(target, monkeypatch, sequential):
    """A worker stalled between claiming and sending (its claim passed meanwhile) sends nothing:
    the sweep may have put the deliveries back, and whatever came next (another worker's send,
    the retraction that must come strictly after it, an erasure) must not be overtaken by it."""
    responses.post(HOOK, status=200)
    pending_deliveries(2, monkeypatch)
    claimed = drains.claim_due(target, 10)
    for delivery in claimed:
        delivery.claimed_until = timezone.now() - timedelta(seconds=1)  # the stall, as it ends
    adapter_class = type(batch.adapter_for(target.adapter, target.config))
    monkeypatch.setattr(adapter_class, "sequential", sequential)

    waited = batch.run(target, claimed)

    assert len(responses.calls) == 0
    assert {(outcome.status, outcome.attempt, outcome.counted) for outcome in waited} == {
        (Delivery.RETRYING, None, False)
    }


@responses.activate
def test_where_a_stalled_worker_would_have_posted_is_not_kept_on_deliveries_put_back(target, monkeypatch):
    """The place a send will post to is written on its delivery before it goes out (Slack's kept
    places, ``batch._keep_destinations``). A worker whose claim ran out sends nothing, so it must
    not write over the places the delivery's owner now keeps (a retry looks only there)."""
    responses.post(HOOK, status=500)
    pending_deliveries(1, monkeypatch)
    claimed = drains.claim_due(target, 10)
    Delivery.objects.update(claimed_until=timezone.now() - timedelta(seconds=1))
    with monkeypatch.context() as patched:
        patched.setattr(queue, "request_drain", lambda *args, **kwargs: None)
        sweep.sweep_due()
    Delivery.objects.update(external_id="#kept-by-the-new-owner")
    [delivery] = claimed
    request = OutboundRequest("POST", HOOK, destination="#where-the-stalled-worker-would-post")
    prepared = Prepared(batch.context_for(target, delivery), [request])

    batch._keep_destinations([(delivery, prepared)])

    assert Delivery.objects.get().external_id == "#kept-by-the-new-owner"


@responses.activate
@pytest.mark.parametrize("sequential", [False, True], ids=["concurrent", "sequential"])
def test_a_stalled_worker_books_none_of_the_targets_rate_limited_send_slots(target, monkeypatch, sequential):
    """Its sends will not go out: the slots they would book belong to the target's other sends
    (each booking pushes every worker's next send back by one slot)."""
    responses.post(HOOK, status=200)
    Target.objects.filter(pk=target.pk).update(rate_limit_per_second=2)
    target.refresh_from_db()
    pending_deliveries(4, monkeypatch)
    claimed = drains.claim_due(target, 10)
    for delivery in claimed:
        delivery.claimed_until = timezone.now() - timedelta(seconds=1)
    monkeypatch.setattr(type(batch.adapter_for(target.adapter, target.config)), "sequential", sequential)

    batch.run(target, claimed, schedule=pacing.per_send(target))

    assert len(responses.calls) == 0
    assert pacing.booked_ahead(target) == 0.0
