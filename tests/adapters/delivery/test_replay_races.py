"""Two replays of the same dead delivery at once (the admin's *Replay* clicked twice, or the admin
action and ``manage.py deliveries_replay``): the delivery is sent again once. A replay takes
dead or cancelled deliveries only (``adapters/delivery/replay.py``); one the other replay put
back and a worker has sent since is neither, and a chat message is never posted twice (README
"Replay and backfill"; adapters/slack/adapter.py). Against the fake Slack."""

from __future__ import annotations

import pytest

from adapters.delivery import replay
from adapters.delivery.drain import delivery_send
from adapters.delivery.replay import deliveries_replay
from adapters.models import Delivery
from lrs.statements.store import statement_store
from tests.adapters.helpers import COURSE, expand_outbox
from tests.conftest import make_statement

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
