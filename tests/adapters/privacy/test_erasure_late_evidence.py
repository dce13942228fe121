"""An erasure that commits while a marketplace delivery of the person's statement is being sent,
after the delivery read its statement and before it recorded the evidence: the evidence row it
records is one the erasure had nothing to flag. The erasure flags it when it finishes and runs the
retraction again, so the marketplace keeps nothing of the person."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from adapters.delivery.drain import delivery_send
from adapters.marketplace import skills
from adapters.models import Delivery, ErasureRequest, SkillEvidence, Target
from adapters.privacy.erasure import erase_subject, finish_erasures
from adapters.privacy.subjects import subject_for
from lrs.statements.store import statement_store
from tests.adapters.helpers import COURSE, expand_outbox
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db


def send(delivery_id: int) -> None:
    Delivery.objects.filter(id=delivery_id).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    Target.objects.update(paused_until=None, consecutive_failures=0)
    delivery_send(delivery_id)


def test_evidence_recorded_after_the_erasure_flagged_theirs_is_retracted_when_it_finishes(
    market_target, monkeypatch
):
    statement_id = str(uuid.uuid4())
    completion = make_statement(
        actor_email="learner@example.com",
        activity=COURSE,
        result={"completion": True, "score": {"scaled": 0.8}},
        timestamp="2026-03-01T10:00:00Z",
        statement_id=statement_id,
    )
    statement_store(statements=[completion], credential=None)
    expand_outbox()
    real_put = skills.evidence_put
    erased: list[ErasureRequest] = []

    def erasure_then_put(**kwargs):
        if not erased:  # the erasure commits between the delivery's re-read and its evidence
            erased.append(
                erase_subject(subject_for(employee_id="E100"), mode="pseudonymise", requested_by="dpo")
            )
        return real_put(**kwargs)

    monkeypatch.setattr(skills, "evidence_put", erasure_then_put)
    send(Delivery.objects.get(statement_uuid=statement_id, kind="deliver").id)
    monkeypatch.setattr(skills, "evidence_put", real_put)
    for _ in range(3):  # the retraction; the erasure's finish; the retraction it ran again; ...
        for retraction in Delivery.objects.filter(kind="retract", status=Delivery.PENDING):
            send(retraction.id)
        finish_erasures()
    assert market_target.skills() == {}
    assert not SkillEvidence.objects.exists()
    assert ErasureRequest.objects.get().status == ErasureRequest.DONE


def test_what_an_attempt_recorded_after_a_pseudonymising_erasure_is_scrubbed_when_it_finishes(
    pms_target, django_capture_on_commit_callbacks
):
    """An attempt made after the erasure (a retraction's, a send that was in flight) may record an
    answer quoting the person; the erasure's finish scrubs it as it scrubbed the earlier ones."""
    from adapters.models import Attempt
    from tests.adapters.helpers import store_now

    store_now(
        django_capture_on_commit_callbacks,
        make_statement(actor_email="learner@example.com", activity=COURSE, result={"completion": True}),
    )
    with django_capture_on_commit_callbacks(execute=True):  # the retraction is made meanwhile
        outcome = erase_subject(subject_for(employee_id="E100"), mode="pseudonymise", requested_by="dpo")
    Attempt.objects.update(response_excerpt="learner@example.com was here", error="about learner@example.com")
    finish_erasures()
    assert ErasureRequest.objects.get(pk=outcome.request.pk).status == ErasureRequest.DONE
    assert not Attempt.objects.filter(response_excerpt__contains="learner@").exists()
    assert not Attempt.objects.filter(error__contains="learner@").exists()
