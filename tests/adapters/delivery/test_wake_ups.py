"""Wake-ups for retries that come due (``adapters.delivery.queue``), with a broker: every retry of
a target is woken by a message, never left for the sweep.

A wake-up message is published with an ETA; at most one is kept in flight per target. These tests
record what would be published instead of running a worker, so the orderings a loaded worker
produces (a wake-up running before the retry it should serve is due) are exact, not timed.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from adapters.delivery import drain as drains
from adapters.delivery import queue
from adapters.models import Delivery, Target
from lrs.statements.models import Statement
from lrs.statements.store import statement_store
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(settings, monkeypatch) -> list[tuple[str, tuple, object]]:
    """The messages the workers would receive (name, args, eta), with a broker configured."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    cache.clear()
    sent: list[tuple[str, tuple, object]] = []

    def publish(name: str, args: tuple, *, eta: object = None) -> bool:
        sent.append((name, args, eta))
        return True

    monkeypatch.setattr(queue, "publish", publish)
    return sent


def retrying(target: Target, seconds: float) -> Delivery:
    """A delivery of a fresh statement whose retry comes due ``seconds`` from now."""
    [statement_id] = statement_store(statements=[make_statement()], credential=None)
    statement = Statement.objects.get(statement_id=statement_id)
    return Delivery.objects.create(
        target=target,
        statement=statement,
        statement_uuid=statement.statement_id,
        idempotency_key=f"{statement_id}:{target.name}:deliver",
        status=Delivery.RETRYING,
        attempts=1,
        next_attempt_at=timezone.now() + timedelta(seconds=seconds),
    )


def wake_ups(sent) -> list:
    return [eta for name, args, eta in sent if name == queue.DRAIN_TASK and args[1] is None]


def test_a_wake_up_that_finds_its_retry_not_yet_due_wakes_again_for_it(target, published):
    # A loaded worker: the first retry's wake-up is still queued when a second failure of the
    # same target schedules a later retry, so that one gets no message of its own; the first
    # wake-up then runs before the later retry is due. It must arm a wake-up for it.
    Target.objects.filter(pk=target.pk).update(enabled=False)  # no deliveries from the stores below
    early = retrying(target, 0.2)
    later = retrying(target, 30)
    queue.request_drain(target.id, at=early.next_attempt_at, after_commit=False)
    queue.request_drain(target.id, at=later.next_attempt_at, after_commit=False)
    assert wake_ups(published) == [early.next_attempt_at]
    Delivery.objects.filter(pk=early.pk).update(status=Delivery.DELIVERED)  # another drain sent it

    time.sleep(0.25)
    assert drains.drain(target.id, None) == 0  # the first wake-up runs: nothing is due
    assert wake_ups(published)[1:] == [later.next_attempt_at]


def test_an_earlier_retry_is_not_left_behind_a_later_wake_up(target, published):
    # A Retry-After of a minute holds the target's wake-up; a retry due in a second must not wait
    # for it (nor for the sweep).
    Target.objects.filter(pk=target.pk).update(enabled=False)
    later = retrying(target, 60)
    early = retrying(target, 1)
    queue.request_drain(target.id, at=later.next_attempt_at, after_commit=False)
    queue.request_drain(target.id, at=early.next_attempt_at, after_commit=False)
    assert wake_ups(published) == [later.next_attempt_at, early.next_attempt_at]
    queue.request_drain(target.id, at=early.next_attempt_at + timedelta(seconds=5), after_commit=False)
    assert len(wake_ups(published)) == 2  # the earlier wake-up will come back for this one


def test_a_drain_that_empties_the_due_work_arms_the_wake_up_for_the_next_retry(target, published):
    Target.objects.filter(pk=target.pk).update(enabled=False)
    later = retrying(target, 30)
    assert drains.drain(target.id, 0) == 0
    assert wake_ups(published) == [later.next_attempt_at]


def test_a_paused_target_gets_one_wake_up_at_its_probe_time_not_a_drain_loop(target, published):
    Target.objects.filter(pk=target.pk).update(enabled=False)
    retrying(target, -1)  # due now, but the target is paused
    probe_at = timezone.now() + timedelta(seconds=20)
    Target.objects.filter(pk=target.pk).update(paused_until=probe_at)
    assert drains.drain(target.id, 0) == 0
    assert [(args, eta) for name, args, eta in published] == [((target.id, None), probe_at)]
