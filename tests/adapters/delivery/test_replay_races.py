"""Two replays of the same dead delivery at once (the admin's *Replay* clicked twice, or the admin
action and ``manage.py deliveries_replay``): the delivery is sent again once. A replay takes
dead or cancelled deliveries only (``adapters/delivery/replay.py``); one the other replay put
back and a worker has sent since is neither, and a chat message is never posted twice (README
"Replay and backfill"; adapters/slack/adapter.py). Against the fake Slack. And a void that commits
between a replay's check that the statement is live and its write: what the void retracted is not
sent again (the worker's check when it claims, README "Voiding reaches downstream"). The fake PMS."""

from __future__ import annotations

import pytest
from django.utils import timezone

from adapters.delivery import replay
from adapters.delivery.drain import delivery_send
from adapters.delivery.replay import deliveries_replay
from adapters.models import Delivery
from lrs.statements.store import statement_store
from tests.adapters.helpers import COURSE, expand_outbox, store_now, voiding
from tests.conftest import make_statement
from tests.targets.behaviours import applied_then

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("retries_far_off")]


def test_a_replay_racing_another_does_not_send_the_delivery_again_once_it_was_sent(slack_target, monkeypatch):
    statement_store(
        statements=[make_statement(activity=COURSE, result={"completion": True})], credential=None
    )
    [delivery_id] = expand_outbox()
    Delivery.objects.filter(id=delivery_id).update(status=Delivery.DEAD, last_error="HTTP 503")
    live_statement_pks = replay.live_statement_pks
    raced: list[int] = []

    def the_other_replay_and_its_send_meanwhile(pks):
        """The second replay has read the dead delivery; before it writes, the first one puts it
        back and a worker posts it (as though the first had committed in another process)."""
        if not raced:
            raced.append(delivery_id)
            assert deliveries_replay(delivery_ids=[delivery_id]).replayed == [delivery_id]
            assert delivery_send(delivery_id) == Delivery.DELIVERED
        return live_statement_pks(pks)

    monkeypatch.setattr(replay, "live_statement_pks", the_other_replay_and_its_send_meanwhile)
    deliveries_replay(delivery_ids=[delivery_id])
    if Delivery.objects.get(id=delivery_id).status == Delivery.PENDING:
        delivery_send(delivery_id)

    assert (len(slack_target.messages()), Delivery.objects.get(id=delivery_id).status) == (
        1,
        Delivery.DELIVERED,
    ), "the second replay put the delivered message back to pending and it was posted again"


def test_a_void_committed_between_a_replays_check_and_its_write_leaves_the_pms_holding_nothing(
    pms_target, monkeypatch, django_capture_on_commit_callbacks
):
    """The dead delivery may have taken effect (the PMS applied it, then answered 500), so the void
    retracts it; the replay, which found the statement live just before, must not bring it back."""
    pms_target.enqueue(applied_then(500))
    [statement_id] = store_now(
        django_capture_on_commit_callbacks,
        make_statement(activity=COURSE, result={"completion": True, "score": {"scaled": 0.9}}),
    )
    delivery = Delivery.objects.get(kind="deliver")
    assert delivery.maybe_applied and len(pms_target.events()) == 1
    Delivery.objects.filter(id=delivery.id).update(status=Delivery.DEAD)
    live_statement_pks = replay.live_statement_pks

    def checked_then_voided(pks):
        live = live_statement_pks(pks)
        if delivery.statement_id in live:
            statement_store(statements=[voiding(statement_id)], credential=None)
        return live

    monkeypatch.setattr(replay, "live_statement_pks", checked_then_voided)
    deliveries_replay(target=delivery.target)
    while due := sorted(
        Delivery.objects.filter(status__in=[Delivery.PENDING, Delivery.RETRYING]).values_list("id", flat=True)
    ):
        Delivery.objects.filter(id__in=due).update(next_attempt_at=timezone.now())
        for delivery_id in due:
            delivery_send(delivery_id)

    statuses = dict(Delivery.objects.values_list("kind", "status"))
    assert (pms_target.events(), statuses) == ({}, {"deliver": "cancelled", "retract": "delivered"})
