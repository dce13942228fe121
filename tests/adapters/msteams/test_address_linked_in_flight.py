"""A Teams feed notification whose employee has no address yet waits held
(``test_waiting_for_an_address.py``); an address linked while it resolves must not leave it held:
the link's release passes it by in flight. Real threads, each with its own connection."""

from __future__ import annotations

import pytest

from adapters.delivery import outbox
from adapters.delivery.drain import drain
from adapters.identity.links import Identifiers, identity_links_upsert
from adapters.models import Delivery, Target
from lrs.statements.store import statement_store
from tests.adapters.helpers import expand_outbox, teams_feed_config
from tests.adapters.marketplace.test_held_while_linked import _send_linking_meanwhile
from tests.adapters.msteams.test_waiting_for_an_address import ACCOUNT, completion_by_account

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("retries_far_off")]


@pytest.fixture
def feed(fake_env, graph_server):
    Target.objects.create(name="teams", adapter="msteams", config=teams_feed_config(graph_server))
    return graph_server


def test_an_address_linked_while_the_notification_resolved_is_not_left_held(feed, monkeypatch):
    """The change names the address, not the account the delivery waits under, yet it may resolve
    the hold: the outcome runs again rather than hold (``outcomes._holds_overtaken``)."""
    identity_links_upsert(employee_id="E300", identifiers=Identifiers(accounts=[ACCOUNT]))
    with monkeypatch.context() as patched:  # its delivery written, not sent yet
        patched.setattr(outbox, "expand_and_queue", lambda batch_ids, **kwargs: None)
        statement_store(statements=[completion_by_account()], credential=None)
    expand_outbox()
    delivery = Delivery.objects.get()
    _send_linking_meanwhile(
        monkeypatch,
        delivery.id,
        lambda: identity_links_upsert(employee_id="E300", identifiers=Identifiers(emails=["bo@example.com"])),
    )
    assert Delivery.objects.get(id=delivery.id).status != Delivery.HELD
    drain(Target.objects.get(name="teams").id, slot=0)
    assert [n["user"] for n in feed.notifications()] == ["bo@example.com"]
