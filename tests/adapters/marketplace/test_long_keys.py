"""Keys derived from long identifiers: an activity IRI (up to 2048 bytes,
lrs/xapi/identifier_lengths.py), an actor identifier of the same length, a long employee id or
competency code. The marketplace takes an ``Idempotency-Key`` of at most 255 printable ASCII
characters (tests/targets/fake_protocol.py); an accepted statement must still reach it."""

from __future__ import annotations

import pytest

from adapters.identity.links import Identifiers, identity_links_upsert
from adapters.models import CompetencyMapping, Delivery
from tests.adapters.helpers import COURSE, store_now
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db

LONG_ACTIVITY = "https://lms.example.com/courses/" + "a" * (2000 - len("https://lms.example.com/courses/"))


def _completion(activity: str = COURSE, email: str = "learner@example.com") -> dict:
    return make_statement(actor_email=email, activity=activity, result={"completion": True})


def test_a_statement_about_a_2000_character_activity_reaches_the_marketplace(
    market_target, django_capture_on_commit_callbacks
):
    rules = [{"activity_id": LONG_ACTIVITY, "codes": ["LONG-COURSE"], "level": {"fixed": 3}}]
    CompetencyMapping.objects.filter(is_active=True).update(rules=rules)
    store_now(django_capture_on_commit_callbacks, _completion(LONG_ACTIVITY))
    delivery = Delivery.objects.get(kind="deliver")
    assert delivery.status == Delivery.DELIVERED, delivery.last_error
    held = market_target.skills()[("E100", "LONG-COURSE")]
    assert held["evidence"][0]["activityId"] == LONG_ACTIVITY


def test_an_unlinked_actor_with_a_long_openid_is_held_and_its_batch_still_written(
    market_target, django_capture_on_commit_callbacks
):
    """The held key is the actor's lookup key: a 1500-character openid did not fit the column,
    and the bulk outcome write of the whole batch failed (the linked learner's delivered
    statement included)."""
    stranger = _completion()
    stranger["actor"] = {"objectType": "Agent", "openid": "https://id.example.com/" + "o" * 1500}
    store_now(django_capture_on_commit_callbacks, stranger, _completion())
    statuses = sorted(Delivery.objects.values_list("status", flat=True))
    assert statuses == [Delivery.DELIVERED, Delivery.HELD]
    assert set(market_target.skills()) == {("E100", "SAFETY-BASICS")}


def test_a_delivery_held_for_a_long_openid_is_released_and_cancelled_by_that_openid(
    market_target, django_capture_on_commit_callbacks
):
    """Whoever releases (a new identity link) or cancels (an erasure) held deliveries names the
    actor's lookup key in full: it finds the delivery that recorded it by its digest. (An
    identity link of an openid this long does not fit ``IdentityLink`` today: see the report.)"""
    from adapters.identity.holds import deliveries_release
    from adapters.identity.resolution import actor_lookup_key

    stranger = _completion()
    stranger["actor"] = {"objectType": "Agent", "openid": "https://id.example.com/" + "o" * 1500}
    store_now(django_capture_on_commit_callbacks, stranger)
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.HELD
    assert deliveries_release(keys=[actor_lookup_key(stranger["actor"])]) == [delivery.id]


def test_a_long_employee_id_and_code_still_give_an_idempotency_key_the_marketplace_takes(
    market_target, django_capture_on_commit_callbacks
):
    member = "employee-" + "9" * 190  # employee ids are up to 200 characters
    code = "COMPÉTENCE-" + "X" * 150  # not ASCII, and long
    rules = [{"activity_id": COURSE, "codes": [code], "level": {"fixed": 3}}]
    CompetencyMapping.objects.filter(is_active=True).update(rules=rules)
    identity_links_upsert(employee_id=member, identifiers=Identifiers(emails=["long@example.com"]))
    store_now(django_capture_on_commit_callbacks, _completion(email="long@example.com"))
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.DELIVERED, delivery.last_error
    assert (member, code) in market_target.skills()
    (put,) = market_target.requests_for("skills.put")
    assert len(put.idempotency_key) <= 255 and put.idempotency_key.isascii()


def test_a_short_idempotency_key_is_as_before(market_target, django_capture_on_commit_callbacks):
    """Keys that fit are not rewritten: a retry after an upgrade keeps the key of its first try."""
    statement = _completion()
    store_now(django_capture_on_commit_callbacks, statement)
    (put,) = market_target.requests_for("skills.put")
    delivery = Delivery.objects.get()
    prefix = f"{delivery.idempotency_key}:E100:SAFETY-BASICS:1:"
    assert put.idempotency_key.startswith(prefix) and len(put.idempotency_key) == len(prefix) + 16


def test_a_mapping_with_a_competency_code_longer_than_the_ledger_holds_is_refused():
    """A code over 200 characters fits no ``SkillEvidence``/``SkillRecord`` row: every delivery
    awarding it would fail in the database. Refused when the mapping is saved instead."""
    from adapters.rules.competencies import CompetencyMapping as Rules
    from adapters.rules.competencies import CompetencyMappingError

    rules = [{"activity_id": COURSE, "codes": ["OK", "C" * 201], "level": {"fixed": 3}}]
    with pytest.raises(CompetencyMappingError) as raised:
        Rules.from_json({"version": "v", "rules": rules})
    assert raised.value.path == "rules[0].codes[1]"
    assert Rules.from_json({"version": "v", "rules": [{**rules[0], "codes": ["C" * 200]}]})


def test_an_erasure_of_a_learner_with_a_long_openid_cancels_their_held_delivery(
    market_target, django_capture_on_commit_callbacks
):
    from adapters.privacy.erasure import erase_subject
    from adapters.privacy.subjects import subject_for

    actor = {"objectType": "Agent", "openid": "https://id.example.com/" + "o" * 1500}
    stranger = _completion()
    stranger["actor"] = actor
    store_now(django_capture_on_commit_callbacks, stranger)
    assert Delivery.objects.get().status == Delivery.HELD
    erase_subject(subject_for(agent=actor), mode="pseudonymise", requested_by="test")
    delivery = Delivery.objects.get(kind="deliver")
    assert (delivery.status, delivery.held_key) == (Delivery.CANCELLED, "")


def test_the_conflict_report_names_the_employees_an_ambiguous_long_openid_is_linked_to(
    market_target, django_capture_on_commit_callbacks
):
    """An openid of 495 characters fits an identity link (its value holds 500, its lookup key
    600) but its lookup key (``openid::`` and the openid) does not fit ``Delivery.held_key``: the
    delivery keeps its digest. Linked to two employees, the report of held deliveries still names
    both, so an admin can see whose link to remove."""
    from adapters.identity.holds import identity_conflicts
    from adapters.identity.resolution import AMBIGUOUS

    openid = "https://id.example.com/" + "o" * (495 - len("https://id.example.com/"))
    for employee_id in ("E201", "E202"):
        identity_links_upsert(employee_id=employee_id, identifiers=Identifiers(openids=[openid]))
    statement = _completion()
    statement["actor"] = {"objectType": "Agent", "openid": openid}
    store_now(django_capture_on_commit_callbacks, statement)
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.HELD and delivery.last_error.startswith(AMBIGUOUS)
    [group] = identity_conflicts()
    assert (group.reason, group.deliveries, group.candidates) == (AMBIGUOUS, 1, ["E201", "E202"])
