"""Slack: a bot token lacking a scope is as careful as it must be, and no more (the adapter's
contract, adapters/slack/adapter.py; channels.py says which posts go by name). Without groups:read
the bot lists public channels alone and posts into them by id, where it can read the history: a
post there that may have been made is looked for and retried, as with every scope; only a post by
name, into a channel it may not list, waits as "outcome unknown" for an admin."""

from __future__ import annotations

import pytest

from adapters.delivery.drain import delivery_send
from adapters.models import Delivery, Target
from tests.adapters.helpers import COURSE, store_now
from tests.conftest import make_statement
from tests.targets.behaviours import Behaviour, applied_then, hang, ok

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("retries_far_off")]

LEARNING = "C0000000002"  # #learning, a public channel, in the fake's default workspace


def completion() -> dict:
    return make_statement(actor_email="learner@example.com", activity=COURSE, result={"completion": True})


def _retry(delivery: Delivery, django_capture_on_commit_callbacks) -> str:
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
    with django_capture_on_commit_callbacks(execute=True):
        return delivery_send(delivery.pk)


@pytest.mark.parametrize(
    "lost_answer", [applied_then(500), hang(1.0)], ids=["posted-then-500", "posted-after-the-timeout"]
)
def test_a_post_into_a_public_channel_without_groups_read_that_may_have_been_made_is_looked_for_and_retried(
    slack_target, django_capture_on_commit_callbacks, lost_answer: Behaviour
):
    slack_target.withhold_scope("groups:read")
    target = Target.objects.get(name="slack")
    Target.objects.filter(pk=target.pk).update(config={**target.config, "timeout_seconds": 0.3})
    # Public channels listed (the listing with private ones is refused: missing_scope); the post
    # into #learning, by its id, is made but its answer lost.
    slack_target.enqueue(ok(), lost_answer)
    store_now(django_capture_on_commit_callbacks, completion())
    assert slack_target.wait_for(lambda fake: len(fake.messages()) == 1, timeout=5)
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.RETRYING, (delivery.status, delivery.last_error)
    assert _retry(delivery, django_capture_on_commit_callbacks) == Delivery.DELIVERED
    assert [m["channel"] for m in slack_target.messages()] == [LEARNING]


def test_a_post_by_name_into_a_private_channel_without_groups_read_that_may_have_been_made_is_parked(
    slack_target, django_capture_on_commit_callbacks
):
    """The one post such a bot cannot look for: by name, into a channel it may not list (no id for
    conversations.history). It is not sent again blindly."""
    slack_target.withhold_scope("groups:read")
    secret_room = slack_target.add_channel("#learning-private", "G0000000007", private=True)
    target = Target.objects.get(name="slack")
    prefixes = [{"prefix": "https://lms.example.com/courses/", "channel": "#learning-private"}]
    Target.objects.filter(pk=target.pk).update(config={**target.config, "channels_by_prefix": prefixes})
    slack_target.enqueue(ok(), applied_then(500))  # public channels listed; posted, then 500
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.UNKNOWN, (delivery.status, delivery.last_error)
    assert [m["channel"] for m in slack_target.messages()] == [secret_room]


def test_groups_read_withdrawn_while_a_large_workspace_is_listed_falls_back_to_public_channels(
    slack_target, django_capture_on_commit_callbacks
):
    """2,500 channels, 200 a page, the routed one on the 13th: the first attempt lists as far as
    its budget allows (the listing kept, to go on). An admin then takes groups:read from the bot:
    the listing going on is refused (missing_scope), and the delivery lists the public channels
    afresh, as a listing begun without the scope does, and is posted; not given up for good."""
    slack_target.list_at_most(200)
    for number in range(2500):
        slack_target.add_channel(f"#team-{number:04d}")
    wanted = slack_target.add_channel("#course-news")
    target = Target.objects.get(name="slack")
    prefixes = [{"prefix": "https://lms.example.com/courses/", "channel": "#course-news"}]
    Target.objects.filter(pk=target.pk).update(config={**target.config, "channels_by_prefix": prefixes})
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.RETRYING and not slack_target.messages()  # listing goes on
    slack_target.withhold_scope("groups:read")
    for _ in range(5):
        if _retry(delivery, django_capture_on_commit_callbacks) != Delivery.RETRYING:
            break
    delivery.refresh_from_db()
    assert delivery.status == Delivery.DELIVERED, (delivery.status, delivery.last_error)
    assert [m["channel"] for m in slack_target.messages()] == [wanted]


