"""While a target's ``actor.erased`` notice waits, the request says what for; and the target
keeps the notice when an admin renames it meanwhile
(the name is editable in the admin): the request finds the target by its id, not by the name it
had when the erasure was made. Before, the notice was dropped as "target removed or disabled"
and the receiver never learnt of the erasure."""

from __future__ import annotations

import pytest
from django.utils import timezone

from adapters.delivery.drain import delivery_send
from adapters.models import Delivery, ErasureRequest, Target
from adapters.privacy.erasure import erase_subject, finish_erasures
from adapters.privacy.subjects import subject_for
from tests.adapters.helpers import COURSE, store_now
from tests.conftest import make_statement
from tests.targets.behaviours import status

pytestmark = pytest.mark.django_db


@pytest.fixture
def hook(webhook_target, monkeypatch) -> Target:
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "test-webhook-secret")
    return Target.objects.create(
        name="hook",
        adapter="webhook",
        config={"url": webhook_target.url, "secret": {"env": "TEST_WEBHOOK_SECRET"}},
    )


def voided_with_its_retraction_failing(webhook_target, capture) -> None:
    """The learner's statement delivered, then voided; the target refuses the retraction
    (503), which waits to be tried again."""
    [statement_id] = store_now(
        capture,
        make_statement(actor_email="learner@example.com", activity=COURSE, result={"completion": True}),
    )
    webhook_target.set_default(status(503))
    store_now(
        capture,
        make_statement(
            actor_email="learner@example.com",
            verb="http://adlnet.gov/expapi/verbs/voided",
            object={"objectType": "StatementRef", "id": statement_id},
        ),
    )
    assert Delivery.objects.filter(kind="retract", status=Delivery.RETRYING).exists()


def erased_notices(webhook_target) -> list[dict]:
    return [e for e in webhook_target.effects() if e["event"] == "actor.erased"]


def test_a_notice_refused_once_reaches_the_target_after_it_was_renamed(webhook_target, hook, fake_env):
    webhook_target.set_default(status(503))
    outcome = erase_subject(subject_for(employee_id="E100"), mode="delete", requested_by="dpo")
    assert outcome.request.status == ErasureRequest.RETRACTING  # owed, not taken
    Target.objects.filter(pk=hook.pk).update(name="hr-hook")
    webhook_target.set_default(status(200))

    finish_erasures()

    [notice] = erased_notices(webhook_target)
    assert notice["actor"]["employeeId"] == "E100"
    request = ErasureRequest.objects.get(pk=outcome.request.pk)
    assert request.status == ErasureRequest.DONE
    assert request.targets["hook"]["notified"] != "target removed or disabled"


def test_the_notice_of_a_renamed_target_still_waits_for_its_retraction_to_be_made(
    webhook_target, hook, fake_env, django_capture_on_commit_callbacks
):
    """The person's statement voided before the erasure: its ``statement.voided`` still to be
    made at this target goes before the notice (``notices.retraction_first``), renamed or not."""
    voided_with_its_retraction_failing(webhook_target, django_capture_on_commit_callbacks)
    webhook_target.set_default(status(200))
    outcome = erase_subject(subject_for(employee_id="E100"), mode="delete", requested_by="dpo")
    assert erased_notices(webhook_target) == []  # the retraction is still to be made
    Target.objects.filter(pk=hook.pk).update(name="hr-hook")

    finish_erasures()

    assert erased_notices(webhook_target) == []  # still
    [retraction] = Delivery.objects.filter(kind="retract", status=Delivery.RETRYING)
    Delivery.objects.filter(pk=retraction.pk).update(next_attempt_at=timezone.now())
    delivery_send(retraction.pk)
    finish_erasures()
    events = [e["event"] for e in webhook_target.effects()]
    assert events[-2:] == ["statement.voided", "actor.erased"], events
    assert ErasureRequest.objects.get(pk=outcome.request.pk).status == ErasureRequest.DONE


def test_a_request_whose_notice_waits_for_a_retraction_says_so(
    webhook_target, hook, fake_env, django_capture_on_commit_callbacks
):
    """An admin looking at a request still retracting sees why: the retraction it waits for,
    by status, as for a request waiting on its own retractions (README, "Privacy")."""
    voided_with_its_retraction_failing(webhook_target, django_capture_on_commit_callbacks)

    outcome = erase_subject(subject_for(employee_id="E100"), mode="delete", requested_by="dpo")

    request = ErasureRequest.objects.get(pk=outcome.request.pk)
    assert request.status == ErasureRequest.RETRACTING and "notice" in request.targets["hook"]
    assert request.counts["retractions_waiting"] == {"retrying": 1}
