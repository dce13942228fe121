"""An erasure leaves no delivery waiting under a key that names the erased person: not their
address's lookup key, nor a SHA-1 form of their address (``mbox_sha1sum``, the same mailbox:
xAPI Data 2.4.2.3; the forms ``adapters.identity.digests`` derives for a linked address). Such a
delivery would stay held for an identity never to be linked, the held report naming the person."""

from __future__ import annotations

import hashlib

import pytest

from adapters.delivery.sweep import sweep_due
from adapters.identity.holds import identity_conflicts
from adapters.identity.links import Identifiers, identity_links_upsert
from adapters.identity.resolution import AMBIGUOUS
from adapters.models import Delivery
from adapters.privacy.erasure import erase_subject
from adapters.privacy.subjects import subject_for
from lrs.statements.store import statement_store
from tests.adapters.helpers import COURSE, store_now
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db
ADDRESS = "pat@example.com"  # linked to no one: their deliveries are held (unmapped)
SHA1 = hashlib.sha1(f"mailto:{ADDRESS}".encode()).hexdigest()
PERSONS_KEYS = {f"email:{ADDRESS}", f"mbox_sha1sum::{SHA1}"}


def completion(actor: dict) -> dict:
    statement = make_statement(activity=COURSE, result={"completion": True})
    statement["actor"] = actor
    return statement


def held_keys() -> set[str]:
    return set(Delivery.objects.exclude(held_key="").values_list("held_key", flat=True))


def test_a_group_delivery_held_under_the_sha1_of_the_erased_address_is_cancelled(
    pms_target, django_capture_on_commit_callbacks
):
    # Another learner's group statement, the erased person a member by the SHA-1 of their address:
    # held for it (the first member linked to no one), and the erasure rewrites it as another's.
    group = {
        "objectType": "Group",
        "member": [{"mbox_sha1sum": SHA1}, {"mbox": "mailto:bee@example.com"}],
    }
    store_now(django_capture_on_commit_callbacks, completion(group))
    assert held_keys() == {f"mbox_sha1sum::{SHA1}"}

    with django_capture_on_commit_callbacks(execute=True):
        erase_subject(subject_for(agent={"mbox": f"mailto:{ADDRESS}"}), mode="delete", requested_by="dpo")

    assert not held_keys() & PERSONS_KEYS
    assert list(Delivery.objects.values_list("status", flat=True)) == [Delivery.CANCELLED]
    assert not [group for group in identity_conflicts() if group.key in PERSONS_KEYS]


def test_a_delivery_held_under_the_sha1_of_the_normalised_address_is_cancelled(
    pms_target, django_capture_on_commit_callbacks
):
    # A client that lower-cases the address before hashing it names the mailbox the erasure names
    # spelled otherwise: the SHA-1 form a link of that spelling derives (as its lookup key has it),
    # which resolution takes the mbox by (``agent_keys``): the statement is the person's own.
    store_now(django_capture_on_commit_callbacks, completion({"mbox_sha1sum": SHA1}))
    assert held_keys() == {f"mbox_sha1sum::{SHA1}"}

    with django_capture_on_commit_callbacks(execute=True):
        outcome = erase_subject(
            subject_for(agent={"mbox": "mailto:Pat@Example.com"}), mode="pseudonymise", requested_by="dpo"
        )

    assert outcome.request.counts["own_statements"] == 1
    assert not held_keys() & PERSONS_KEYS
    assert list(Delivery.objects.values_list("status", flat=True)) == [Delivery.CANCELLED]


@pytest.mark.parametrize("mode", ["delete", "pseudonymise"])
def test_a_group_delivery_held_ambiguous_is_cancelled_when_a_member_not_first_is_erased(
    pms_target, mode, django_capture_on_commit_callbacks
):
    # An anonymous Group of learner@ (E100) and bee@ (E200): held ambiguous under its first
    # member's key. Erasing bee (not first) rewrites it as another's statement, bee a pseudonym
    # in it, which no link will ever name: the Group can resolve to one employee no more.
    identity_links_upsert(employee_id="E200", identifiers=Identifiers(emails=["bee@example.com"]))
    group = {
        "objectType": "Group",
        "member": [{"mbox": "mailto:learner@example.com"}, {"mbox": "mailto:bee@example.com"}],
    }
    store_now(django_capture_on_commit_callbacks, completion(group))
    held = Delivery.objects.get()
    assert (held.status, held.held_key) == (Delivery.HELD, "email:learner@example.com")
    assert held.last_error.startswith(AMBIGUOUS)

    with django_capture_on_commit_callbacks(execute=True):
        erase_subject(subject_for(employee_id="E200"), mode=mode, requested_by="dpo")

    held.refresh_from_db()
    assert (held.status, held.held_key) == (Delivery.CANCELLED, ""), (
        "the Group's delivery still waits, under its first member's key, for a resolution the erased "
        f"member's pseudonym forbids: {held.status} {held.held_key!r} {held.last_error!r}"
    )
    assert held.last_error.startswith("actor erased"), held.last_error  # not the scrub's "erased"
    # Released later (the first member's link changes), nothing comes back to wait for good.
    with django_capture_on_commit_callbacks(execute=True):
        identity_links_upsert(employee_id="E300", identifiers=Identifiers(emails=["learner@example.com"]))
    assert list(Delivery.objects.values_list("status", flat=True)) == [Delivery.CANCELLED]
    assert pms_target.events() == {}


@pytest.mark.parametrize("mode", ["delete", "pseudonymise"])
def test_a_group_delivery_not_yet_held_at_the_erasure_is_not_held_for_good_after_it(
    pms_target, mode, django_capture_on_commit_callbacks
):
    # An anonymous Group of learner@ and E100's account (one employee: it resolves), stored but
    # its deliveries not yet made (the fan-out still queued; or pending, retrying, in flight)
    # when learner@ is erased by agent: the Group, another's statement, now holds a pseudonym
    # no link will ever name. Its delivery, made after, must not wait held under that pseudonym
    # for good (the erasure cancels those already held, ``identity.erased``): it resolves to no one.
    account = {"homePage": "https://lms.example.com", "name": "ada-100"}
    identity_links_upsert(employee_id="E100", identifiers=Identifiers(accounts=[account]))
    group = {"objectType": "Group", "member": [{"mbox": "mailto:learner@example.com"}, {"account": account}]}
    with django_capture_on_commit_callbacks(execute=False):
        statement_store(statements=[completion(group)], credential=None)

    with django_capture_on_commit_callbacks(execute=True):
        erase_subject(
            subject_for(agent={"mbox": "mailto:learner@example.com"}), mode=mode, requested_by="dpo"
        )
    with django_capture_on_commit_callbacks(execute=True):
        sweep_due()

    [(status, held_key, reason)] = Delivery.objects.values_list("status", "held_key", "last_error")
    assert (status, held_key) == (Delivery.CANCELLED, ""), (
        "the Group's delivery waits for good under the erased member's pseudonym: "
        f"{status} {held_key!r} {reason!r}"
    )
    assert reason.startswith("actor erased"), reason
    assert pms_target.events() == {}
