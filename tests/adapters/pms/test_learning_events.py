"""What the PMS holds: one learning event per live qualifying statement, carrying the statement id,
the schema version, the activity's name and the original score scale; a void retracts the event by
the id the PMS gave it (the adapter's contract, adapters/pms/adapter.py)."""

from __future__ import annotations

import pytest

from adapters.delivery.drain import delivery_send
from adapters.delivery.replay import backfill
from adapters.identity.links import Identifiers, identity_links_move
from adapters.models import Delivery, Target
from tests.adapters.helpers import COURSE, store_now, voiding
from tests.conftest import make_statement
from tests.targets.behaviours import applied_then

pytestmark = pytest.mark.django_db


def completion(**result) -> dict:
    return make_statement(actor_email="learner@example.com", activity=COURSE, result=result or None)


def test_the_event_carries_the_statement_id_name_and_original_score_scale(
    pms_target, django_capture_on_commit_callbacks
):
    [statement_id] = store_now(
        django_capture_on_commit_callbacks,
        completion(completion=True, score={"raw": 30, "min": 0, "max": 40}),
    )
    [event] = pms_target.events().values()
    assert event["statementId"] == statement_id
    assert event["schemaVersion"] == "2"
    assert event["courseId"] == COURSE and event["courseName"] == "Safety 101"
    assert event["score"] == 75.0
    assert (event["scoreRaw"], event["scoreMin"], event["scoreMax"]) == (30, 0, 40)


def test_a_void_retracts_the_event_by_the_id_the_pms_returned(pms_target, django_capture_on_commit_callbacks):
    [statement_id] = store_now(django_capture_on_commit_callbacks, completion(completion=True))
    [event] = pms_target.events().values()
    assert Delivery.objects.get(kind="deliver").external_id == event["id"]
    store_now(django_capture_on_commit_callbacks, voiding(statement_id))
    [retraction] = pms_target.requests_for("learning-events.retract")
    assert retraction.url_path == f"/api/v1/learning-events/{event['id']}"
    assert pms_target.events() == {}
    assert Delivery.objects.get(kind="retract").status == Delivery.DELIVERED


def test_a_statement_voided_after_a_forced_backfill_requeued_it_is_still_retracted(
    pms_target, django_capture_on_commit_callbacks
):
    [statement_id] = store_now(django_capture_on_commit_callbacks, completion(completion=True))
    assert len(pms_target.events()) == 1
    backfill(target=Target.objects.get(name="pms"), force=True)  # requeued; its drain has not run
    store_now(django_capture_on_commit_callbacks, voiding(statement_id))
    assert pms_target.events() == {}
    assert Delivery.objects.get(kind="retract").status == Delivery.DELIVERED


@pytest.mark.usefixtures("retries_far_off")
def test_an_event_created_but_unanswered_is_found_and_retracted_on_void(
    pms_target, django_capture_on_commit_callbacks
):
    pms_target.enqueue(applied_then(502))  # the PMS created the event, the answer was a 502
    [statement_id] = store_now(django_capture_on_commit_callbacks, completion(completion=True))
    assert Delivery.objects.get().status == Delivery.RETRYING and len(pms_target.events()) == 1
    store_now(django_capture_on_commit_callbacks, voiding(statement_id))
    assert pms_target.events() == {}  # looked up by statement id (no id came back), then deleted
    assert [r.route for r in pms_target.requests][-2:] == ["learning-events.list", "learning-events.retract"]


@pytest.mark.usefixtures("retries_far_off")
@pytest.mark.parametrize("forced_backfill", [False, True])
def test_an_event_made_before_the_learner_moved_stands_and_the_delivery_ends_delivered(
    pms_target, django_capture_on_commit_callbacks, forced_backfill
):
    """Sent again under its key with another employee, the event is refused by the PMS (422: the
    key's first body differs). The event made first stands, as any made before a move does
    (README, "reported, not rewritten"): the delivery is delivered, not a dead letter."""
    if not forced_backfill:
        pms_target.enqueue(applied_then(500))  # the PMS made the event for E100, then failed
    store_now(django_capture_on_commit_callbacks, completion(completion=True))
    [made] = pms_target.events().values()
    identity_links_move(
        identifiers=Identifiers(emails=["learner@example.com"]),
        from_employee_id="E100",
        to_employee_id="E200",
    )
    delivery = Delivery.objects.get()
    if forced_backfill:
        backfill(target=Target.objects.get(name="pms"), force=True)
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery_send(delivery.pk) == Delivery.DELIVERED
    assert [(event["id"], event["employeeId"]) for event in pms_target.events().values()] == [
        (made["id"], "E100")
    ]
    assert Delivery.objects.get(pk=delivery.pk).external_id == made["id"]


def test_pseudonymise_sends_a_keyed_pseudonym_instead_of_the_employee_id(
    pms_target, django_capture_on_commit_callbacks
):
    target = Target.objects.get(name="pms")
    Target.objects.filter(pk=target.pk).update(config={**target.config, "pseudonymise": True})
    store_now(django_capture_on_commit_callbacks, completion(completion=True))
    [event] = pms_target.events().values()
    assert event["employeeId"].startswith("p-") and "E100" not in str(event)
