"""What Teams holds (adapters/msteams/adapter.py, "What Teams holds") after sequences the property
test does not draw: throttling honoured, a learner known only by an unmapped account, a void that
reaches the LRS before its statement, an erasure while a notification waits, a message of an
activity whose name is long. Checked on what the fake Graph holds, not on requests."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from adapters.delivery.drain import delivery_send
from adapters.identity.links import Identifiers, identity_links_upsert
from adapters.models import Delivery, Target
from adapters.privacy.erasure import erase_subject
from adapters.privacy.subjects import subject_for
from tests.adapters.helpers import COURSE, store_now, teams_channel_config, teams_feed_config, voiding
from tests.conftest import make_statement
from tests.targets.behaviours import hang, retry_after, status

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("retries_far_off")]

CHANNEL = "19:learning@thread.tacv2"
LMS = "https://lms.example.com"


@pytest.fixture
def feed(fake_env, graph_server):
    Target.objects.create(name="teams", adapter="msteams", config=teams_feed_config(graph_server))
    return graph_server


@pytest.fixture
def channel(fake_env, graph_server, monkeypatch):
    monkeypatch.setenv("GRAPH_REFRESH", graph_server.issue_refresh_token())
    Target.objects.create(name="teams", adapter="msteams", config=teams_channel_config(graph_server, CHANNEL))
    return graph_server


def completion(**extra) -> dict:
    extra.setdefault("statement_id", str(uuid.uuid4()))
    extra.setdefault("result", {"completion": True})
    return make_statement(actor_email="learner@example.com", activity=COURSE, **extra)


def send_due_now(delivery: Delivery) -> str | None:
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    Target.objects.update(paused_until=None, consecutive_failures=0)
    return delivery_send(delivery.pk)


def test_a_429_waits_as_long_as_graph_asks_then_the_learner_is_notified_once(
    feed, django_capture_on_commit_callbacks
):
    feed.enqueue(retry_after(120))
    before = timezone.now()
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    # Graph said it did not take it (429): an ordinary retry, not "outcome unknown", not before it asked.
    assert delivery.status == Delivery.RETRYING and not delivery.maybe_applied, delivery.last_error
    assert delivery.next_attempt_at >= before + timedelta(seconds=120)
    assert feed.notifications() == []
    assert send_due_now(delivery) == Delivery.DELIVERED
    assert [n["user"] for n in feed.notifications()] == ["learner@example.com"]


def test_a_learner_known_only_by_an_unmapped_account_is_held_then_notified_once_linked(
    feed, django_capture_on_commit_callbacks
):
    """The activity feed needs the learner: an LMS account no link names waits (held), and the
    link that names it releases it to the address the link gives, once."""
    account = {"homePage": LMS, "name": "u-4711"}
    statement = make_statement(activity=COURSE, result={"completion": True})
    statement["actor"] = {"objectType": "Agent", "name": "Ada", "account": account}
    store_now(django_capture_on_commit_callbacks, statement)
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.HELD and feed.notifications() == [], delivery.last_error
    with django_capture_on_commit_callbacks(execute=True):
        identity_links_upsert(
            employee_id="E200",
            identifiers=Identifiers(emails=["ada@example.com"], accounts=[account]),
        )
    delivery.refresh_from_db()
    assert delivery.status == Delivery.DELIVERED, (delivery.status, delivery.last_error)
    assert [n["user"] for n in feed.notifications()] == ["ada@example.com"]


@pytest.mark.parametrize("mode", ["activity_feed", "channel_message"])
def test_a_void_that_reaches_the_lrs_before_its_statement_notifies_no_one(
    mode, fake_env, graph_server, monkeypatch, django_capture_on_commit_callbacks
):
    """xAPI Data 2.3.2: a voiding statement may come first; the statement is voided when it
    comes, so Teams never hears of it."""
    monkeypatch.setenv("GRAPH_REFRESH", graph_server.issue_refresh_token())
    config = (
        teams_feed_config(graph_server)
        if mode == "activity_feed"
        else teams_channel_config(graph_server, CHANNEL)
    )
    Target.objects.create(name="teams", adapter="msteams", config=config)
    original = completion()
    store_now(django_capture_on_commit_callbacks, voiding(original["id"]))
    store_now(django_capture_on_commit_callbacks, original)
    assert graph_server.notifications() == [] and graph_server.channel_messages() == []
    assert not Delivery.objects.filter(
        status__in=[Delivery.PENDING, Delivery.RETRYING, Delivery.HELD]
    ).exists()


def test_an_erasure_while_a_notification_waits_for_its_retry_cancels_it(
    feed, django_capture_on_commit_callbacks
):
    """The learner is erased while their notification waits after a refused attempt: it is never
    sent (deliveries not yet made are cancelled), and a forced backfill sends nothing for them."""
    from adapters.delivery.replay import backfill

    feed.enqueue(status(503))
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.RETRYING
    with django_capture_on_commit_callbacks(execute=True):
        erase_subject(subject_for(employee_id="E100"), mode="pseudonymise", requested_by="dpo")
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.CANCELLED
    send_due_now(delivery)
    with django_capture_on_commit_callbacks(execute=True):
        backfill(target=Target.objects.get(name="teams"), force=True)
    assert feed.notifications() == []
    # The backfill re-evaluated it: nothing to send for a pseudonym, nothing left waiting.
    again = Delivery.objects.get(pk=delivery.pk)
    assert again.status in (Delivery.CANCELLED, Delivery.DELIVERED), (again.status, again.last_error)


def test_a_completion_of_an_activity_with_a_long_name_reaches_the_channel(
    channel, django_capture_on_commit_callbacks
):
    """xAPI sets no length on an activity's name (an LMS may put the course description in it);
    the channel message is one Teams takes (about 28 KB at most), naming the activity by its
    beginning, not a message Teams refuses for good, leaving the completion unannounced."""
    statement = completion()
    statement["object"]["definition"]["name"] = {"en-US": "Arbeitssicherheit & Gesundheitsschutz " * 800}
    store_now(django_capture_on_commit_callbacks, statement)
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.DELIVERED, delivery.last_error
    [message] = channel.channel_messages()
    assert message["body"]["content"].startswith(
        "<p><b>A Learner</b> completed Arbeitssicherheit &amp; Gesundheitsschutz"
    )


def test_a_feed_configured_with_the_reserved_system_default_type_notifies_the_learner(
    fake_env, graph_server, django_capture_on_commit_callbacks
):
    """``activity_type: systemDefault``, Graph's reserved type that needs no entry in the Teams
    app's manifest, takes its text from a ``systemDefaultText`` template parameter, which Graph
    requires (https://learn.microsoft.com/graph/teams-send-activityfeednotifications, "systemDefault");
    the configuration schema accepts the type, so the learner is notified."""
    Target.objects.create(
        name="teams",
        adapter="msteams",
        config=teams_feed_config(graph_server, activity_type="systemDefault"),
    )
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.DELIVERED, delivery.last_error
    [notification] = graph_server.notifications()
    assert notification["user"] == "learner@example.com"
    parameters = {p["name"]: p["value"] for p in notification["templateParameters"]}
    assert parameters["systemDefaultText"] == "A Learner completed Safety 101"


def test_reconciliation_owes_a_channel_only_what_it_announces(channel, django_capture_on_commit_callbacks):
    """A completion posted, a failed result and a bare score (never announced in a channel), a
    completion voided after its post: reconciliation finds nothing missing and nothing extra."""
    from tests.adapters.helpers import reconcile_now

    posted, voided = completion(), completion()
    failed = completion(verb="http://adlnet.gov/expapi/verbs/failed", result={"success": False})
    scored = completion(verb="http://adlnet.gov/expapi/verbs/scored", result={"score": {"scaled": 0.5}})
    store_now(django_capture_on_commit_callbacks, posted, failed, scored, voided)
    store_now(django_capture_on_commit_callbacks, voiding(voided["id"]))
    assert len(channel.channel_messages()) == 2
    run = reconcile_now(django_capture_on_commit_callbacks, "teams")
    assert (run.counts["missing"], run.counts["extra"]) == (0, 0), (run.counts, run.mismatches)
    assert len(channel.channel_messages()) == 2


def test_a_feed_send_makes_no_more_requests_than_its_claim_is_sized_for(
    feed, django_capture_on_commit_callbacks
):
    """``requests_per_send`` sizes the claim a send runs under (``drain.claim_seconds``); a send
    making more could outlast it, the sweep would take the delivery as stalled, and one Graph
    took would wait as "outcome unknown" for an admin. The most one feed send makes: a token, the
    post refused 401 (the token revoked early), a fresh token, the post."""
    from adapters.msteams.adapter import TeamsAdapter

    feed.enqueue(status(401))
    store_now(django_capture_on_commit_callbacks, completion())
    assert Delivery.objects.get().status == Delivery.DELIVERED and len(feed.notifications()) == 1
    routes = [r.route for r in feed.requests]
    assert len(routes) <= TeamsAdapter.requests_per_send(Target.objects.get(name="teams").config), routes


def test_a_channel_send_makes_no_more_requests_than_its_claim_is_sized_for(
    fake_env, graph_server, monkeypatch, django_capture_on_commit_callbacks
):
    """The most one channel send makes: the configured refresh token refused (lapsed), the one an
    earlier version stored under the legacy key, the post refused 401, a fresh token, the post."""
    from adapters.msteams.adapter import TeamsAdapter
    from adapters.msteams.token_store import token_put

    monkeypatch.setenv("GRAPH_REFRESH", "consented-long-ago-and-expired")
    config = teams_channel_config(graph_server, CHANNEL)
    target = Target.objects.create(name="teams", adapter="msteams", config=config)
    legacy = TeamsAdapter(config, {"refresh_token": "unused"})._legacy_store_key
    token_put(legacy, graph_server.issue_refresh_token())
    graph_server.enqueue(status(401))
    store_now(django_capture_on_commit_callbacks, completion())
    assert Delivery.objects.get().status == Delivery.DELIVERED, Delivery.objects.get().last_error
    assert len(graph_server.channel_messages()) == 1
    routes = [r.route for r in graph_server.requests]
    assert len(routes) <= TeamsAdapter.requests_per_send(target.config), routes


def test_a_reconciliation_repair_never_resends_a_notification_of_unknown_outcome(
    feed, django_capture_on_commit_callbacks
):
    """Graph made the notification but answered 502: the delivery waits as "outcome unknown".
    Reconciliation counts it missing (no delivery says it arrived); its repair must not post it
    again blindly: it waits for the admin still."""
    from tests.adapters.helpers import reconcile_now
    from tests.targets.behaviours import applied_then

    feed.enqueue(applied_then(502))
    store_now(django_capture_on_commit_callbacks, completion())
    assert Delivery.objects.get().status == Delivery.UNKNOWN and len(feed.notifications()) == 1
    reconcile_now(django_capture_on_commit_callbacks, "teams", repair=True)
    assert len(feed.notifications()) == 1
    assert Delivery.objects.get().status == Delivery.UNKNOWN


def test_a_feed_send_lasts_no_longer_than_its_claim_is_sized_for_when_the_token_endpoint_is_slow(
    fake_env, graph_server, django_capture_on_commit_callbacks
):
    """A send's claim covers ``requests_per_send`` requests of the target's ``timeout_seconds``
    each (``pacing.claims.send_seconds``): the token request too. The identity platform answers
    after 6 s, the target's timeout is 1 s: the send must give up within its 4 requests' 4 s (the
    token request failing, nothing posted, to be tried again), not wait out a timeout of its own."""
    import time

    from adapters.delivery.pacing.claims import send_seconds
    from adapters.registry import adapter_for

    config = teams_feed_config(graph_server, timeout_seconds=1)
    target = Target.objects.create(name="teams", adapter="msteams", config=config)
    graph_server.enqueue_token(hang(6))
    began = time.monotonic()
    store_now(django_capture_on_commit_callbacks, completion())
    took = time.monotonic() - began
    budget = send_seconds(target, adapter_for(target.adapter, target.config))
    assert took <= budget, (took, budget)
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.RETRYING and not delivery.maybe_applied, delivery.last_error
    assert graph_server.notifications() == []
