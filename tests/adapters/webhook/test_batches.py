"""Webhook batches (``batch_size``, issue 14's "optional batch delivery for targets whose API takes
arrays"): one request carries an array of events, each with its own ``idempotencyKey``, signed as a
whole; the receiver holds what it holds without batches, per item key."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import responses
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from standardwebhooks import Webhook

from adapters.base import AlertNotice, DeliveryContext, ErasureNotice, Prepared
from adapters.config import ConfigProblem, validate_target_config
from adapters.delivery import drain as drains
from adapters.delivery import outbox, pacing, queue
from adapters.delivery.arrays import ARRAY_ANSWER_NOTE
from adapters.models import Attempt, Delivery, Target
from adapters.webhook import adapter as webhook_adapter
from adapters.webhook.adapter import WebhookAdapter, batch_key
from lrs.statements.store import statement_store
from tests.adapters.helpers import expand_outbox, voiding
from tests.conftest import make_statement
from tests.targets.webhook_server import WebhookServer, applied_then, status

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


@pytest.fixture
def receiver(monkeypatch) -> Iterator[WebhookServer]:
    monkeypatch.setenv("TEST_BATCH_SECRET", "batch-secret")
    server = WebhookServer(secret="batch-secret", batched=True).start()
    try:
        yield server
    finally:
        server.stop()


def batched_target(receiver: WebhookServer, batch_size: int) -> Target:
    config = {"url": receiver.url, "secret": {"env": "TEST_BATCH_SECRET"}, "timeout_seconds": 2}
    return Target.objects.create(
        name="batched", adapter="webhook", config={**config, "batch_size": batch_size}, concurrency=4
    )


def store_pending(monkeypatch, *statements: dict) -> list[str]:
    """Store without the eager fan-out at commit; the deliveries wait for a drain."""
    with monkeypatch.context() as patched:
        patched.setattr(outbox, "expand_and_queue", lambda batch_ids, **kwargs: None)
        ids = statement_store(statements=list(statements), credential=None)
    expand_outbox()
    return ids


def drain_round(target: Target) -> None:
    """One drained batch of whatever is due, retries included, with the breaker closed: the
    properties here are about what the receiver holds, not about pacing."""
    Delivery.objects.filter(status=Delivery.RETRYING).update(next_attempt_at=timezone.now())
    Target.objects.filter(pk=target.pk).update(paused_until=None, consecutive_failures=0)
    target.refresh_from_db()
    drains._one_batch(target)


@pytest.fixture
def no_recruiting(monkeypatch, settings):
    """A full batch asks for another drain: recorded nowhere, not run (eagerly it would claim too)."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    monkeypatch.setattr(queue, "publish", lambda name, args, **kwargs: True)


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


def holdings(receiver: WebhookServer) -> dict[str, list[str]]:
    """Per statement id, the events the receiver applied (first per item key), in arrival order."""
    held: dict[str, list[str]] = {}
    for event in receiver.effects():
        held.setdefault(event["statement"]["id"], []).append(event["event"])
    return held


ANSWERS = st.sampled_from([None, None, status(500), applied_then(500), status(429), status(422)])


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
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
