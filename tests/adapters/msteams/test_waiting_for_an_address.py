"""A Teams activity-feed notification for an employee known by account or openid reaches them at
an e-mail address linked to them (Graph's ``sendActivityNotification`` names a user). An employee
with none yet is a learner not yet reachable, as an unmapped one is: the notification waits, held,
and goes out once an address is linked (by the API, a move or the HRIS feed), or is cancelled
with the person's erasure. Checked on what the fake Graph holds."""

from __future__ import annotations

import uuid

import pytest

from adapters.identity.holds import identity_conflicts
from adapters.identity.hris import hris_import, rows_from_text
from adapters.identity.links import Identifiers, identity_links_move, identity_links_upsert
from adapters.models import Delivery, Target
from adapters.privacy.erasure import erase_subject
from adapters.privacy.subjects import subject_for
from tests.adapters.helpers import COURSE, store_now, teams_feed_config
from tests.conftest import make_statement

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("retries_far_off")]

LMS = "https://lms.example.com"
ACCOUNT = {"homePage": LMS, "name": "u-4712"}
NO_ADDRESS = "no e-mail address"  # the held reason (adapters.identity.resolution)
HRIS_HEADER = "employee_id,emails,accounts,status,effective_date,manager_id,department\n"


@pytest.fixture
def feed(fake_env, graph_server):
    Target.objects.create(name="teams", adapter="msteams", config=teams_feed_config(graph_server))
    return graph_server


def completion_by_account() -> dict:
    statement = make_statement(
        actor_email="unused@example.com",
        activity=COURSE,
        statement_id=str(uuid.uuid4()),
        result={"completion": True},
    )
    statement["actor"] = {"objectType": "Agent", "name": "Bo", "account": ACCOUNT}
    return statement


def stored_while_unaddressed(feed, capture) -> Delivery:
    identity_links_upsert(employee_id="E300", identifiers=Identifiers(accounts=[ACCOUNT]))
    store_now(capture, completion_by_account())
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.HELD, (delivery.status, delivery.last_error)
    assert delivery.last_error.startswith(NO_ADDRESS), delivery.last_error
    assert feed.notifications() == []
    return delivery


def test_a_learner_linked_by_account_without_an_address_is_notified_once_an_address_is_linked(
    feed, django_capture_on_commit_callbacks
):
    stored_while_unaddressed(feed, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        identity_links_upsert(employee_id="E300", identifiers=Identifiers(emails=["bo@example.com"]))
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.DELIVERED, (delivery.status, delivery.last_error)
    assert [n["user"] for n in feed.notifications()] == ["bo@example.com"]


def test_the_held_report_says_the_employee_has_no_address(feed, django_capture_on_commit_callbacks):
    stored_while_unaddressed(feed, django_capture_on_commit_callbacks)
    [group] = identity_conflicts()
    assert (group.reason, group.deliveries, group.candidates) == (NO_ADDRESS, 1, ["E300"])


def test_an_address_moved_to_the_employee_releases_the_notification(feed, django_capture_on_commit_callbacks):
    identity_links_upsert(employee_id="E100", identifiers=Identifiers(emails=["bo@example.com"]))
    stored_while_unaddressed(feed, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        identity_links_move(
            identifiers=Identifiers(emails=["bo@example.com"]), from_employee_id="E100", to_employee_id="E300"
        )
    assert Delivery.objects.get().status == Delivery.DELIVERED
    assert [n["user"] for n in feed.notifications()] == ["bo@example.com"]


def test_an_address_from_the_hris_feed_releases_the_notification(feed, django_capture_on_commit_callbacks):
    stored_while_unaddressed(feed, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        [result] = hris_import(rows_from_text(HRIS_HEADER + "E300,bo@example.com,,active,,,\n", jsonl=False))
    assert result.result in {"created", "updated"}, result.as_dict()
    assert Delivery.objects.get().status == Delivery.DELIVERED
    assert [n["user"] for n in feed.notifications()] == ["bo@example.com"]


def test_an_erasure_cancels_the_waiting_notification(feed, django_capture_on_commit_callbacks):
    stored_while_unaddressed(feed, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        erase_subject(subject_for(employee_id="E300"), mode="pseudonymise", requested_by="dpo")
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.CANCELLED, (delivery.status, delivery.last_error)
    assert feed.notifications() == []
