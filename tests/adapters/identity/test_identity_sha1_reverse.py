"""The reverse of ``test_identity_sha1``: an ``mbox_sha1sum`` linked explicitly (identity API, CSV,
admin) names the mailbox it is the SHA-1 of (xAPI 1.0.3 Data 2.4.2.3,
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#inversefunctional), so a statement
whose actor is that mailbox as an ``mbox`` resolves through it, as a linked address resolves its
SHA-1. A SHA-1 cannot be normalised, so the forms that meet are those a link of the ``mbox``'s
address would derive: of the address as written, as the store files it (domain lower-cased) and
as resolution matches it (the lookup key's address)."""

from __future__ import annotations

import hashlib

import pytest

from adapters.base import DeliveryHeld
from adapters.identity.holds import identity_conflicts
from adapters.identity.links import (
    Identifiers,
    identity_links_move,
    identity_links_remove,
    identity_links_upsert,
)
from adapters.identity.resolution import AMBIGUOUS, UNMAPPED, employee_email, employee_for_actor, prefetched
from adapters.models import Delivery
from tests.adapters.helpers import COURSE, store_now
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db


def sha1_of(address: str) -> str:
    return hashlib.sha1(f"mailto:{address}".encode()).hexdigest()


def mailbox(address: str) -> dict:
    return {"objectType": "Agent", "mbox": f"mailto:{address}"}


def by_mbox(address: str) -> dict:
    return make_statement(activity=COURSE, actor_email=address)


def link(employee_id: str, *emails: str) -> int:
    return identity_links_upsert(employee_id=employee_id, identifiers=Identifiers(emails=list(emails)))


def link_sha1(employee_id: str, address: str) -> int:
    return identity_links_upsert(
        employee_id=employee_id, identifiers=Identifiers(mbox_sha1sums=[sha1_of(address)])
    )


def sha1s(address: str) -> Identifiers:
    return Identifiers(mbox_sha1sums=[sha1_of(address)])


def pms_employees(pms) -> list[str]:
    return sorted(event["employeeId"] for event in pms.events().values())


def test_a_completion_by_an_address_whose_sha1_is_linked_reaches_the_pms_and_the_marketplace(
    pms_target, market_target, django_capture_on_commit_callbacks
):
    link_sha1("E300", "ada@example.com")
    store_now(django_capture_on_commit_callbacks, by_mbox("ada@example.com"))
    assert pms_employees(pms_target) == ["E300"]
    assert set(market_target.skills()) == {("E300", "SAFETY-BASICS")}


def test_the_mbox_meets_the_sha1_of_its_address_as_written_as_filed_and_as_matched():
    link_sha1("E1", "Bo@Example.COM")  # as a client that hashes what it writes
    link_sha1("E2", "Cy@example.com")  # as the store files "Cy@EXAMPLE.com" (domain lower-cased)
    link_sha1("E3", "ada@example.com")  # as resolution matches it (lower-cased, alias stripped)
    assert employee_for_actor(mailbox("Bo@Example.COM")) == "E1"
    assert employee_for_actor(mailbox("Cy@EXAMPLE.com")) == "E2"
    for spelled in ("ada@example.com", "Ada@Example.com", "ada+lms@example.com"):
        assert employee_for_actor(mailbox(spelled)) == "E3", spelled
    # Another spelling hashes otherwise: no SHA-1 meets it.
    with pytest.raises(DeliveryHeld) as held:
        employee_for_actor(mailbox("bo@example.com"))
    assert held.value.reason == UNMAPPED


def test_an_address_linked_to_one_employee_and_its_sha1_to_another_is_ambiguous(
    pms_target, django_capture_on_commit_callbacks
):
    link("E1", "sam@example.com")
    link_sha1("E2", "sam@example.com")
    with pytest.raises(DeliveryHeld) as held:
        employee_for_actor(mailbox("sam@example.com"))
    assert held.value.reason == AMBIGUOUS and "E1, E2" in held.value.detail
    store_now(django_capture_on_commit_callbacks, by_mbox("sam@example.com"))
    delivery = Delivery.objects.get(target__name="pms")
    assert (delivery.status, delivery.held_key) == (Delivery.HELD, "email:sam@example.com")
    # Says where E2 comes from: the address itself is linked to E1 alone.
    assert "(E2 by an mbox_sha1sum link of its SHA-1)" in delivery.last_error, delivery.last_error
    [group] = identity_conflicts()
    assert (group.reason, group.candidates) == (AMBIGUOUS, ["E1", "E2"])
    # Unlinking the SHA-1 releases what waits under the address's key: delivered to E1.
    with django_capture_on_commit_callbacks(execute=True):
        identity_links_remove(employee_id="E2", identifiers=sha1s("sam@example.com"))
    assert pms_employees(pms_target) == ["E1"]


