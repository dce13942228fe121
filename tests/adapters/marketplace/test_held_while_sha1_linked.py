"""``test_held_while_linked`` for an explicit ``mbox_sha1sum`` link, which an ``mbox`` resolves by
(``adapters.identity.resolution.agent_keys``): a delivery resolved while its mailbox's SHA-1 is
linked, unlinked or moved is resolved again (``outcomes._holds_overtaken``), not left held."""

from __future__ import annotations

import hashlib

import pytest

from adapters.delivery import outbox
from adapters.identity.links import Identifiers, identity_links_remove, identity_links_upsert
from adapters.models import Delivery
from lrs.statements.store import statement_store
from tests.adapters.helpers import expand_outbox, scored_completion
from tests.adapters.marketplace.test_held_while_linked import _drain, _send_linking_meanwhile

pytestmark = pytest.mark.django_db(transaction=True)
ADA_SHA1 = Identifiers(mbox_sha1sums=[hashlib.sha1(b"mailto:ada@example.com").hexdigest()])


def _written_not_sent(monkeypatch, email: str) -> int:
    with monkeypatch.context() as patched:
        patched.setattr(outbox, "expand_and_queue", lambda batch_ids, **kwargs: None)
        [statement_id] = statement_store(statements=[scored_completion(0.95, email=email)], credential=None)
    expand_outbox()
    return Delivery.objects.get(statement_uuid=statement_id, kind="deliver").id


def test_a_delivery_resolved_unmapped_while_its_mailboxs_sha1_is_linked_is_delivered(
    market_target, monkeypatch
):
    delivery_id = _written_not_sent(monkeypatch, "Ada@Example.com")
    _send_linking_meanwhile(
        monkeypatch, delivery_id, lambda: identity_links_upsert(employee_id="E300", identifiers=ADA_SHA1)
    )
    assert Delivery.objects.get(id=delivery_id).status != Delivery.HELD
    _drain()
    assert ("E300", "SAFETY-BASICS") in market_target.skills()
    assert Delivery.objects.get(id=delivery_id).status == Delivery.DELIVERED


def test_a_delivery_resolved_ambiguous_while_the_sha1_is_unlinked_is_delivered_to_the_addresss_employee(
    market_target, monkeypatch
):
    identity_links_upsert(employee_id="E100", identifiers=Identifiers(emails=["ada@example.com"]))
    identity_links_upsert(employee_id="E300", identifiers=ADA_SHA1)  # ambiguous
    delivery_id = _written_not_sent(monkeypatch, "ada@example.com")
    _send_linking_meanwhile(
        monkeypatch, delivery_id, lambda: identity_links_remove(employee_id="E300", identifiers=ADA_SHA1)
    )
    assert Delivery.objects.get(id=delivery_id).status != Delivery.HELD
    _drain()
    skills = market_target.skills()
    assert ("E100", "SAFETY-BASICS") in skills and ("E300", "SAFETY-BASICS") not in skills
    assert Delivery.objects.get(id=delivery_id).status == Delivery.DELIVERED
