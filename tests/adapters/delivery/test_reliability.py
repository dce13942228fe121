"""Delivery through a real Celery worker on a real Redis to a real local HTTP target.

Each test runs its own redis-server and worker subprocess (tests/adapters/conftest.py),
stores statements through the xAPI API in this process, and watches the fake target
(tests/targets/webhook_server.py), which counts distinct Idempotency-Keys: the number
of effects a receiver that dedupes by key would apply.
"""

from __future__ import annotations

import time

import pytest

from adapters.delivery import outbox, sweep
from adapters.delivery.replay import backfill, deliveries_replay
from adapters.models import Attempt, Delivery, OutboxBatch, Target
from tests.adapters.helpers import wait_until
from tests.conftest import make_statement
from tests.targets.webhook_server import hang, ok, retry_after, status

pytestmark = pytest.mark.django_db(transaction=True)

VOIDED = "http://adlnet.gov/expapi/verbs/voided"
WORKER_ENV = {
    "LRS_RETRY_BASE_SECONDS": "0.2",
    "LRS_RETRY_CAP_SECONDS": "1",
    "LRS_DELIVERY_CLAIM_SECONDS": "3",
    "TEST_WEBHOOK_SECRET": "test-webhook-secret",
}


@pytest.fixture
def target(webhook_target) -> Target:
    return Target.objects.create(
        name="hook",
        adapter="webhook",
        config={"url": webhook_target.url, "secret": {"env": "TEST_WEBHOOK_SECRET"}, "timeout_seconds": 1},
    )


@pytest.fixture
def worker(broker, celery_worker_process):
    return celery_worker_process(broker, extra_env=WORKER_ENV)


def delivered(count: int = 1):
    return lambda: Delivery.objects.filter(status=Delivery.DELIVERED).count() >= count


def post(xapi, *statements) -> list[str]:
    response = xapi.post_statements(list(statements))
    assert response.status_code == 200, response.content
    return response.json()


def test_retry_then_success(xapi, target, webhook_target, worker):
    webhook_target.enqueue(status(500), status(503))
    post(xapi, make_statement())
    wait_until(delivered(), message="delivered after two failures")
    delivery = Delivery.objects.get()
    assert delivery.attempts == 3
    assert list(Attempt.objects.values_list("outcome", flat=True)) == ["retry", "retry", "success"]
    assert len(webhook_target.distinct_keys()) == 1


def test_retry_after_is_respected(xapi, target, webhook_target, worker):
    webhook_target.enqueue(retry_after(2))
    post(xapi, make_statement())
    wait_until(delivered(), timeout=30)
    first, second = webhook_target.requests[:2]
    assert second.arrived_at - first.arrived_at >= 1.9


def test_permanent_failure_goes_to_dead_letter_and_replay_delivers_once(xapi, target, webhook_target, worker):
    webhook_target.enqueue(status(422))
    post(xapi, make_statement())
    wait_until(lambda: Delivery.objects.filter(status=Delivery.DEAD).exists(), message="dead letter")
    assert Attempt.objects.count() == 1
    assert webhook_target.accepted() == []

    deliveries_replay(target=target)
    wait_until(delivered())
    time.sleep(0.5)
    assert len(webhook_target.accepted()) == 1
    assert len(webhook_target.effects()) == 1


def test_worker_killed_mid_delivery_leads_to_exactly_one_effect(
    xapi, target, webhook_target, broker, celery_worker_process
):
    first = celery_worker_process(broker, extra_env=WORKER_ENV)
    # The target takes 3 s to answer (and then applies the effect); the client times out
    # after 5 s, so the worker is still waiting when it dies.
    Target.objects.filter(pk=target.pk).update(config={**target.config, "timeout_seconds": 5})
    webhook_target.enqueue(hang(3))
    post(xapi, make_statement())
    wait_until(lambda: len(webhook_target.requests) == 1, message="the first request reached the target")
    first.kill()
    assert Delivery.objects.get().status == Delivery.IN_FLIGHT

    celery_worker_process(broker, extra_env=WORKER_ENV)

    # The claim runs out after 3 s; the sweep (Celery beat in production) dispatches it again.
    def swept_and_delivered() -> bool:
        sweep.sweep_due()
        return delivered()()

    wait_until(swept_and_delivered, timeout=30, interval=0.5)
    assert len(webhook_target.requests) == 2
    assert len(webhook_target.distinct_keys()) == 1
    assert len(webhook_target.effects()) == 1


