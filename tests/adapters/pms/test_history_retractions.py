"""A PMS keeping history (``retraction: "event"``): a void records a ``retraction`` event for the
employee the original event named, whatever the identity links say by the time of the void (the
adapter's contract, adapters/pms/adapter.py)."""

from __future__ import annotations

import pytest

from adapters.identity.links import Identifiers, identity_links_move, identity_links_remove
from adapters.models import Delivery, Employee, Target
from tests.adapters.helpers import COURSE, store_now, voiding
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db

LEARNER = Identifiers(emails=["learner@example.com"])


@pytest.fixture
def history_pms(pms_target):
    target = Target.objects.get(name="pms")
    Target.objects.filter(pk=target.pk).update(config={**target.config, "retraction": "event"})
    return pms_target


def completion() -> dict:
    return make_statement(actor_email="learner@example.com", activity=COURSE, result={"completion": True})


def events_of(pms, statement_id: str) -> list[tuple[str, str]]:
    return [
        (event["eventType"], event["employeeId"])
        for event in pms.events().values()
        if event["statementId"] == statement_id
    ]


def test_a_void_records_a_retraction_event_for_the_same_employee(
    history_pms, django_capture_on_commit_callbacks
):
    [statement_id] = store_now(django_capture_on_commit_callbacks, completion())
    store_now(django_capture_on_commit_callbacks, voiding(statement_id))
    assert events_of(history_pms, statement_id) == [("course_completion", "E100"), ("retraction", "E100")]


def test_after_the_learner_moved_to_another_employee_the_retraction_names_the_first(
    history_pms, django_capture_on_commit_callbacks
):
    [statement_id] = store_now(django_capture_on_commit_callbacks, completion())
    identity_links_move(identifiers=LEARNER, from_employee_id="E100", to_employee_id="E200")
    store_now(django_capture_on_commit_callbacks, voiding(statement_id))
    assert events_of(history_pms, statement_id) == [("course_completion", "E100"), ("retraction", "E100")]
    assert Delivery.objects.get(kind="retract").status == Delivery.DELIVERED


def test_after_the_learner_was_unlinked_the_void_is_still_recorded(
    history_pms, django_capture_on_commit_callbacks
):
    [statement_id] = store_now(django_capture_on_commit_callbacks, completion())
    identity_links_remove(employee_id="E100", identifiers=LEARNER)
    store_now(django_capture_on_commit_callbacks, voiding(statement_id))
    assert events_of(history_pms, statement_id) == [("course_completion", "E100"), ("retraction", "E100")]
    assert Delivery.objects.get(kind="retract").status == Delivery.DELIVERED


def test_after_the_employee_left_the_void_is_still_recorded(history_pms, django_capture_on_commit_callbacks):
    """The leaving date holds back learning after it, not the correction of what the PMS took."""
    [statement_id] = store_now(django_capture_on_commit_callbacks, completion())
    Employee.objects.update_or_create(employee_id="E100", defaults={"terminated_on": "2000-01-01"})
    store_now(django_capture_on_commit_callbacks, voiding(statement_id))
    assert events_of(history_pms, statement_id) == [("course_completion", "E100"), ("retraction", "E100")]


def test_a_void_after_retention_pseudonymised_the_statement_is_still_recorded(
    history_pms, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from adapters.privacy.retention import Policy, apply_retention
    from lrs.statements.models import Statement

    [statement_id] = store_now(django_capture_on_commit_callbacks, completion())
    stored = Statement.objects.get(statement_id=statement_id).stored
    policy = Policy(statement_days=30, mode="pseudonymise", attempt_body_days=0)
    apply_retention(policy=policy, now=stored + timedelta(days=30, seconds=1))
    assert "learner@example.com" not in Statement.objects.get(statement_id=statement_id).payload

    store_now(django_capture_on_commit_callbacks, voiding(statement_id))

    assert events_of(history_pms, statement_id) == [("course_completion", "E100"), ("retraction", "E100")]


def test_a_void_after_a_pseudonymising_erasure_records_nothing(
    history_pms, django_capture_on_commit_callbacks
):
    """Unlike retention's pseudonym, an erased person's is not retracted at a PMS keeping history:
    the PMS was told to erase them (the erasure notes it cannot retract there) and must hear of
    them no more."""
    from adapters.privacy.erasure import erase_subject, finish_erasures
    from adapters.privacy.subjects import subject_for

    [statement_id] = store_now(django_capture_on_commit_callbacks, completion())
    with django_capture_on_commit_callbacks(execute=True):
        erase_subject(subject_for(employee_id="E100"), mode="pseudonymise", requested_by="dpo")
    finish_erasures()

    store_now(django_capture_on_commit_callbacks, voiding(statement_id))

    assert events_of(history_pms, statement_id) == [("course_completion", "E100")]
