"""An actor named by ``mbox_sha1sum``, the hex SHA-1 of a ``mailto:`` IRI (xAPI 1.0.3 Data 2.4.2.3,
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#inversefunctional), is the mailbox
it hashes: a linked address resolves it as it resolves the ``mbox``, with no explicit SHA-1 link.
Linking, unlinking and moving the address take the SHA-1 form with it."""

from __future__ import annotations

import hashlib

import pytest
from django.db import connection

from adapters.base import DeliveryHeld
from adapters.identity.digests import digests_derive
from adapters.identity.holds import identity_conflicts
from adapters.identity.links import (
    Identifiers,
    identity_links_move,
    identity_links_remove,
    identity_links_upsert,
)
from adapters.identity.resolution import AMBIGUOUS, UNMAPPED, employee_email, employee_for_actor, prefetched
from adapters.models import Delivery, IdentityChange, IdentityLink
from tests.adapters.helpers import COURSE, store_now
from tests.conftest import make_statement, seq_scans_in_transaction

pytestmark = pytest.mark.django_db


def sha1_of(address: str) -> str:
    return hashlib.sha1(f"mailto:{address}".encode()).hexdigest()


def hashed(address: str) -> dict:
    return {"objectType": "Agent", "mbox_sha1sum": sha1_of(address)}


def by_sha1(address: str, **extra: object) -> dict:
    return make_statement(activity=COURSE, actor=hashed(address), **extra)


def link(employee_id: str, *emails: str) -> int:
    return identity_links_upsert(employee_id=employee_id, identifiers=Identifiers(emails=list(emails)))


def link_sha1(employee_id: str, address: str) -> int:
    return identity_links_upsert(
        employee_id=employee_id, identifiers=Identifiers(mbox_sha1sums=[sha1_of(address)])
    )


def pms_employees(pms) -> list[str]:
    return sorted(event["employeeId"] for event in pms.events().values())


def test_a_completion_by_the_sha1_of_a_linked_address_reaches_the_pms_under_the_employee(
    pms_target, django_capture_on_commit_callbacks
):
    """learner@example.com is linked to E100 (``fake_env``), as an address only."""
    store_now(django_capture_on_commit_callbacks, by_sha1("learner@example.com"))
    assert Delivery.objects.get(target__name="pms").status == Delivery.DELIVERED
    assert pms_employees(pms_target) == ["E100"]


def test_a_completion_by_the_sha1_of_a_linked_address_evidences_the_employees_marketplace_skill(
    market_target, django_capture_on_commit_callbacks
):
    store_now(django_capture_on_commit_callbacks, by_sha1("learner@example.com"))
    assert set(market_target.skills()) == {("E100", "SAFETY-BASICS")}


def test_the_sha1_of_an_address_as_linked_and_as_normalised_both_resolve():
    link("E3", "Ada.Lovelace+lms@Example.com")
    spellings = ("Ada.Lovelace+lms@Example.com", "Ada.Lovelace+lms@example.com", "ada.lovelace@example.com")
    for spelled in spellings:
        assert employee_for_actor(hashed(spelled)) == "E3", spelled


def test_a_statement_by_the_sha1_held_unmapped_is_delivered_once_the_address_is_linked(
    pms_target, django_capture_on_commit_callbacks
):
    store_now(django_capture_on_commit_callbacks, by_sha1("new.hire@example.com"))
    delivery = Delivery.objects.get(target__name="pms")
    assert delivery.status == Delivery.HELD and delivery.last_error.startswith(UNMAPPED)
    assert pms_target.events() == {}
    with django_capture_on_commit_callbacks(execute=True):
        link("E555", "New.Hire@example.com")
    delivery.refresh_from_db()
    assert delivery.status == Delivery.DELIVERED
    assert pms_employees(pms_target) == ["E555"]