@pytest.mark.parametrize("spelled", ["Ada@Example.COM", "ada+lms@example.com"])
def test_a_statement_by_an_address_held_unmapped_is_delivered_once_its_sha1_is_linked(
    pms_target, django_capture_on_commit_callbacks, spelled
):
    store_now(django_capture_on_commit_callbacks, by_mbox(spelled))
    delivery = Delivery.objects.get(target__name="pms")
    assert delivery.status == Delivery.HELD and delivery.last_error.startswith(UNMAPPED)
    with django_capture_on_commit_callbacks(execute=True):
        link_sha1("E555", spelled if spelled[0].isupper() else "ada@example.com")
    delivery.refresh_from_db()
    assert delivery.status == Delivery.DELIVERED
    assert pms_employees(pms_target) == ["E555"]


def test_moving_the_sha1_moves_the_address_and_a_move_out_of_an_ambiguity_releases_it(
    pms_target, django_capture_on_commit_callbacks
):
    link_sha1("E1", "Sam@Example.com")
    store_now(django_capture_on_commit_callbacks, by_mbox("Sam@Example.com"))
    assert pms_employees(pms_target) == ["E1"]
    with django_capture_on_commit_callbacks(execute=True):
        identity_links_move(identifiers=sha1s("Sam@Example.com"), from_employee_id="E1", to_employee_id="E2")
    store_now(django_capture_on_commit_callbacks, by_mbox("Sam@Example.com"))
    assert pms_employees(pms_target) == ["E1", "E2"]
    link("E3", "sam@example.com")  # the address to another employee: ambiguous
    store_now(django_capture_on_commit_callbacks, by_mbox("Sam@Example.com"))
    held = Delivery.objects.get(target__name="pms", status=Delivery.HELD)
    assert held.last_error.startswith(AMBIGUOUS)
    with django_capture_on_commit_callbacks(execute=True):
        identity_links_move(identifiers=sha1s("Sam@Example.com"), from_employee_id="E2", to_employee_id="E3")
    assert pms_employees(pms_target) == ["E1", "E2", "E3"]


def test_a_prefetched_batch_resolves_mbox_actors_through_sha1_links_in_the_same_queries(
    django_assert_num_queries,
):
    link("E1", "sam@example.com")
    link_sha1("E2", "sam@example.com")  # ambiguous
    link_sha1("E3", "Ada@Example.com")
    link_sha1("E4", "bo@example.com")
    link("E5", "cy@example.com")
    actors = [
        mailbox("sam@example.com"),
        mailbox("Ada@Example.com"),
        mailbox("bo+lms@example.com"),
        mailbox("cy@example.com"),
        {"objectType": "Group", "member": [mailbox("Bo@example.com")]},
        mailbox("nobody@example.com"),
    ]

    def resolve_all() -> list[tuple[str, str | None]]:
        results = []
        for actor in actors:
            try:
                employee = employee_for_actor(actor)
                results.append((employee, employee_email(employee)))
            except DeliveryHeld as held:
                results.append((held.reason, held.detail))
        return results

    one_by_one = resolve_all()
    assert [result[0] for result in one_by_one] == [AMBIGUOUS, "E3", "E4", "E5", "E4", UNMAPPED]
    # The prefetch's three queries (links, addresses, employees), the SHA-1 forms among the keys.
    with django_assert_num_queries(3), prefetched(actors), django_assert_num_queries(0):
        assert resolve_all() == one_by_one


@pytest.mark.parametrize(
    ("written", "hashed"),
    [("Bo@Example.COM", "Bo@Example.COM"), ("Bo@EXAMPLE.com", "Bo@example.com")],  # as written, as filed
)
def test_the_held_report_names_the_employee_of_the_sha1_a_statement_spelled_its_address_by(
    pms_target, django_capture_on_commit_callbacks, written, hashed
):
    """The conflict report lists every employee the held statements' actors match: the SHA-1 of the
    address as the statement spelled it linked to E1 makes it ambiguous, not the address's E2 alone
    (an ambiguity naming one employee tells an admin nothing to fix)."""
    link_sha1("E1", hashed)
    link("E2", "bo@example.com")
    store_now(django_capture_on_commit_callbacks, by_mbox(written))
    delivery = Delivery.objects.get(target__name="pms")
    assert (delivery.status, delivery.held_key) == (Delivery.HELD, "email:bo@example.com")
    [group] = identity_conflicts()
    assert (group.reason, group.candidates) == (AMBIGUOUS, ["E1", "E2"])
