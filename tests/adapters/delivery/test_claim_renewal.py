"""A sequential adapter's batch (``Adapter.sequential``: the marketplace) renews its claim as it
goes: its deliveries run one after another, each a send of several requests, so a batch of a slow
target outlasts a claim sized for concurrent sends. Unrenewed, the tail of every such batch was
released unsent at the claim's end (``claims.turn``) and claimed again by the next drain: churn,
and a slow marketplace's deliveries waited a claim's length each time. Renewed under the fence
(only rows still in flight under this claim), a batch whose claim the sweep took, or whose
delivery an admin cancelled, still sends nothing more of it."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import responses
from django.utils import timezone

from adapters.delivery import batch, outbox, outcomes, queue, sweep
from adapters.delivery import drain as drains
from adapters.delivery.pacing import claims
from adapters.marketplace.adapter import MarketplaceAdapter
from adapters.models import CompetencyMapping, Delivery, Target
from lrs.statements.store import statement_store
from tests.adapters.helpers import claimed_until, expand_outbox, pending_deliveries, scored_completion
from tests.adapters.target_fixtures import SKILLS_MAPPING
from tests.conftest import HOOK

pytestmark = pytest.mark.django_db(transaction=True)

SEND_SECONDS = 0.6  # each send; the claim covers one send and a bit, not three


def _claimed_sequential_batch(target, monkeypatch: pytest.MonkeyPatch, count: int) -> list[Delivery]:
    pending_deliveries(count, monkeypatch)
    target.config = {**target.config, "timeout_seconds": 0.5}  # a send may take 2 x 0.5 s
    target.save()
    adapter_class = type(batch.adapter_for(target.adapter, target.config))
    monkeypatch.setattr(adapter_class, "sequential", True)
    real_effect = adapter_class.effect

    def slow_effect(self, statement, context):
        time.sleep(SEND_SECONDS)
        return real_effect(self, statement, context)

    monkeypatch.setattr(adapter_class, "effect", slow_effect)
    return claimed_until(target, 1.4)  # room for the first send only


@responses.activate
def test_a_sequential_batch_that_outlasts_its_claim_renews_it_and_sends_every_delivery(target, monkeypatch):
    responses.post(HOOK, status=200)
    claimed = _claimed_sequential_batch(target, monkeypatch, 3)

    done = batch.run(target, claimed)

    assert len(responses.calls) == 3
    # The renewed claim is the database's, to the microsecond: the outcome's fence compares them.
    held = dict(Delivery.objects.values_list("id", "claimed_until"))
    assert {outcome.delivery.id: outcome.delivery.claimed_until for outcome in done} == held
    outcomes.persist(target, done)
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.DELIVERED}


@responses.activate
def test_a_renewal_leaves_a_delivery_another_worker_holds_under_its_own_claim(target, monkeypatch):
    """Only rows still in flight under this batch's claim are renewed (and sent)."""
    responses.post(HOOK, status=200)
    claimed = _claimed_sequential_batch(target, monkeypatch, 3)
    theirs = timezone.now() + timedelta(minutes=5)
    Delivery.objects.filter(id=claimed[-1].id).update(claimed_until=theirs)

    outcomes.persist(target, batch.run(target, claimed))

    assert len(responses.calls) == 2
    assert Delivery.objects.get(id=claimed[-1].id).claimed_until == theirs


@responses.activate
def test_a_batch_whose_claim_the_sweep_took_renews_nothing_and_sends_nothing_more(target, monkeypatch):
    responses.post(HOOK, status=200)
    claimed = _claimed_sequential_batch(target, monkeypatch, 3)
    lost = timezone.now() - timedelta(seconds=1)
    for delivery in claimed:
        delivery.claimed_until = lost  # the stall, as it ends: the claim has passed

    assert not claims.renew(claimed, room=1.0, began=timezone.now())
    batch.run(target, claimed)

    assert len(responses.calls) == 0
    assert Delivery.objects.filter(claimed_until__gt=timezone.now()).count() == 3  # untouched