def test_moving_the_address_moves_its_sha1_and_unlinking_it_unlinks_the_sha1(
    pms_target, django_capture_on_commit_callbacks
):
    link("E1", "sam@example.com")
    store_now(django_capture_on_commit_callbacks, by_sha1("sam@example.com"))
    assert pms_employees(pms_target) == ["E1"]
    with django_capture_on_commit_callbacks(execute=True):
        [moved] = identity_links_move(
            identifiers=Identifiers(emails=["sam@example.com"]), from_employee_id="E1", to_employee_id="E2"
        )
    # The delivery made under the SHA-1 was made under the address's mapping: reported.
    assert [target for target, _ in moved.delivered_under_previous] == ["pms"]
    store_now(django_capture_on_commit_callbacks, by_sha1("sam@example.com"))
    assert pms_employees(pms_target) == ["E1", "E2"]
    with django_capture_on_commit_callbacks(execute=True):
        identity_links_remove(employee_id="E2", identifiers=Identifiers(emails=["sam@example.com"]))
    store_now(django_capture_on_commit_callbacks, by_sha1("sam@example.com"))
    assert pms_employees(pms_target) == ["E1", "E2"]
    held = Delivery.objects.filter(target__name="pms", status=Delivery.HELD).get()
    assert held.last_error.startswith(UNMAPPED)
    with pytest.raises(DeliveryHeld):
        employee_for_actor(hashed("sam@example.com"))


def test_the_sha1_linked_explicitly_to_another_employee_than_its_address_is_ambiguous(
    pms_target, django_capture_on_commit_callbacks
):
    link("E1", "sam@example.com")
    link_sha1("E2", "sam@example.com")
    with pytest.raises(DeliveryHeld) as held:
        employee_for_actor(hashed("sam@example.com"))
    assert held.value.reason == AMBIGUOUS and "E1, E2" in held.value.detail
    store_now(django_capture_on_commit_callbacks, by_sha1("sam@example.com"))
    [group] = identity_conflicts()
    assert (group.reason, group.candidates) == (AMBIGUOUS, ["E1", "E2"])
    # Unlinking the address leaves the explicit link alone: released, and delivered to E2.
    with django_capture_on_commit_callbacks(execute=True):
        identity_links_remove(employee_id="E1", identifiers=Identifiers(emails=["sam@example.com"]))
    assert pms_employees(pms_target) == ["E2"]


