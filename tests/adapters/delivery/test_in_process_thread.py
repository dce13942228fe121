"""Without a broker (the quickstart, a small single-process install), deliveries run on one
background thread per process fed after commit (``LRS_INPROCESS_DELIVERY=thread``, the default
outside tests): a target that does not answer never slows an xAPI request, and everything stored
is still delivered."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from adapters.delivery.outbox import flush_in_process
from adapters.models import Delivery, Target
from tests.adapters.helpers import wait_until
from tests.conftest import make_statement
from tests.targets.behaviours import hang

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def off_request(settings, monkeypatch):
    settings.LRS_INPROCESS_DELIVERY = "thread"
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "test-webhook-secret")


def hook(url: str) -> Target:
    return Target.objects.create(
        name="hook", adapter="webhook", config={"url": url, "secret": {"env": "TEST_WEBHOOK_SECRET"}}
    )


def test_a_post_does_not_wait_for_a_target_that_does_not_answer(off_request, xapi, webhook_target):
    hook(webhook_target.url)
    webhook_target.set_default(hang(3))
    started = time.monotonic()
    response = xapi.post_statements(make_statement())
    took = time.monotonic() - started
    assert response.status_code == 200
    assert took < 1.0, f"the POST took {took:.2f} s"
    assert flush_in_process(timeout=30)
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (Delivery.DELIVERED, 1)
    assert len(webhook_target.distinct_keys()) == 1


def test_a_burst_is_delivered_by_a_bounded_set_of_threads_whatever_its_size(
    off_request, xapi, webhook_target, settings
):
    hook(webhook_target.url)
    webhook_target.set_default(hang(0.05))
    for _ in range(40):
        assert xapi.post_statements(make_statement()).status_code == 200
    workers = [thread.name for thread in threading.enumerate() if thread.name.startswith("lrs-inprocess-")]
    assert len(workers) <= 1 + settings.LRS_INPROCESS_DRAIN_THREADS, workers
    assert flush_in_process(timeout=60)
    assert Delivery.objects.filter(status=Delivery.DELIVERED).count() == 40
    assert len(webhook_target.distinct_keys()) == 40


def test_a_voiding_statement_does_not_wait_for_the_retraction_either(off_request, xapi, webhook_target):
    hook(webhook_target.url)
    original = make_statement(statement_id=str(uuid.uuid4()))
    assert xapi.post_statements(original).status_code == 200
    assert flush_in_process(timeout=30)
    webhook_target.set_default(hang(3))
    voiding = make_statement(verb="http://adlnet.gov/expapi/verbs/voided")
    voiding["object"] = {"objectType": "StatementRef", "id": original["id"]}
    started = time.monotonic()
    assert xapi.post_statements(voiding).status_code == 200
    assert time.monotonic() - started < 1.0
    assert flush_in_process(timeout=30)
    retraction = Delivery.objects.exclude(kind="deliver").get()  # the webhook's statement.voided
    assert retraction.status == Delivery.DELIVERED


def test_a_target_that_does_not_answer_holds_up_no_other_target(off_request, xapi, webhook_target):
    from tests.targets.webhook_server import WebhookServer

    hook(webhook_target.url)
    webhook_target.set_default(hang(5))
    quick = WebhookServer(secret="test-webhook-secret").start()
    try:
        Target.objects.create(
            name="quick",
            adapter="webhook",
            config={"url": quick.url, "secret": {"env": "TEST_WEBHOOK_SECRET"}},
        )
        started = time.monotonic()
        assert xapi.post_statements(make_statement()).status_code == 200
        wait_until(lambda: len(quick.distinct_keys()) == 1, timeout=4, message="the quick target served")
        assert time.monotonic() - started < 4  # not after the other's five seconds
        assert flush_in_process(timeout=30)
        assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.DELIVERED}
    finally:
        quick.stop()
