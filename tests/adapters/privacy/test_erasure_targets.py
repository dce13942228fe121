"""An erasure reaches the targets through the normal delivery path: the PMS loses the person's
learning events and the marketplace their skill records, once each; deliveries not yet made are
cancelled; in delete mode the statements go once the retractions settled; reconciliation does
not count what was erased as missing."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from adapters.models import (
    Attempt,
    Delivery,
    ErasureRequest,
    IdentityLink,
    SkillEvidence,
    SkillRecord,
    Target,
)
from adapters.privacy.erasure import erase_subject
from adapters.privacy.subjects import subject_for
from adapters.reconciliation.run import reconcile
from lrs.statements.models import Statement
from tests.adapters.helpers import COURSE, store_now
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db


def completion() -> dict:
    return make_statement(
        actor_email="learner@example.com",
        activity=COURSE,
        result={"completion": True, "score": {"scaled": 0.92}},
    )


@pytest.mark.parametrize("mode", ["delete", "pseudonymise"])
def test_the_pms_and_the_marketplace_lose_the_persons_records_once_each(
    pms_target, market_target, django_capture_on_commit_callbacks, mode
):
    store_now(django_capture_on_commit_callbacks, completion(), completion())
    assert len(pms_target.events()) == 2
    assert ("E100", "SAFETY-BASICS") in market_target.skills()
    with django_capture_on_commit_callbacks(execute=True):
        outcome = erase_subject(subject_for(employee_id="E100"), mode=mode, requested_by="dpo")
    assert pms_target.events() == {}
    assert len(pms_target.requests_for("learning-events.retract")) == 2  # one per event, never again
    assert ("E100", "SAFETY-BASICS") not in market_target.skills()
    assert market_target.revocations() == [("E100", "SAFETY-BASICS")]
    assert outcome.request.counts["retractions"] == 4
    pms_id = Target.objects.get(name="pms").id  # the entry finds its target by id (renamed or not)
    assert outcome.request.targets["pms"] == {"policy": "retract", "retractions": 2, "target_id": pms_id}
    assert not IdentityLink.objects.exists()

    from adapters.privacy.erasure import finish_erasures

    finish_erasures()
    request = ErasureRequest.objects.get()
    assert request.status == ErasureRequest.DONE
    assert not SkillEvidence.objects.exists()
    # Nor does the mirror of what the marketplace held name them, once the revocation is in.
    assert not SkillRecord.objects.filter(member_id="E100").exists()
    if mode == "delete":
        assert not Statement.objects.exists()
        assert not Delivery.objects.exists() and not Attempt.objects.exists()
        assert request.counts["statements_deleted"] == 2
    else:
        assert Statement.objects.count() == 2
        assert not Statement.objects.filter(payload__contains="learner@example.com").exists()

    now = timezone.now()
    run = reconcile(target=Target.objects.get(name="pms"), since=now - timedelta(hours=1), until=now)
    assert run.counts["missing"] == 0 and run.counts["extra"] == 0


def test_deliveries_not_yet_made_are_cancelled_everywhere_and_attempt_texts_blanked(
    pms_target, django_capture_on_commit_callbacks
):
    from lrs.statements.store import statement_store

    statement_store(statements=[completion()], credential=None)  # stored; its delivery not run yet
    from tests.adapters.helpers import expand_outbox

    expand_outbox()
    assert Delivery.objects.get().status == Delivery.PENDING
    failed = Attempt.objects.create(
        delivery=Delivery.objects.get(),
        number=1,
        started_at=timezone.now(),
        outcome=Attempt.RETRY,
        status_code=503,
        error="the PMS answered 503 for E100",
        response_excerpt='{"employeeId": "E100"}',
        request='POST /api/v1/learning-events\n{"employeeId": "E100"}',
    )
    with django_capture_on_commit_callbacks(execute=True):
        erase_subject(subject_for(employee_id="E100"), mode="pseudonymise", requested_by="dpo")
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.CANCELLED and pms_target.events() == {}
    failed.refresh_from_db()
    assert (failed.error, failed.response_excerpt, failed.request) == ("erased", "", "")


def test_a_webhook_gets_one_actor_erased_event_naming_only_the_employee(
    webhook_target, fake_env, monkeypatch, django_capture_on_commit_callbacks
):
    from tests.targets.behaviours import status

    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "test-webhook-secret")
    Target.objects.create(
        name="hook",
        adapter="webhook",
        config={"url": webhook_target.url, "secret": {"env": "TEST_WEBHOOK_SECRET"}},
    )
    store_now(django_capture_on_commit_callbacks, completion())
    webhook_target.enqueue(status(503))  # the first notice fails: tried again, once taken never again
    with django_capture_on_commit_callbacks(execute=True):
        outcome = erase_subject(subject_for(employee_id="E100"), mode="delete", requested_by="dpo")
    request = ErasureRequest.objects.get(pk=outcome.request.pk)
    assert request.status == ErasureRequest.RETRACTING and "notice" in request.targets["hook"]

    from adapters.privacy.erasure import finish_erasures

    assert finish_erasures() == 1
    finish_erasures()
    erased = [effect for effect in webhook_target.effects() if effect["event"] == "actor.erased"]
    assert [(effect["actor"]["employeeId"], set(effect)) for effect in erased] == [
        ("E100", {"event", "actor", "erasedAt"})
    ]
    # Besides the employee id, only this target's pseudonyms of their identifiers.
    assert all(name.startswith("p-") for name in erased[0]["actor"]["pseudonyms"])
    request.refresh_from_db()
    assert request.status == ErasureRequest.DONE and "notice" not in request.targets["hook"]
    assert "learner@example.com" not in json.dumps(request.targets) + json.dumps(request.counts)


def test_a_notice_refused_for_good_is_given_up_and_the_erasure_finishes(
    webhook_target, fake_env, monkeypatch, settings, django_capture_on_commit_callbacks
):
    from adapters.privacy.erasure import finish_erasures
    from tests.targets.behaviours import status

    settings.LRS_ERASURE_NOTICE_ATTEMPTS = 2
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "test-webhook-secret")
    Target.objects.create(
        name="hook",
        adapter="webhook",
        config={"url": webhook_target.url, "secret": {"env": "TEST_WEBHOOK_SECRET"}},
    )
    webhook_target.set_default(status(503))
    outcome = erase_subject(subject_for(employee_id="E100"), mode="delete", requested_by="dpo")
    assert ErasureRequest.objects.get(pk=outcome.request.pk).status == ErasureRequest.RETRACTING
    assert finish_erasures() == 1  # the second attempt fails too: given up, recorded
    request = ErasureRequest.objects.get(pk=outcome.request.pk)
    assert request.status == ErasureRequest.DONE and "notice" not in request.targets["hook"]
    assert request.targets["hook"]["notified"] == "gave up after 2 attempts"
