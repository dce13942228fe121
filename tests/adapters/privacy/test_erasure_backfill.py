"""A backfill or replay after a pseudonymising erasure: the person's statements now name a
pseudonym, linked to no one and never to be. A target that needs the learner (the PMS's events,
Teams' activity feed) sends nothing for them, and the deliveries end: none is held as "unmapped"
for good, where it would wait on an admin and count towards the held share for ever."""

from __future__ import annotations

import pytest

from adapters.delivery.replay import backfill
from adapters.models import Attempt, Delivery, Target
from adapters.privacy.erasure import erase_subject, finish_erasures
from adapters.privacy.subjects import subject_for
from tests.adapters.helpers import COURSE, store_now
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db


def completion() -> dict:
    return make_statement(
        actor_email="learner@example.com",
        activity=COURSE,
        result={"completion": True, "score": {"scaled": 0.9}},
    )


def _erased(capture, pms_target) -> None:
    store_now(capture, completion(), completion())
    assert len(pms_target.events()) == 2
    with capture(execute=True):
        erase_subject(subject_for(employee_id="E100"), mode="pseudonymise", requested_by="dpo")
    finish_erasures()
    assert pms_target.events() == {}


def test_a_forced_backfill_to_the_pms_after_the_erasure_sends_nothing_and_holds_nothing(
    pms_target, django_capture_on_commit_callbacks
):
    _erased(django_capture_on_commit_callbacks, pms_target)
    with django_capture_on_commit_callbacks(execute=True):
        backfill(target=Target.objects.get(name="pms"), force=True)
    assert pms_target.events() == {}
    delivers = Delivery.objects.filter(target__name="pms", kind="deliver")
    assert delivers.count() == 2
    assert set(delivers.values_list("status", flat=True)) == {Delivery.DELIVERED}
    ended = Attempt.objects.filter(delivery__in=delivers, response_excerpt__contains="learner was erased")
    assert ended.count() == 2  # the backfill's attempt of each says why it sent nothing


def test_a_new_teams_feed_backfilled_after_the_erasure_notifies_no_one_and_holds_nothing(
    pms_target, graph_server, fake_env, django_capture_on_commit_callbacks
):
    _erased(django_capture_on_commit_callbacks, pms_target)
    feed = Target.objects.create(
        name="teams-feed",
        adapter="msteams",
        config={
            "mode": "activity_feed",
            "tenant_id": graph_server.tenant_id,
            "client_id": graph_server.client_id,
            "client_secret": {"env": "GRAPH_SECRET"},
            "login_base": graph_server.url,
            "graph_base": graph_server.url,
        },
    )
    with django_capture_on_commit_callbacks(execute=True):
        backfill(target=feed)
    assert graph_server.notifications() == []
    delivers = Delivery.objects.filter(target=feed)
    assert delivers.count() == 2
    assert not delivers.exclude(status=Delivery.DELIVERED).exists(), list(
        delivers.values("status", "last_error")
    )
