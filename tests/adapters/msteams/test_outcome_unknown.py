"""Teams: the activity feed offers no way to look a notification up, so an attempt that may have
reached Graph is never sent again blindly: the delivery waits, visible, for an admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from adapters.delivery.sweep import sweep_due
from adapters.models import Delivery, Target
from tests.adapters.helpers import COURSE, store_now, teams_feed_config
from tests.conftest import make_statement
from tests.targets.behaviours import hang, status

pytestmark = pytest.mark.django_db


@pytest.fixture
def teams(fake_env, graph_server):
    Target.objects.create(
        name="teams",
        adapter="msteams",
        config=teams_feed_config(graph_server, timeout_seconds=0.3),
    )
    return graph_server


@pytest.mark.parametrize("behaviour", [hang(1.0), status(502)], ids=["timeout", "502"])
def test_an_ambiguous_failure_parks_the_delivery_as_outcome_unknown(
    teams, behaviour, django_capture_on_commit_callbacks
):
    teams.enqueue(behaviour)
    store_now(
        django_capture_on_commit_callbacks,
        make_statement(actor_email="learner@example.com", activity=COURSE, result={"completion": True}),
    )
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.UNKNOWN, delivery.last_error


def notification(**extra) -> dict:
    return make_statement(
        actor_email="learner@example.com", activity=COURSE, result={"completion": True}, **extra
    )


def test_after_its_worker_died_a_notification_is_never_sent_again_blindly(
    teams, django_capture_on_commit_callbacks
):
    store_now(django_capture_on_commit_callbacks, notification())
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.DELIVERED and len(teams.notifications()) == 1
    # The state a worker killed right after Graph accepted it leaves behind: in flight, claim run out.
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.IN_FLIGHT, claimed_until=timezone.now() - timedelta(seconds=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        sweep_due()
    assert Delivery.objects.get().status == Delivery.UNKNOWN
    assert len(teams.notifications()) == 1


@pytest.mark.usefixtures("retries_far_off")
def test_a_failed_token_request_is_an_ordinary_retry_not_an_unknown_outcome(
    teams, django_capture_on_commit_callbacks
):
    teams.enqueue_token(status(503))
    store_now(django_capture_on_commit_callbacks, notification())
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.RETRYING and teams.notifications() == []


def test_the_admin_marks_an_unknown_outcome_delivered_or_sends_it_again(
    teams, admin_client, django_capture_on_commit_callbacks
):
    teams.enqueue(status(502))
    store_now(django_capture_on_commit_callbacks, notification(), notification())
    first, second = Delivery.objects.order_by("id")
    assert {first.status, second.status} == {Delivery.UNKNOWN, Delivery.DELIVERED}
    unknown = first if first.status == Delivery.UNKNOWN else second
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            "/admin/adapters/delivery/", {"action": "send_again", "_selected_action": [unknown.pk]}
        )
    again = Delivery.objects.get(pk=unknown.pk)
    assert again.status == Delivery.DELIVERED, (again.last_error, again.maybe_applied)
    assert len(teams.notifications()) == 2
    teams.enqueue(status(502))
    store_now(django_capture_on_commit_callbacks, notification())
    third = Delivery.objects.get(status=Delivery.UNKNOWN)
    admin_client.post(
        "/admin/adapters/delivery/", {"action": "mark_delivered", "_selected_action": [third.pk]}
    )
    third.refresh_from_db()
    assert third.status == Delivery.DELIVERED and "marked delivered" in third.last_error
    assert len(teams.notifications()) == 2
