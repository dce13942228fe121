"""A statement the LMS sends again after a delete-mode erasure removed it, once the person is
linked again (the HRIS feed still lists them): a new record (README, "Privacy": "A statement about
the person stored after the erasure is a new record"), live and mapped to an employee, so the PMS
must hold its event and the marketplace a record resting on it (the adapters' contracts). Its
deliveries' keys name the new row (``adapters.delivery.outbox.stored_again``): under the erased
statement's keys each target took them for repeats and applied nothing."""

from __future__ import annotations

import uuid

import pytest

from adapters.delivery.replay import backfill
from adapters.identity.links import Identifiers, identity_links_upsert
from adapters.models import Delivery, ErasureRequest, Target
from adapters.privacy.erasure import erase_subject, finish_erasures
from adapters.privacy.subjects import subject_for
from lrs.statements.models import Statement
from tests.adapters.helpers import scored_completion, store_now, voiding

pytestmark = pytest.mark.django_db


def test_a_statement_sent_again_after_its_erasure_reaches_the_pms_and_the_marketplace_again(
    pms_target, market_target, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    completion = scored_completion(0.8, timestamp="2026-03-02T10:00:00Z", statement_id=str(uuid.uuid4()))
    [statement_id] = store_now(capture, completion)
    with capture(execute=True):  # the retractions run at once
        erase_subject(subject_for(employee_id="E100"), mode="delete", requested_by="dpo")
    finish_erasures()
    assert ErasureRequest.objects.get().status == ErasureRequest.DONE
    assert not Statement.objects.exists() and pms_target.events() == {} and market_target.skills() == {}

    identity_links_upsert(employee_id="E100", identifiers=Identifiers(emails=["learner@example.com"]))
    store_now(capture, completion)  # the LMS syncs its records again: same id, same content

    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.DELIVERED}
    events = [(event["statementId"], event["employeeId"]) for event in pms_target.events().values()]
    assert events == [(statement_id, "E100")]
    record = market_target.skills().get(("E100", "SAFETY-BASICS"))
    assert record is not None and [item["statementId"] for item in record["evidence"]] == [statement_id]


def test_a_statement_stored_again_after_its_erasure_is_backfilled_once_and_voided_everywhere(
    pms_target, market_target, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    completion = scored_completion(0.8, timestamp="2026-03-02T10:00:00Z", statement_id=str(uuid.uuid4()))
    store_now(capture, completion)
    with capture(execute=True):
        erase_subject(subject_for(employee_id="E100"), mode="delete", requested_by="dpo")
    finish_erasures()
    identity_links_upsert(employee_id="E100", identifiers=Identifiers(emails=["learner@example.com"]))
    [statement_id] = store_now(capture, completion)
    # A forced backfill sends it under the same keys as its first delivery: the targets drop them.
    with capture(execute=True):
        backfill(target=Target.objects.get(name="pms"), force=True)
        backfill(target=Target.objects.get(name="market"), force=True)
    assert [event["statementId"] for event in pms_target.events().values()] == [statement_id]
    assert len(market_target.skills()) == 1

    store_now(capture, voiding(statement_id))
    assert pms_target.events() == {} and market_target.skills() == {}
    assert not Delivery.objects.exclude(status=Delivery.DELIVERED).exists()