def test_a_prefetched_batch_resolves_sha1_actors_like_single_lookups_without_further_queries(
    django_assert_num_queries,
):
    link("E1", "sam@example.com")
    link("E2", "sam+work@example.com")  # the same mailbox: ambiguous
    link("E3", "Ada@Example.com")
    link_sha1("E4", "bo@example.com")
    actors = [
        hashed("sam@example.com"),
        hashed("ada@example.com"),
        hashed("bo@example.com"),
        hashed("nobody@example.com"),
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
    with prefetched(actors), django_assert_num_queries(0):
        assert resolve_all() == one_by_one
    assert [result[0] for result in one_by_one] == [AMBIGUOUS, "E3", "E4", UNMAPPED]


def test_the_history_of_a_linked_address_names_it_not_its_sha1():
    link("E1", "sam@example.com")
    identity_links_move(
        identifiers=Identifiers(emails=["sam@example.com"]), from_employee_id="E1", to_employee_id="E2"
    )
    assert list(IdentityChange.objects.order_by("id").values_list("action", "identifier")) == [
        (IdentityChange.LINK_ADDED, "email:sam@example.com"),
        (IdentityChange.LINK_MOVED, "email:sam@example.com"),
    ]


def test_a_batch_of_sha1_actors_is_resolved_through_the_indexes_once_many_addresses_are_linked():
    """Resolution is on the delivery path: a SHA-1 is found by an indexed lookup of its derived
    forms, never by scanning the links (and hashing each address) per statement."""
    people = range(3000)
    IdentityLink.objects.bulk_create(
        IdentityLink(
            employee_id=f"E{n}", kind="email", value=f"p{n}@example.com", lookup_key=f"email:p{n}@example.com"
        )
        for n in people
    )
    digests_derive(f"E{n}" for n in people)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE adapters_identitylink")
        cursor.execute("ANALYZE adapters_identitydigest")
    actors = [hashed(f"p{n}@example.com") for n in (7, 1234, 2999)]
    before = {
        table: seq_scans_in_transaction(table)
        for table in ("adapters_identitylink", "adapters_identitydigest")
    }
    with prefetched(actors):
        assert [employee_for_actor(actor) for actor in actors] == ["E7", "E1234", "E2999"]
    assert employee_for_actor(hashed("p42@example.com")) == "E42"
    assert {table: seq_scans_in_transaction(table) for table in before} == before


def test_an_address_moved_to_an_employee_who_has_it_spelled_otherwise_takes_its_sha1_forms_there(
    pms_target, django_capture_on_commit_callbacks
):
    """Linked to two employees, spelled two ways, the mailbox is ambiguous; moving one employee's
    link to the other resolves it (``identity_links_move``: the second had it too). The SHA-1 of
    the moved spelling is the same mailbox: it goes with the address to the second employee, and
    on with it from there, rather than to no one."""
    link("E1", "Sam@Example.com")
    link("E2", "sam@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        identity_links_move(
            identifiers=Identifiers(emails=["Sam@Example.com"]), from_employee_id="E1", to_employee_id="E2"
        )
    store_now(django_capture_on_commit_callbacks, by_sha1("Sam@Example.com"))
    assert pms_employees(pms_target) == ["E2"]
    with django_capture_on_commit_callbacks(execute=True):
        identity_links_move(
            identifiers=Identifiers(emails=["sam@example.com"]), from_employee_id="E2", to_employee_id="E3"
        )
    assert employee_for_actor(hashed("Sam@Example.com")) == "E3"


def test_unlinking_an_address_releases_what_waits_for_a_sha1_form_it_took_over_in_a_move(
    pms_target, django_capture_on_commit_callbacks
):
    """E2's link took over the SHA-1 forms of E1's spelling of the address in a move; that SHA-1 is
    also linked explicitly to E5: ambiguous. Unlinking E2's address leaves E5 alone: the held
    delivery runs again and reaches E5."""
    link("E1", "Sam@Example.com")
    link("E2", "sam@example.com")
    identity_links_move(
        identifiers=Identifiers(emails=["Sam@Example.com"]), from_employee_id="E1", to_employee_id="E2"
    )
    link_sha1("E5", "Sam@Example.com")
    store_now(django_capture_on_commit_callbacks, by_sha1("Sam@Example.com"))
    assert Delivery.objects.get(target__name="pms").last_error.startswith(AMBIGUOUS)
    with django_capture_on_commit_callbacks(execute=True):
        identity_links_remove(employee_id="E2", identifiers=Identifiers(emails=["sam@example.com"]))
    assert pms_employees(pms_target) == ["E5"]


def test_moving_an_address_on_reports_the_deliveries_made_under_the_sha1_forms_it_took_over(
    pms_target, django_capture_on_commit_callbacks
):
    """E2's link took over the SHA-1 forms of E1's spelling of the address in a move
    (``digests_carry``); a statement by that SHA-1 reached the PMS under E2. Moving E2's address on
    takes those forms along, so what was delivered under them was delivered under the mapping the
    move changes: reported, as for the address's own forms."""
    link("E1", "Sam@Example.com")
    link("E2", "sam@example.com")
    identity_links_move(
        identifiers=Identifiers(emails=["Sam@Example.com"]), from_employee_id="E1", to_employee_id="E2"
    )
    [statement_id] = store_now(django_capture_on_commit_callbacks, by_sha1("Sam@Example.com"))
    assert pms_employees(pms_target) == ["E2"]
    with django_capture_on_commit_callbacks(execute=True):
        [moved] = identity_links_move(
            identifiers=Identifiers(emails=["sam@example.com"]), from_employee_id="E2", to_employee_id="E3"
        )
    assert moved.delivered_under_previous == [["pms", statement_id]]
    change = IdentityChange.objects.get(action=IdentityChange.LINK_MOVED, employee_id="E3")
    assert change.delivered_under_previous == [["pms", statement_id]]