def test_a_private_channel_routed_by_name_without_groups_read_does_not_relist_the_workspace_every_minute(
    slack_target, django_capture_on_commit_callbacks, monkeypatch
):
    """1,000 public channels, 200 a page; the course routed by name to a private channel the
    token may not list (no groups:read): the public listing is kept, and the name is not in it by
    nature, not because the listing is stale. Each completion a minute after the last (the miss
    refresh due) is posted by name, once, without listing the public workspace again (six pages
    each time) while the listing itself is kept."""
    slack_target.withhold_scope("groups:read")
    slack_target.list_at_most(200)
    for number in range(1000):
        slack_target.add_channel(f"#team-{number:04d}")
    secret_room = slack_target.add_channel("#learning-private", "G0000000007", private=True)
    target = Target.objects.get(name="slack")
    prefixes = [{"prefix": "https://lms.example.com/courses/", "channel": "#learning-private"}]
    Target.objects.filter(pk=target.pk).update(config={**target.config, "channels_by_prefix": prefixes})
    store_now(django_capture_on_commit_callbacks, completion())
    listed_once = len(slack_target.requests_for("conversations.list"))
    assert listed_once >= 6  # the refused listing with private channels, then the public pages
    monkeypatch.setattr("adapters.slack.channels.MISS_REFRESH_SECONDS", 0)  # a minute later, each
    store_now(django_capture_on_commit_callbacks, completion(), completion())
    assert Delivery.objects.filter(status=Delivery.DELIVERED).count() == 3
    assert [m["channel"] for m in slack_target.messages()] == [secret_room] * 3
    assert len(slack_target.requests_for("conversations.list")) == listed_once


@pytest.mark.xfail(
    strict=True,
    reason=(
        "product decision needed: without groups:read a name missing from the kept public listing "
        "is posted to by name until the listing is renewed (ten minutes; README, channels.py), as "
        "a private channel is, since relisting on such a miss relisted the whole public workspace "
        "every minute for each private channel routed (d7d06a0). A public channel made since is "
        "then posted to by name: the message lands in it, but a post of it whose answer is lost "
        "waits as outcome unknown rather than being looked for. Listing afresh once per name "
        "missed (kept with the listing) would find it at one listing per private name per ten "
        "minutes."
    ),
)
def test_a_public_channel_made_since_the_listing_is_posted_to_by_id_without_groups_read(
    slack_target, django_capture_on_commit_callbacks, monkeypatch
):
    slack_target.withhold_scope("groups:read")
    store_now(django_capture_on_commit_callbacks, completion())  # public channels listed, kept
    assert [m["channel"] for m in slack_target.messages()] == [LEARNING]
    made_now = slack_target.add_channel("#course-news")
    target = Target.objects.get(name="slack")
    prefixes = [{"prefix": "https://lms.example.com/courses/", "channel": "#course-news"}]
    Target.objects.filter(pk=target.pk).update(config={**target.config, "channels_by_prefix": prefixes})
    monkeypatch.setattr("adapters.slack.channels.MISS_REFRESH_SECONDS", 0)  # a minute later
    store_now(django_capture_on_commit_callbacks, completion())
    assert [m["channel"] for m in slack_target.messages()] == [LEARNING, made_now]
    posted_into = slack_target.requests_for("chat.postMessage")[-1].json_body()["channel"]
    assert posted_into == made_now, "posted by name: a retry of it could not look for it"
