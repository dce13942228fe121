"""A delivery put back without an attempt (``DeliveryBusy``, a Retry-After of a target's method, a
paused target, a rate limit booked up, a retraction waiting for its original) is not given up by
the retry policy's ``max_age``: that bounds retrying *failures* (``adapters.rules.retry``), and a
put-back is none. A delivery that waited longer than ``LRS_RETRY_MAX_AGE_SECONDS`` is sent when the
target takes it, and dies by age only if that attempt fails.

Decided, not a defect: dead-lettering an unfailed delivery turns a delay into a manual replay (the
target holds nothing of it until an admin acts), and each cause of a put-back ends by itself (a
lease, a rate-limit window, the breaker's probe, which does fail and so meets the policy); the wait
shows in ``lrs_deliveries_open``, its last error in the admin and a paused target's alert. An
identity hold is a separate, intended indefinite wait, and a retraction waiting for a held
original must not die by age either."""

from __future__ import annotations

from datetime import timedelta

import pytest
import responses
from django.utils import timezone

from adapters.base import DeliveryBusy
from adapters.delivery.drain import delivery_send
from adapters.delivery.replay import backfill
from adapters.models import Delivery
from adapters.webhook.adapter import WebhookAdapter
from lrs.statements.store import statement_store
from tests.conftest import HOOK, make_statement

pytestmark = pytest.mark.django_db

BUSY = "another delivery is changing the same record at this target"


@pytest.fixture
def old_delivery(monkeypatch, settings) -> Delivery:
    """One pending delivery created 25 h ago (max_age 24 h), never attempted, whose sends are put
    back (DeliveryBusy with a Retry-After) until the test lets them through."""
    from adapters.models import Target

    statement_store(statements=[make_statement()], credential=None)  # before the target: no outbox
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "s3cret")
    target = Target.objects.create(
        name="hook", adapter="webhook", config={"url": HOOK, "secret": {"env": "TEST_WEBHOOK_SECRET"}}
    )
    backfill(target=target)  # its drain request waits for a commit that never comes here
    delivery = Delivery.objects.get()
    Delivery.objects.filter(id=delivery.id).update(
        created_at=timezone.now() - timedelta(seconds=settings.LRS_RETRY_MAX_AGE_SECONDS + 3600)
    )

    def busy(self, prepared):
        raise DeliveryBusy(BUSY, retry_after=60)

    monkeypatch.setattr(WebhookAdapter, "send_prepared", busy)
    return delivery


def _due_now(delivery: Delivery) -> None:
    Delivery.objects.filter(id=delivery.id).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


@pytest.mark.xfail(
    strict=True,
    reason=(
        "decision: max_age bounds retrying failed attempts; a delivery put back without an attempt "
        "(busy, Retry-After, paused, rate-limited, waiting for its original) waits and is sent when "
        "the target takes it, never dead-lettered unfailed (module docstring)"
    ),
)
def test_a_delivery_put_back_for_longer_than_max_age_is_dead_lettered_with_a_clear_reason(old_delivery):
    for _ in range(3):
        _due_now(old_delivery)
        delivery_send(old_delivery.id)
    old_delivery.refresh_from_db()
    assert old_delivery.status == Delivery.DEAD
    assert "older than" in old_delivery.last_error


@responses.activate
def test_a_delivery_put_back_for_longer_than_max_age_is_sent_once_the_target_takes_it(
    old_delivery, monkeypatch
):
    for _ in range(3):
        _due_now(old_delivery)
        assert delivery_send(old_delivery.id) == Delivery.RETRYING
    old_delivery.refresh_from_db()
    assert old_delivery.attempts == 0 and old_delivery.last_error == BUSY
    assert old_delivery.next_attempt_at > timezone.now() + timedelta(seconds=50)  # its Retry-After

    monkeypatch.undo()  # the target takes it now
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "s3cret")
    responses.post(HOOK, status=200)
    _due_now(old_delivery)
    assert delivery_send(old_delivery.id) == Delivery.DELIVERED
    assert len(responses.calls) == 1