@responses.activate
def test_a_delivery_lost_to_another_claim_does_not_stop_the_rest_of_the_batch_renewing(
    target, monkeypatch, settings
):
    """The first renewal leaves the lost delivery at its old claim (in memory): the soonest claim
    of the batch, passed before the others need renewing again. It must not stand for theirs."""
    # A renewal lasts 2 s (2 x room, the setting): the batch needs two, both within the 2 s after
    # it began that a batch may renew for.
    settings.LRS_DELIVERY_CLAIM_SECONDS = 2
    responses.post(HOOK, status=200)
    claimed = _claimed_sequential_batch(target, monkeypatch, 5)
    theirs = timezone.now() + timedelta(minutes=5)
    Delivery.objects.filter(id=claimed[-1].id).update(claimed_until=theirs)

    outcomes.persist(target, batch.run(target, claimed))

    assert len(responses.calls) == 4  # all but the one another worker holds
    assert Delivery.objects.filter(status=Delivery.DELIVERED).count() == 4


def test_a_marketplace_send_of_several_records_ends_within_the_room_it_was_started_in(
    market_target, monkeypatch
):
    """The room a claim is checked against (``claims.send_seconds``) counts two requests per send;
    a marketplace send makes up to four per record it changes. Once it has planned its records it
    asks its claim for their room (``DeliveryContext.room_for``), renewed as need be: before, the
    sweep took the claim while the send was out and its outcome was dropped (a re-run recomputes,
    so churn rather than a double effect)."""
    monkeypatch.setattr(queue, "request_drain", lambda *args, **kwargs: None)
    rules = [{**SKILLS_MAPPING[0], "codes": ["SAFETY-BASICS", "SAFETY-FIRE", "SAFETY-FIRST-AID"]}]
    CompetencyMapping.objects.update(rules=rules)  # one statement, three records
    target = Target.objects.get(name="market")
    target.config = {**target.config, "timeout_seconds": 0.5}
    target.save()
    with monkeypatch.context() as patched:
        patched.setattr(outbox, "expand_and_queue", lambda batch_ids, **kwargs: None)
        statement_store(statements=[scored_completion(0.95)], credential=None)
    expand_outbox()
    [claimed] = drains.claim_due(target, 10)
    room = claims.send_seconds(target, batch.adapter_for(target.adapter, target.config))
    ends = timezone.now() + timedelta(seconds=room + 0.1)  # the claim covers one send, as reckoned
    Delivery.objects.filter(id=claimed.id).update(claimed_until=ends)
    claimed.claimed_until = ends
    real_send = MarketplaceAdapter.send
    swept = []

    def slow_send(self, *args, **kwargs):
        time.sleep(0.45)  # each request within the target's timeout
        if timezone.now() > ends and not swept:
            swept.append(sweep.sweep_due())  # the sweep's pass while the send is still out
        return real_send(self, *args, **kwargs)

    monkeypatch.setattr(MarketplaceAdapter, "send", slow_send)
    outcomes.persist(target, batch.run(target, [claimed]))
    assert Delivery.objects.get(id=claimed.id).status == Delivery.DELIVERED, (room, swept)


@responses.activate
def test_a_batch_renews_its_claim_only_while_younger_than_the_claim_setting(target, monkeypatch, settings):
    """The drain slot a batch holds lives twice ``LRS_DELIVERY_CLAIM_SECONDS`` and a minute: a
    batch renewing on past it would let another drain of the target in. Its tail is released."""
    responses.post(HOOK, status=200)
    settings.LRS_DELIVERY_CLAIM_SECONDS = 1  # renewals last 2 s (2 x room); the batch needs 3 s
    claimed = _claimed_sequential_batch(target, monkeypatch, 5)
    renewals = []
    real_renewed = claims._renewed
    monkeypatch.setattr(claims, "_renewed", lambda *args: renewals.append(args) or real_renewed(*args))

    outcomes.persist(target, batch.run(target, claimed))

    assert len(renewals) == 1  # in its first second; not once it was older
    delivered = Delivery.objects.filter(status=Delivery.DELIVERED).count()
    assert len(responses.calls) == delivered < 5
    assert Delivery.objects.filter(status=Delivery.RETRYING).count() == 5 - delivered