@pytest.mark.parametrize("batch_size", [1, 4], ids=["a request each", "arrays of 4"])
def test_worker_killed_in_the_middle_of_a_claimed_batch_lands_each_delivery_once_in_effect(
    xapi, target, webhook_target, broker, celery_worker_process, batch_size
):
    # Batches of 8 with 2 requests in flight per drain (concurrency 4 over two drain slots), each
    # answered (and applied) after 0.4 s: the kill finds a claimed batch with some sends applied,
    # some in flight (applied after the kill), some not started. With ``batch_size`` 4 a request
    # carries 4 deliveries (an array), so a claimed batch is two requests.
    batch_env = {**WORKER_ENV, "LRS_DRAIN_BATCH": "8"}
    config = {**target.config, "batch_size": batch_size}
    Target.objects.filter(pk=target.pk).update(concurrency=4, config=config)
    webhook_target.set_default(hang(0.4))
    first = celery_worker_process(broker, extra_env=batch_env)
    ids = post(xapi, *[make_statement() for _ in range(24)])
    wait_until(lambda: len(webhook_target.requests) >= 3, interval=0.02, message="a batch partly sent")
    first.kill()
    reached_before_kill = sum(len(request.events()) for request in webhook_target.requests)
    claimed = Delivery.objects.filter(status=Delivery.IN_FLIGHT).count()
    assert claimed > 0 and reached_before_kill < 24, (claimed, reached_before_kill)

    webhook_target.set_default(ok())
    celery_worker_process(broker, extra_env=batch_env)

    # The claims run out (after 4 rounds of two 1 s timeouts: drain.claim_seconds);
    # the sweep (Celery beat in production) asks for a drain, which claims them again.
    def swept_and_delivered() -> bool:
        sweep.sweep_due()
        return delivered(24)()

    wait_until(swept_and_delivered, timeout=60, interval=0.5, message="all 24 delivered")
    assert Delivery.objects.exclude(status=Delivery.DELIVERED).count() == 0
    assert {effect["statement"]["id"] for effect in webhook_target.effects()} == set(ids)
    assert len(webhook_target.effects()) == 24  # one effect per statement, however often it was sent
    keys = [key for request in webhook_target.accepted() for key, _ in request.events()]
    resent = {key for key in keys if keys.count(key) > 1}
    print(f"{reached_before_kill} requests before the kill, {claimed} claimed, {len(resent)} sent twice")


def test_redis_down_during_ingest_loses_nothing(
    xapi, target, webhook_target, private_redis, broker, celery_worker_process
):
    private_redis.stop()
    started = time.monotonic()
    ids = post(xapi, *[make_statement() for _ in range(3)])
    assert time.monotonic() - started < 10, "ingest must not hang on a dead broker"
    # The publish runs on this process's publisher thread, after the response: wait for it.
    assert outbox.flush_publisher(timeout=10)
    # The batch's outbox entry committed with the statements, marked as never handed over.
    [batch] = OutboxBatch.objects.all()
    assert batch.dispatched_at is None and len(batch.statement_pks) == 3

    private_redis.start()
    celery_worker_process(broker, extra_env=WORKER_ENV)
    assert sweep.sweep_due() == 3
    wait_until(delivered(3))
    assert {effect["statement"]["id"] for effect in webhook_target.effects()} == set(ids)


@pytest.mark.parametrize("batch_size", [1, 4], ids=["a request each", "arrays"])
def test_voiding_after_delivery_sends_one_retraction(xapi, target, webhook_target, worker, batch_size):
    Target.objects.filter(pk=target.pk).update(config={**target.config, "batch_size": batch_size})
    [statement_id] = post(xapi, make_statement())
    wait_until(delivered())
    post(xapi, make_statement(verb=VOIDED, object={"objectType": "StatementRef", "id": statement_id}))
    wait_until(delivered(2))
    time.sleep(0.5)
    events = [event["event"] for request in webhook_target.accepted() for _, event in request.events()]
    assert events == ["statement.stored", "statement.voided"]
    assert all(isinstance(request.json, list) == (batch_size > 1) for request in webhook_target.requests)


def test_backfill_is_idempotent(xapi, target, webhook_target, worker):
    Target.objects.filter(pk=target.pk).update(enabled=False)
    post(xapi, make_statement(), make_statement())
    assert Delivery.objects.count() == 0
    Target.objects.filter(pk=target.pk).update(enabled=True)
    target.refresh_from_db()
    assert backfill(target=target)["created"] == 2
    assert backfill(target=target)["created"] == 0
    wait_until(delivered(2))
    time.sleep(0.5)
    assert len(webhook_target.accepted()) == 2
