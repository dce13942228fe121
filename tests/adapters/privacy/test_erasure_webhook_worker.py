"""An erasure made while a webhook worker sends the person's statement: the worker claimed it (in
flight, which the erasure cannot cancel) and sends it while the erasure holds the statement's
deliveries locked, its transaction open. The worker's outcome write then waits for the erasure's
commit, and may wait past the worker's claim (an erasure of a person with many statements).

The webhook's default ``on_erasure`` (``notify``) writes no retraction: what keeps the receiver
from hearing of the person after its ``actor.erased`` notice is that the notice waits for the send
to be recorded, and that the send is made once. A worker waiting for the erasure must not lose
its outcome to the sweep (``sweep._put_back_stuck`` skips locked rows; the outcome write fences on
the claim it ran under, not on the time: ``outcomes._write``), so the delivery ends delivered,
never "outcome unknown" nor sent a second time.

Real threads on real PostgreSQL, separate connections; the real worker path (``delivery_send``:
claim, read, send to the fake receiver, outcome)."""

from __future__ import annotations

import threading
import time

import pytest
from django.utils import timezone

from adapters.delivery import outbox
from adapters.delivery.drain import delivery_send
from adapters.delivery.sweep import _put_back_stuck
from adapters.models import Attempt, Delivery, ErasureRequest, Target
from adapters.privacy import erasure
from adapters.privacy.erasure import erase_subject, finish_erasures
from adapters.privacy.subjects import subject_for
from adapters.webhook.adapter import WebhookAdapter
from lrs.statements.store import statement_store
from tests.adapters.helpers import COURSE, expand_outbox
from tests.adapters.privacy.test_erasure_concurrent_writers import Sides, _stopped_once
from tests.adapters.privacy.test_retention_erasure_race import TIMEOUT, _waiting_for_a_lock
from tests.conftest import make_statement
from tests.lrs.concurrency.threads import POSTGRESQL_ONLY

pytestmark = [pytest.mark.django_db(transaction=True), POSTGRESQL_ONLY]


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.parametrize("mode", [ErasureRequest.DELETE, ErasureRequest.PSEUDONYMISE])
def test_a_webhook_worker_waiting_for_an_erasure_past_its_claim_records_its_one_send(
    webhook_target, fake_env, mode, monkeypatch, settings
):
    settings.LRS_DELIVERY_CLAIM_SECONDS = 1  # a claim of a few seconds: it passes while waiting
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "test-webhook-secret")
    config = {"url": webhook_target.url, "secret": {"env": "TEST_WEBHOOK_SECRET"}, "timeout_seconds": 1}
    Target.objects.create(name="hook", adapter="webhook", config=config)
    with monkeypatch.context() as patched:  # stored, its delivery written, not sent yet
        patched.setattr(outbox, "expand_and_queue", lambda batch_ids, **kwargs: None)
        statement_store(
            statements=[make_statement(activity=COURSE, result={"completion": True})], credential=None
        )
    expand_outbox()
    [delivery] = Delivery.objects.all()
    # The worker stops once it claimed and read the statement, just before its send.
    sending, send = threading.Event(), threading.Event()
    monkeypatch.setattr(
        WebhookAdapter,
        "send_prepared",
        _stopped_once(WebhookAdapter.send_prepared, sending, send, after=False),
    )
    # The erasure stops once it holds the statement and its deliveries locked.
    locked, commit = threading.Event(), threading.Event()
    monkeypatch.setattr(
        erasure,
        "statements_and_deliveries_locked",
        _stopped_once(erasure.statements_and_deliveries_locked, locked, commit, after=True),
    )
    sides = Sides()
    sides.start("worker", lambda: delivery_send(delivery.id))
    try:
        assert sending.wait(TIMEOUT), "the worker never came to its send"
        erase = lambda: erase_subject(subject_for(employee_id="E100"), mode=mode, requested_by="dpo")  # noqa: E731
        sides.start("erasure", erase)
        assert locked.wait(TIMEOUT), "the erasure never locked the deliveries"
        send.set()  # the worker sends, then its outcome write waits for the erasure
        _until(lambda: len(webhook_target.requests) == 1, "the worker never sent")
        _until(_waiting_for_a_lock, "the worker's outcome write did not wait for the erasure")
        claim = Delivery.objects.get(id=delivery.id).claimed_until
        _until(lambda: timezone.now() > claim, "the claim never passed")
        # The sweep, meanwhile: the delivery is past its claim, in flight, locked by the erasure.
        assert _put_back_stuck(timezone.now()) == 0, "the sweep took the delivery the worker sent"
    finally:
        send.set()
        commit.set()
        sides.join()
    _put_back_stuck(timezone.now())  # the sweep's next run, and its finish of erasures
    finish_erasures()

    assert sides.errors == {}, {name: repr(exc) for name, exc in sides.errors.items()}
    sent = [request.json.get("event") for request in webhook_target.requests]
    assert sent == ["statement.stored", "actor.erased"], "sent once, told of the erasure after"
    assert list(ErasureRequest.objects.values_list("status", flat=True)) == [ErasureRequest.DONE]
    assert not Attempt.objects.filter(maybe_applied=True).exists()
    if mode == ErasureRequest.PSEUDONYMISE:  # (delete mode deletes the delivery with its statement)
        delivery.refresh_from_db()
        assert (delivery.status, delivery.maybe_applied, delivery.attempts) == (Delivery.DELIVERED, False, 1)
