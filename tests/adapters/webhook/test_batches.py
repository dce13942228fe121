"""Webhook batches (``batch_size``, issue 14's "optional batch delivery for targets whose API takes
arrays"): one request carries an array of events, each with its own ``idempotencyKey``, signed as a
whole; the receiver holds what it holds without batches, per item key."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import pytest
import responses
from django.utils import timezone
from standardwebhooks import Webhook

from adapters.base import AlertNotice, DeliveryContext, ErasureNotice, Prepared
from adapters.config import ConfigProblem, validate_target_config
from adapters.delivery import drain as drains
from adapters.delivery import pacing
from adapters.delivery.arrays import ARRAY_ANSWER_NOTE
from adapters.models import Attempt, Delivery, Target
from adapters.webhook import adapter as webhook_adapter
from adapters.webhook.adapter import WebhookAdapter, batch_key
from tests.adapters.webhook.batching import batched_target, drain_round, store_pending
from tests.conftest import make_statement
from tests.targets.webhook_server import applied_then, status

HOOK = "https://hooks.example.com/lrs"
SECRET = "k3y"


def adapter(**config) -> WebhookAdapter:
    return WebhookAdapter({"url": HOOK, "timeout_seconds": 3, "batch_size": 3, **config}, {"secret": SECRET})


def prepared(hook: WebhookAdapter, number: int, kind: str = "deliver") -> Prepared:
    context = DeliveryContext(
        target_name="hook",
        kind=kind,
        idempotency_key=f"S{number}:hook:{kind}",
        correlation_id=f"c{number}",
        resolved={"actor": {"employeeId": f"E{number}"}},
    )
    statement = {"id": f"00000000-0000-4000-8000-00000000000{number}", "verb": {"id": "https://v/passed"}}
    translate = hook.translate_retraction if kind == "retract" else hook.translate
    return Prepared(context, [translate(statement, context)])


@responses.activate
def test_a_batched_target_gets_one_array_signed_as_a_whole_with_each_events_own_key(monkeypatch):
    now = int(time.time())
    monkeypatch.setattr(webhook_adapter, "attempt_time", lambda: now)
    responses.post(HOOK, status=200)
    hook = adapter()
    hook.send_together([prepared(hook, 1), prepared(hook, 2, "retract")])

    [call] = responses.calls
    body = call.request.body
    events = json.loads(body)
    assert [event["idempotencyKey"] for event in events] == ["S1:hook:deliver", "S2:hook:retract"]
    assert [event["event"] for event in events] == ["statement.stored", "statement.voided"]
    assert events[0] == {
        "idempotencyKey": "S1:hook:deliver",
        "event": "statement.stored",
        "target": "hook",
        "statement": {
            "id": "00000000-0000-4000-8000-000000000001",
            "verb": {"id": "https://v/passed"},
            "object": {"objectType": "Activity"},
            "timestamp": None,
            "stored": None,
        },
        "actor": {"employeeId": "E1"},
    }
    headers = call.request.headers
    key = batch_key(["S1:hook:deliver", "S2:hook:retract"])
    assert headers["Idempotency-Key"] == headers["webhook-id"] == key
    assert headers["X-LRS-Event"] == "batch" and headers["X-Request-ID"] == "c1"
    assert headers["webhook-timestamp"] == str(now)
    # A receiver verifies the raw array with a Standard Webhooks library, as for one event.
    assert Webhook(SECRET.encode()).verify(body, dict(headers)) == events


def test_the_same_events_together_repeat_the_request_key_and_another_grouping_does_not():
    assert batch_key(["a", "b"]) == batch_key(["a", "b"])
    assert (
        len({batch_key(["a", "b"]), batch_key(["b", "a"]), batch_key(["a"]), batch_key(["a", "b", "c"])}) == 4
    )
    assert batch_key(["a"]).startswith("batch_")


def test_alerts_and_erasure_notices_to_a_batched_target_are_arrays_of_one():
    hook = adapter()
    alert = AlertNotice(
        key="alert-1",
        rule="r",
        target_name="hook",
        state="raised",
        value=3.0,
        threshold=1.0,
        text="t",
        link="l",
    )
    erasure = ErasureNotice(
        key="erasure-1", target_name="hook", employee_id="E1", pseudonyms=(), erased_at="2026-12-06T00:00:00Z"
    )
    for request, key, event in (
        (hook.alert_requests(alert)[0], "alert-1", "lrs.alert"),
        (hook.erasure_requests(erasure)[0], "erasure-1", "actor.erased"),
    ):
        [item] = json.loads(request.body)
        assert item["idempotencyKey"] == key and item["event"] == event
        assert request.headers["Idempotency-Key"] == request.headers["webhook-id"] == batch_key([key])
        assert Webhook(SECRET.encode()).verify(request.body, request.headers) == [item]


def test_a_lone_delivery_to_a_batched_target_goes_as_an_array_of_one():
    hook = adapter()
    with responses.RequestsMock() as mocked:
        mocked.post(HOOK, status=200)
        hook.send_prepared(prepared(hook, 1))
        [event] = json.loads(mocked.calls[0].request.body)
    assert event["idempotencyKey"] == "S1:hook:deliver"


def test_batch_size_is_1_to_100_and_a_wrong_one_is_refused_naming_the_field():
    base = {"url": HOOK, "secret": {"env": "HOOK_SECRET"}}
    for size in (1, 50, 100):
        validate_target_config(adapter="webhook", config={**base, "batch_size": size}, filter_rules={})
    for size in (0, 101, 2.5, "10"):
        with pytest.raises(ConfigProblem, match=r"config\.batch_size"):
            validate_target_config(adapter="webhook", config={**base, "batch_size": size}, filter_rules={})


@pytest.mark.django_db
@pytest.mark.parametrize(("rate", "sends"), [(4.0, 4), (0.2, 1)])
def test_a_rate_limited_drain_claims_batch_size_deliveries_per_send_slot(rate, sends):
    """About one horizon (1 s) of sends, each carrying ``per_request`` deliveries; a target slower
    than one send per horizon still gets a full array per send."""
    target = Target.objects.create(name="limited", adapter="webhook", config={}, rate_limit_per_second=rate)
    assert pacing.batch_size(target, 200) == sends
    assert pacing.batch_size(target, 200, per_request=10) == sends * 10
    assert pacing.batch_size(target, 20, per_request=10) == min(20, sends * 10)


@pytest.mark.django_db
def test_a_claim_lasts_as_long_as_its_requests_take_not_one_request_per_delivery(settings):
    settings.LRS_DELIVERY_CLAIM_SECONDS = 1  # the floor under every claim
    config = {"url": HOOK, "timeout_seconds": 2}
    one_each = Target.objects.create(
        name="one-each", adapter="webhook", config=config, rate_limit_per_second=4, concurrency=1
    )
    arrays = Target.objects.create(
        name="arrays",
        adapter="webhook",
        config={**config, "batch_size": 50},
        rate_limit_per_second=4,
        concurrency=1,
    )
    # 200 deliveries: 200 requests of up to two timeouts each, or 4 arrays of 50.
    assert drains.claim_seconds(one_each, 200) >= 800
    assert drains.claim_seconds(arrays, 200) <= 30


# -- through the engine, to the fake receiver (a real HTTP server checking the contract) ------------


@pytest.mark.django_db
def test_a_claim_of_deliveries_that_failed_before_lasts_for_their_smaller_arrays(
    receiver, monkeypatch, settings
):
    settings.LRS_DELIVERY_CLAIM_SECONDS = 1
    target = batched_target(receiver, 50)
    Target.objects.filter(pk=target.pk).update(rate_limit_per_second=0.5, concurrency=1)
    target.refresh_from_db()
    store_pending(monkeypatch, *[make_statement() for _ in range(10)])
    fresh = drains.claim_due(target, 10)
    fresh_claim = (fresh[0].claimed_until - timezone.now()).total_seconds()
    # The same ten, back after failing four times each: arrays of 50 >> 3 = 6, so two requests
    # (instead of one), each a rate-limit slot of about 2 s further on.
    Delivery.objects.update(status=Delivery.RETRYING, attempts=4, claimed_until=None)
    failed = drains.claim_due(target, 10)
    failed_claim = (failed[0].claimed_until - timezone.now()).total_seconds()
    assert failed_claim > fresh_claim + 1.5
    assert {delivery.claimed_until for delivery in failed} == {failed[0].claimed_until}
    assert Delivery.objects.filter(claimed_until=failed[0].claimed_until).count() == 10


@pytest.mark.django_db(transaction=True)
def test_a_drain_sends_arrays_of_up_to_batch_size_and_each_delivery_lands_once(
    receiver, monkeypatch, no_recruiting
):
    target = batched_target(receiver, 3)
    ids = store_pending(monkeypatch, *[make_statement() for _ in range(7)])
    drain_round(target)

    assert [r.rejected for r in receiver.requests] == [None] * 3
    assert sorted(len(r.json) for r in receiver.requests) == [1, 3, 3]
    assert Delivery.objects.filter(status=Delivery.DELIVERED).count() == 7
    assert Attempt.objects.filter(outcome=Attempt.SUCCESS).count() == 7
    assert sorted(event["statement"]["id"] for event in receiver.effects()) == sorted(ids)


@pytest.mark.django_db(transaction=True)
def test_a_failed_request_fails_each_of_its_deliveries_and_their_retry_lands_each_once(
    receiver, monkeypatch, no_recruiting
):
    target = batched_target(receiver, 3)
    Target.objects.filter(pk=target.pk).update(concurrency=1)  # one request at a time: in claim order
    receiver.enqueue(applied_then(500))  # the first array is applied, but the answer says it failed
    ids = store_pending(monkeypatch, *[make_statement() for _ in range(7)])
    drain_round(target)
    assert Delivery.objects.filter(status=Delivery.RETRYING).count() == 3
    assert Delivery.objects.filter(status=Delivery.DELIVERED).count() == 4

    drain_round(target)
    assert Delivery.objects.filter(status=Delivery.DELIVERED).count() == 7
    assert sum(len(r.json) for r in receiver.accepted()) == 10  # three events came twice
    assert sorted(event["statement"]["id"] for event in receiver.effects()) == sorted(ids)


@pytest.mark.django_db(transaction=True)
def test_an_array_refused_for_good_is_split_until_only_the_refused_delivery_is_given_up(
    receiver, monkeypatch, no_recruiting
):
    target = batched_target(receiver, 8)
    Target.objects.filter(pk=target.pk).update(concurrency=1)  # one request at a time: in claim order
    ids = store_pending(monkeypatch, *[make_statement() for _ in range(8)])
    receiver.refuse_statements(ids[5])  # the receiver will not take this one, alone or not
    drain_round(target)

    assert [len(r.json) for r in receiver.requests] == [8, 4, 4, 2, 1, 1, 2]
    assert sorted(event["statement"]["id"] for event in receiver.effects()) == sorted(ids[:5] + ids[6:])
    statuses = dict(Delivery.objects.values_list("statement_uuid", "status"))
    assert [statuses[uuid.UUID(statement_id)] for statement_id in ids] == [Delivery.DELIVERED] * 5 + [
        Delivery.DEAD
    ] + [Delivery.DELIVERED] * 2
    # The dead delivery's attempt record shows the request's headers with its own event alone.
    [failed] = Attempt.objects.exclude(outcome=Attempt.SUCCESS)
    assert ids[5] in failed.request and ids[4] not in failed.request and "batch_" in failed.request
    target.refresh_from_db()
    assert target.enabled


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("max_attempts", [1, 2, 3])
def test_an_item_the_receiver_keeps_failing_is_given_up_alone_and_its_neighbours_land(
    receiver, monkeypatch, no_recruiting, max_attempts
):
    """A 5xx to an array may be about any one of its events: a delivery whose attempts run out in
    an array of several gets one more attempt, alone, so only the item the receiver fails alone
    is given up, however few attempts the target allows."""
    target = batched_target(receiver, 8)
    Target.objects.filter(pk=target.pk).update(concurrency=1, max_attempts=max_attempts)
    ids = store_pending(monkeypatch, *[make_statement() for _ in range(8)])
    receiver.refuse_statements(ids[5], status=500)  # a bug the receiver has for this event
    for _ in range(max_attempts + 1):
        drain_round(target)

    statuses = dict(Delivery.objects.values_list("statement_uuid", "status"))
    assert [statuses[uuid.UUID(statement_id)] for statement_id in ids] == [Delivery.DELIVERED] * 5 + [
        Delivery.DEAD
    ] + [Delivery.DELIVERED] * 2
    assert sorted(event["statement"]["id"] for event in receiver.effects()) == sorted(ids[:5] + ids[6:])
    carrying = [[event["statement"]["id"] for _, event in r.events()] for r in receiver.requests]
    assert [events for events in carrying if ids[5] in events][-1] == [ids[5]]  # given up alone
    dead = Delivery.objects.get(statement_uuid=ids[5])
    assert dead.attempts == max_attempts + 1


@pytest.mark.django_db(transaction=True)
def test_deliveries_too_old_for_another_retry_are_not_given_up_on_an_answer_they_shared(
    receiver, monkeypatch, no_recruiting, settings
):
    target = batched_target(receiver, 8)
    Target.objects.filter(pk=target.pk).update(concurrency=1)
    ids = store_pending(monkeypatch, *[make_statement() for _ in range(8)])
    settings.LRS_RETRY_MAX_AGE_SECONDS = 60
    settings.LRS_RETRY_BASE_SECONDS = 1000  # any retry would come after they are 60 s old
    Delivery.objects.update(created_at=timezone.now() - timedelta(seconds=59))
    receiver.refuse_statements(ids[5], status=500)
    drain_round(target)  # all eight fail together: none is given up on that answer
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.RETRYING}
    Delivery.objects.update(created_at=timezone.now() - timedelta(seconds=61))  # their retry is due
    drain_round(target)  # too old for arrays now, each alone: only the one the receiver fails is given up

    statuses = dict(Delivery.objects.values_list("statement_uuid", "status"))
    assert [statuses[uuid.UUID(statement_id)] for statement_id in ids] == [Delivery.DELIVERED] * 5 + [
        Delivery.DEAD
    ] + [Delivery.DELIVERED] * 2
    assert [len(r.json) for r in receiver.requests] == [8] + [1] * 8


@pytest.mark.django_db(transaction=True)
def test_an_answer_to_an_array_is_not_kept_on_its_deliveries_records(receiver, monkeypatch, no_recruiting):
    """It may quote other people's events, and an erasure clears only the erased person's records."""
    target = batched_target(receiver, 3)
    receiver.enqueue(status(500, body=b'{"error": "cannot take the event of learner E2"}'))
    store_pending(monkeypatch, *[make_statement() for _ in range(3)])
    drain_round(target)
    excerpts = set(Attempt.objects.values_list("response_excerpt", flat=True))
    assert excerpts == {ARRAY_ANSWER_NOTE}
    assert set(Delivery.objects.values_list("last_status_code", flat=True)) == {500}


@pytest.mark.django_db(transaction=True)
def test_a_failed_array_counts_once_towards_pausing_the_target(receiver, monkeypatch, no_recruiting):
    target = batched_target(receiver, 5)
    receiver.enqueue(status(503))
    store_pending(monkeypatch, *[make_statement() for _ in range(5)])
    drain_round(target)
    assert Delivery.objects.filter(status=Delivery.RETRYING).count() == 5
    target.refresh_from_db()
    assert target.consecutive_failures == 1 and target.paused_until is None


@pytest.mark.django_db(transaction=True)
def test_a_rate_limited_batched_target_books_one_send_slot_per_request(receiver, monkeypatch, no_recruiting):
    target = batched_target(receiver, 3)
    Target.objects.filter(pk=target.pk).update(rate_limit_per_second=50)
    monkeypatch.setattr(pacing, "_local_next_free", {})
    booked: list[int] = []
    real_book = pacing._book

    def book(target: Target, count: int) -> tuple[float, float]:
        if count:
            booked.append(count)
        return real_book(target, count)

    monkeypatch.setattr(pacing, "_book", book)
    store_pending(monkeypatch, *[make_statement() for _ in range(7)])
    drain_round(target)
    assert len(receiver.requests) == 3 and sum(booked) == 3
    assert Delivery.objects.filter(status=Delivery.DELIVERED).count() == 7
