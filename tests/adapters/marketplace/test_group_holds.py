"""An anonymous Group is resolved through its members (``resolution.employee_for_actor``): each
must be linked to the same employee. Held ambiguous, it waits under its first member's key, yet a
change of another member's link may resolve it (that member moved to the first's employee): the
change must bring it back, held or resolved in flight, not leave it for a reconciliation."""

from __future__ import annotations

import pytest

from adapters.delivery import outbox
from adapters.identity.holds import identity_conflicts
from adapters.identity.links import Identifiers, identity_links_move, identity_links_upsert
from adapters.identity.resolution import AMBIGUOUS
from adapters.models import Delivery
from lrs.statements.store import statement_store
from tests.adapters.helpers import expand_outbox, scored_completion, store_now
from tests.adapters.marketplace.test_held_while_linked import _drain, _send_linking_meanwhile

pytestmark = pytest.mark.django_db(transaction=True)
GROUP = {
    "objectType": "Group",
    "member": [{"mbox": "mailto:one@example.com"}, {"mbox": "mailto:two@example.com"}],
}
TWO = Identifiers(emails=["two@example.com"])
HR = "https://hr.example.com"
ACCOUNTS = {"objectType": "Group", "member": [{"account": {"homePage": HR, "name": n}} for n in ("a1", "a2")]}
A2 = Identifiers(accounts=[{"homePage": HR, "name": "a2"}])


def _ambiguous_pair() -> None:
    identity_links_upsert(employee_id="E100", identifiers=Identifiers(emails=["one@example.com"]))
    identity_links_upsert(employee_id="E200", identifiers=TWO)


def test_a_group_held_ambiguous_is_released_when_another_members_account_moves(
    market_target, django_capture_on_commit_callbacks
):
    """By accounts: a move of an address also releases what waits under the employee's other keys
    (``addressed``), which hides the hole for addresses."""
    identity_links_upsert(
        employee_id="E100", identifiers=Identifiers(accounts=[{"homePage": HR, "name": "a1"}])
    )
    identity_links_upsert(employee_id="E200", identifiers=A2)
    [statement_id] = store_now(django_capture_on_commit_callbacks, scored_completion(0.95, actor=ACCOUNTS))
    delivery = Delivery.objects.get(statement_uuid=statement_id, kind="deliver")
    assert (delivery.status, delivery.held_key) == (Delivery.HELD, f"account::{HR}::a1")
    with django_capture_on_commit_callbacks(execute=True):
        identity_links_move(identifiers=A2, from_employee_id="E200", to_employee_id="E100")
    assert Delivery.objects.get(id=delivery.id).status != Delivery.HELD
    _drain()
    assert ("E100", "SAFETY-BASICS") in market_target.skills()
    assert Delivery.objects.get(id=delivery.id).status == Delivery.DELIVERED


def test_a_group_resolved_ambiguous_while_another_members_address_moves_is_delivered(
    market_target, monkeypatch
):
    _ambiguous_pair()
    with monkeypatch.context() as patched:  # its delivery written, not sent yet
        patched.setattr(outbox, "expand_and_queue", lambda batch_ids, **kwargs: None)
        [statement_id] = statement_store(statements=[scored_completion(0.95, actor=GROUP)], credential=None)
    expand_outbox()
    delivery_id = Delivery.objects.get(statement_uuid=statement_id, kind="deliver").id
    _send_linking_meanwhile(
        monkeypatch,
        delivery_id,
        lambda: identity_links_move(identifiers=TWO, from_employee_id="E200", to_employee_id="E100"),
    )
    assert Delivery.objects.get(id=delivery_id).status != Delivery.HELD
    _drain()
    assert ("E100", "SAFETY-BASICS") in market_target.skills()
    assert Delivery.objects.get(id=delivery_id).status == Delivery.DELIVERED


def test_the_held_report_names_every_employee_a_held_groups_members_are_linked_to(
    market_target, django_capture_on_commit_callbacks
):
    _ambiguous_pair()
    store_now(django_capture_on_commit_callbacks, scored_completion(0.95, actor=GROUP))
    [group] = identity_conflicts()
    assert (group.key, group.reason, group.candidates) == (
        "email:one@example.com",
        AMBIGUOUS,
        ["E100", "E200"],
    )
