"""A void leaves the PMS holding no event of the statement, whatever repairs and doubles came
before it (the contract in adapters/pms/adapter.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone

from adapters.base import SendResult
from adapters.delivery.drain import delivery_send
from adapters.models import Delivery, Target
from adapters.pms.adapter import PMSAdapter
from adapters.reconciliation.run import reconcile
from tests.adapters.helpers import COURSE, store_now, voiding
from tests.conftest import make_statement
from tests.targets.behaviours import applied_then, ok

pytestmark = pytest.mark.django_db


def completion() -> dict:
    return make_statement(
        actor_email="learner@example.com",
        activity=COURSE,
        result={"completion": True, "score": {"scaled": 0.9}},
    )


def window() -> dict:
    now = timezone.now()
    return {"since": now - timedelta(hours=1), "until": now + timedelta(minutes=1)}


def test_a_statement_voided_while_its_reconciliation_repair_waits_is_still_retracted(
    pms_target, django_capture_on_commit_callbacks
):
    """The repair puts the delivered delivery back to pending; a void before it is drained must
    retract what the PMS holds, not only cancel the repair as if nothing had been made."""
    [statement_id] = store_now(django_capture_on_commit_callbacks, completion())
    pms_target.alter_event(statement_id, score=10.0)  # an HR admin edits it: "different"
    with django_capture_on_commit_callbacks(execute=False):  # the repair is queued, not drained yet
        run = reconcile(target=Target.objects.get(name="pms"), repair=True, **window())
    assert run.counts["repaired"] == 1
    assert Delivery.objects.get(kind="deliver").status == Delivery.PENDING
    store_now(django_capture_on_commit_callbacks, voiding(statement_id))
    # The statement is voided: the PMS must hold no event of it.
    assert pms_target.events() == {}, pms_target.events()


@pytest.mark.usefixtures("retries_far_off")
def test_a_void_after_a_repair_whose_answer_was_lost_retracts_the_event_the_repair_made(
    pms_target, django_capture_on_commit_callbacks
):
    """The repair deleted evt_1 and created evt_2, but its answer was a 502: the delivery still
    knows evt_1 only, and the void's retraction must find evt_2 by the statement's id."""
    [statement_id] = store_now(django_capture_on_commit_callbacks, completion())
    pms_target.alter_event(statement_id, score=10.0)
    with django_capture_on_commit_callbacks(execute=False):  # the repair is queued
        reconcile(target=Target.objects.get(name="pms"), repair=True, **window())
    original = Delivery.objects.get(kind="deliver")
    # The repair: look-up, DELETE of the altered event, then the POST: created, answered 502.
    pms_target.enqueue(ok(), ok(), applied_then(502))
    delivery_send(original.id)
    original.refresh_from_db()
    assert original.status == Delivery.RETRYING and original.maybe_applied
    assert len(pms_target.events()) == 1  # the repair's event
    store_now(django_capture_on_commit_callbacks, voiding(statement_id))
    assert Delivery.objects.get(kind="retract").status == Delivery.DELIVERED
    assert pms_target.events() == {}, pms_target.events()


def test_a_voided_statement_the_pms_holds_twice_is_retracted_entirely_by_a_repair(
    pms_target, django_capture_on_commit_callbacks
):
    """A PMS holding the statement twice (an import, an admin's double): the void deletes the
    event it knows; reconciliation finds the other one, and its repair, under a key of its own,
    looks the statement up and deletes it. The next run is in sync."""
    [statement_id] = store_now(django_capture_on_commit_callbacks, completion())
    pms_target.duplicate_event(statement_id)
    store_now(django_capture_on_commit_callbacks, voiding(statement_id))
    assert len(pms_target.events()) == 1  # one request per plain void, paced: the known id
    with django_capture_on_commit_callbacks(execute=True):
        found = reconcile(target=Target.objects.get(name="pms"), repair=True, **window())
    assert (found.counts["extra"], found.counts["repaired"]) == (1, 1)
    assert pms_target.events() == {}, pms_target.events()
    with django_capture_on_commit_callbacks(execute=True):
        again = reconcile(target=Target.objects.get(name="pms"), repair=True, **window())
    assert again.counts["extra"] == again.counts["repaired"] == 0


def test_a_look_up_keeps_only_the_statements_own_events(
    pms_target, django_capture_on_commit_callbacks, monkeypatch
):
    """A PMS that ignored the statementId filter answers with other statements' events: a void
    must delete only its statement's."""
    [other] = store_now(django_capture_on_commit_callbacks, completion())
    [statement_id] = store_now(django_capture_on_commit_callbacks, completion())
    Delivery.objects.filter(statement_uuid=statement_id).update(external_id="")  # the id was lost
    real = PMSAdapter.send

    def unfiltered(self, request, context):
        if request.method == "GET" and "statementId=" in request.url:
            request = replace(request, url=request.url.split("?")[0] + "?limit=500")
        return real(self, request, context)

    monkeypatch.setattr(PMSAdapter, "send", unfiltered)
    store_now(django_capture_on_commit_callbacks, voiding(statement_id))
    assert [event["statementId"] for event in pms_target.events().values()] == [other]


def test_a_look_up_takes_the_statements_events_whatever_the_case_of_their_ids():
    """A PMS may answer UUIDs in capitals (SQL Server GUIDs): its events are still the
    statement's, or a retraction with no kept id would find nothing and a repair would double."""
    hook = PMSAdapter({"base_url": "https://pms.example.com", "client_id": "c", "token_url": "https://t"}, {})
    statement = {"id": "5f1c0e4a-1b2c-4d3e-8f40-0a1b2c3d4e5f"}
    answer = {
        "data": [{"id": "evt_1", "statementId": statement["id"].upper()}, {"id": "evt_2", "statementId": "x"}]
    }

    def send(self, request, context):
        return SendResult(status_code=200, body=json.dumps(answer))

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(PMSAdapter, "send", send)
        assert [event["id"] for event in hook._events_of(statement)] == ["evt_1"]
