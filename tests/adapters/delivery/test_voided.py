"""A voided statement is never sent: replay, backfill, retries and the sweep check at the moment a
delivery is claimed, not only when it was queued."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from adapters.delivery.drain import delivery_send
from adapters.delivery.replay import deliveries_replay
from adapters.identity.links import Identifiers, identity_links_upsert
from adapters.models import Delivery
from lrs.statements.models import Statement
from tests.adapters.helpers import COURSE, store_now, voiding
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db


def completion(email: str = "learner@example.com") -> dict:
    return make_statement(
        actor_email=email, activity=COURSE, result={"completion": True, "score": {"scaled": 0.9}}
    )


def test_replay_of_a_cancelled_delivery_of_a_voided_statement_is_refused_naming_the_void(
    pms_target, market_target, django_capture_on_commit_callbacks
):
    [statement_id] = store_now(django_capture_on_commit_callbacks, completion("newcomer@example.com"))
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.HELD}
    [voiding_id] = store_now(django_capture_on_commit_callbacks, voiding(statement_id))
    originals = Delivery.objects.filter(kind="deliver")
    assert set(originals.values_list("status", flat=True)) == {Delivery.CANCELLED}
    with django_capture_on_commit_callbacks(execute=True):
        outcome = deliveries_replay(delivery_ids=originals.values_list("id", flat=True))
    assert outcome.replayed == []
    assert len(outcome.refused) == 2
    assert all(voiding_id in reason and statement_id in reason for _id, reason in outcome.refused)
    with django_capture_on_commit_callbacks(execute=True):
        identity_links_upsert(employee_id="E300", identifiers=Identifiers(emails=["newcomer@example.com"]))
    assert pms_target.events() == {} and market_target.skills() == {}
    assert set(Delivery.objects.filter(kind="deliver").values_list("status", flat=True)) == {
        Delivery.CANCELLED
    }


def test_a_delivery_claimed_after_its_statement_was_voided_is_cancelled_unsent(
    pms_target, django_capture_on_commit_callbacks
):
    [statement_id] = store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    # The state a lost race leaves: the delivery due again (replayed, re-dispatched by the
    # sweep, forced by a backfill) while the statement was voided.
    Statement.objects.filter(statement_id=statement_id).update(voided=True)
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.PENDING)
    requests = len(pms_target.requests)
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery_send(delivery.pk) == Delivery.CANCELLED
    assert len(pms_target.requests) == requests
    assert "voided" in Delivery.objects.get(pk=delivery.pk).last_error


def test_voiding_statements_no_target_took_asks_the_delivery_tables_once(
    django_capture_on_commit_callbacks,
):
    [statement_id] = store_now(django_capture_on_commit_callbacks, completion())  # no target enabled
    with CaptureQueriesContext(connection) as queries:
        store_now(django_capture_on_commit_callbacks, voiding(statement_id))
    touching = [query["sql"] for query in queries if "adapters_delivery" in query["sql"]]
    assert len(touching) == 1 and "NOT EXISTS" in touching[0]
    assert Statement.objects.get(statement_id=statement_id).voided


def test_voiding_a_statement_a_target_took_still_cancels_its_delivery(
    pms_target, django_capture_on_commit_callbacks
):
    [statement_id] = store_now(django_capture_on_commit_callbacks, completion("newcomer@example.com"))
    assert Delivery.objects.get().status == Delivery.HELD
    store_now(django_capture_on_commit_callbacks, voiding(statement_id))
    assert Delivery.objects.get(kind="deliver").status == Delivery.CANCELLED
