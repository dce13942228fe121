"""A backfill or replay after a pseudonymising erasure: the person's statements now name a
pseudonym, linked to no one and never to be. A target that needs the learner (the PMS's events,
Teams' activity feed) sends nothing for them, and the deliveries end: none is held as "unmapped"
for good, where it would wait on an admin and count towards the held share for ever."""

from __future__ import annotations

import json

import pytest
import responses

from adapters.delivery.replay import backfill
from adapters.identity.links import Identifiers, identity_links_upsert
from adapters.models import Attempt, Delivery, Target
from adapters.privacy.erasure import erase_subject, finish_erasures
from adapters.privacy.subjects import subject_for
from lrs.statements.store import statement_store
from tests.adapters.helpers import (
    COURSE,
    pms_config,
    reconcile_now,
    store_now,
    teams_feed_config,
    voiding,
)
from tests.conftest import HOOK, make_statement
from tests.targets.behaviours import status

pytestmark = pytest.mark.django_db


def completion(email: str = "learner@example.com") -> dict:
    return make_statement(
        actor_email=email,
        activity=COURSE,
        result={"completion": True, "score": {"scaled": 0.9}},
    )


def erase(capture) -> None:
    with capture(execute=True):
        erase_subject(subject_for(employee_id="E100"), mode="pseudonymise", requested_by="dpo")
    finish_erasures()


def second_pms(pms_server, name: str, **config) -> Target:
    return Target.objects.create(name=name, adapter="pms", config=pms_config(pms_server, **config))


def _erased(capture, pms_target) -> None:
    store_now(capture, completion(), completion())
    assert len(pms_target.events()) == 2
    erase(capture)
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
        config=teams_feed_config(graph_server),
    )
    with django_capture_on_commit_callbacks(execute=True):
        backfill(target=feed)
    assert graph_server.notifications() == []
    delivers = Delivery.objects.filter(target=feed)
    assert delivers.count() == 2
    assert not delivers.exclude(status=Delivery.DELIVERED).exists(), list(
        delivers.values("status", "last_error")
    )


def test_a_void_after_a_post_erasure_backfill_to_a_pms_keeping_history_is_not_held_for_good(
    pms_target, django_capture_on_commit_callbacks
):
    """A PMS recording retraction events (``retraction: event``) backfilled after the erasure: the
    erased learner's statement is now "delivered" with nothing sent. Voiding it later then asks for
    a retraction (the original looks made). Held as "unmapped identity", it would wait for good,
    and reconciliation (no read-back) would report the
    voided statement as extra for ever. Now both end with nothing sent, and nothing is owed."""
    capture = django_capture_on_commit_callbacks
    [statement_id] = store_now(capture, completion())
    erase(capture)
    history = second_pms(pms_target, "pms-history", retraction="event")
    with capture(execute=True):
        backfill(target=history)
    [deliver] = Delivery.objects.filter(target=history, kind="deliver")
    assert deliver.status == Delivery.DELIVERED  # nothing sent: "the learner was erased"
    with capture(execute=True):
        statement_store(statements=[voiding(statement_id)], credential=None)
    stuck = list(
        Delivery.objects.filter(target=history, kind="retract")
        .exclude(status__in=[Delivery.DELIVERED, Delivery.CANCELLED])
        .values("status", "last_error")
    )
    run = reconcile_now(capture, "pms-history")
    assert (stuck, run.counts["extra"]) == ([], 0), (stuck, run.counts)


def test_an_erased_learners_teams_notification_of_unknown_outcome_is_not_counted_missing(
    fake_env, graph_server, django_capture_on_commit_callbacks
):
    """Teams' activity feed: a notification whose outcome is unknown (Graph answered 502) when
    the learner is erased stays "outcome unknown" (the erasure cancels only pending, retrying and
    held deliveries). Reconciliation, which calls only ``resolve``, must not count the erased
    learner's statement as owed and missing: resolve says there is nothing to send."""
    capture = django_capture_on_commit_callbacks
    Target.objects.create(
        name="teams",
        adapter="msteams",
        config=teams_feed_config(graph_server),
    )
    graph_server.enqueue(status(502))
    store_now(capture, completion())
    assert Delivery.objects.get(target__name="teams").status == Delivery.UNKNOWN
    erase(capture)
    run = reconcile_now(capture, "teams")
    assert run.counts["missing"] == 0 and run.drift_percent == 0.0, (run.counts, run.mismatches)


def test_a_void_after_a_post_erasure_backfill_to_a_deleting_pms_settles(
    pms_target, django_capture_on_commit_callbacks
):
    """Control for the first defect: a PMS deleting events looks the statement's events up, finds
    none, and the retraction ends with nothing to send; reconciliation is clean."""
    capture = django_capture_on_commit_callbacks
    [statement_id] = store_now(capture, completion())
    erase(capture)
    fresh = second_pms(pms_target, "pms-fresh")
    with capture(execute=True):
        backfill(target=fresh)
    with capture(execute=True):
        statement_store(statements=[voiding(statement_id)], credential=None)
    assert set(Delivery.objects.filter(target=fresh).values_list("status", flat=True)) == {Delivery.DELIVERED}
    run = reconcile_now(capture, "pms-fresh")
    assert (run.counts["missing"], run.counts["extra"], run.counts["different"]) == (0, 0, 0)
    assert pms_target.events() == {}


def test_a_void_by_the_pseudonym_of_someone_elses_statement_still_retracts_their_event(
    pms_target, django_capture_on_commit_callbacks
):
    """A voiding statement of the erased learner (kept, pseudonymised) whose target is another
    employee's statement: the retraction resolves the voided statement, not the voiding one."""
    capture = django_capture_on_commit_callbacks
    identity_links_upsert(employee_id="E200", identifiers=Identifiers(emails=["other@example.com"]))
    [theirs] = store_now(capture, completion("other@example.com"))
    assert [e["employeeId"] for e in pms_target.events().values()] == ["E200"]
    with capture(execute=False):  # the retraction waits past the erasure
        statement_store(statements=[voiding(theirs, actor_email="learner@example.com")], credential=None)
    erase(capture)
    from adapters.delivery.sweep import sweep_due

    with capture(execute=True):
        sweep_due()
    retraction = Delivery.objects.get(target__name="pms", kind="retract")
    assert retraction.status == Delivery.DELIVERED, retraction.last_error
    assert pms_target.events() == {}


@responses.activate
def test_a_webhook_backfilled_after_the_erasure_still_gets_the_pseudonymised_statements(
    hook_target, fake_env, django_capture_on_commit_callbacks
):
    """The webhook sends pseudonyms on purpose: unaffected by ``erased_actor``."""
    capture = django_capture_on_commit_callbacks
    responses.post(HOOK, status=200)
    store_now(capture, completion(), completion())
    erase(capture)
    responses.calls.reset()
    hook = Target.objects.create(
        name="hook2", adapter="webhook", config={"url": HOOK, "secret": {"env": "TEST_WEBHOOK_SECRET"}}
    )
    with capture(execute=True):
        backfill(target=hook)
    assert set(Delivery.objects.filter(target=hook).values_list("status", flat=True)) == {Delivery.DELIVERED}
    bodies = [json.loads(call.request.body) for call in responses.calls]
    assert len(bodies) == 2, bodies
    assert "learner@example.com" not in json.dumps(bodies)
    assert all(body["actor"].get("pseudonym") for body in bodies), bodies[0]["actor"]
