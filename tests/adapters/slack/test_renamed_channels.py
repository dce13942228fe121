"""Slack: a delivery's message is looked for where it went, the channel Slack posted into, not
wherever its name points by the retry (the adapter's contract, adapters/slack/adapter.py): a
channel keeps its id through a rename, and its old name may be given to another channel."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from adapters.delivery.drain import delivery_send
from adapters.models import Delivery, Target
from adapters.slack.channels import ChannelIds
from tests.adapters.helpers import COURSE, slack_retry_after_passed, store_now
from tests.conftest import make_statement
from tests.targets.behaviours import applied_then, hang, ok, status

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("retries_far_off")]

LEARNING = "C0000000002"


def completion() -> dict:
    return make_statement(actor_email="learner@example.com", activity=COURSE, result={"completion": True})


def _retry(delivery: Delivery, django_capture_on_commit_callbacks) -> str:
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
    with django_capture_on_commit_callbacks(execute=True):
        return delivery_send(delivery.pk)


def test_a_channel_renamed_and_its_name_reused_between_attempts_does_not_double_the_message(
    slack_target, django_capture_on_commit_callbacks
):
    slack_target.enqueue(ok(), applied_then(500))  # listed; posted in #learning, then answered 500
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert [m["channel"] for m in slack_target.messages()] == [LEARNING]
    # Before the retry, #learning becomes #learning-2025 and a new channel is named #learning.
    slack_target.rename_channel("#learning", "#learning-2025")
    slack_target.add_channel("#learning", "C0000000003")
    cache.clear()  # the channels listed afresh since: #learning is C0000000003 now
    assert _retry(delivery, django_capture_on_commit_callbacks) == Delivery.DELIVERED
    assert [m["channel"] for m in slack_target.messages()] == [LEARNING]


def test_a_late_answer_from_a_channel_renamed_before_the_retry_does_not_double_the_message(
    slack_target, django_capture_on_commit_callbacks
):
    """The admin renames the channel and routes the course to its new name; meanwhile another
    channel takes the old name. The message posted (no answer in time) is found by the channel's
    id, whatever it is called now."""
    target = Target.objects.get(name="slack")
    Target.objects.filter(pk=target.pk).update(config={**target.config, "timeout_seconds": 0.3})
    slack_target.enqueue(ok(), hang(1.0))  # listed; Slack posts but answers after our timeout
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert slack_target.wait_for(lambda fake: len(fake.messages()) == 1, timeout=5)
    slack_target.rename_channel("#learning", "#courses")
    slack_target.add_channel("#learning", "C0000000003")
    config = {**target.config, "timeout_seconds": 0.3, "channels_by_prefix": []}
    Target.objects.filter(pk=target.pk).update(config={**config, "default_channel": "#learning"})
    assert _retry(delivery, django_capture_on_commit_callbacks) == Delivery.DELIVERED
    assert [m["channel"] for m in slack_target.messages()] == [LEARNING]


def test_the_place_kept_with_a_delivery_is_the_channel_id_slack_posts_into(
    slack_target, django_capture_on_commit_callbacks
):
    slack_target.enqueue(ok(), applied_then(500))
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert delivery.external_id == LEARNING
    assert [r.json["channel"] for r in slack_target.requests_for("chat.postMessage")] == [LEARNING]


def test_a_post_into_a_channel_renamed_away_within_the_cached_listing_is_retried_on_a_fresh_one(
    slack_target, django_capture_on_commit_callbacks
):
    """The listing kept says #learning is C0000000002, but that channel was renamed and archived
    and a new #learning made: the post is refused (nothing posted), the listing dropped, and the
    retry posts into the channel named #learning now instead of dead-lettering the delivery."""
    store_now(django_capture_on_commit_callbacks, completion())  # the channels listed and kept
    slack_target.rename_channel("#learning", "#learning-old")
    slack_target.archive_channel("#learning-old")
    slack_target.add_channel("#learning", "C0000000003")
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.order_by("-pk").first()
    assert delivery.status == Delivery.RETRYING, delivery.last_error
    assert _retry(delivery, django_capture_on_commit_callbacks) == Delivery.DELIVERED
    assert [m["channel"] for m in slack_target.messages()] == [LEARNING, "C0000000003"]


def test_a_bot_that_may_not_list_channels_still_posts_by_the_routed_name(
    slack_target, django_capture_on_commit_callbacks, caplog
):
    """A bot token without ``channels:read`` cannot turn a name into an id. It posted by name
    before channels were kept by id, and still does (the message is kept under the name, as then),
    rather than every message becoming a dead letter after an upgrade; a warning names the scope."""
    slack_target.withhold_scope("channels:read")
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.DELIVERED, delivery.last_error
    assert [m["channel"] for m in slack_target.messages()] == [LEARNING]
    assert delivery.external_id == "#learning"
    assert "channels:read" in caplog.text
    store_now(django_capture_on_commit_callbacks, completion())  # the refusal is remembered a while
    assert [m["channel"] for m in slack_target.messages()] == [LEARNING, LEARNING]
    # Both kinds of channel, then public ones alone, were refused once; the refusal is remembered.
    assert len(slack_target.requests_for("conversations.list")) == 2


def test_a_bot_that_may_not_list_channels_retries_a_post_refused_before_it_was_made(
    slack_target, django_capture_on_commit_callbacks
):
    """A post by the routed name that Slack refused without posting (rate limited: HTTP 429) is
    retried, and the retry posts it: a channel the bot cannot turn into an id is still the
    channel it posts into by name, not one that does not exist (a dead letter, the message never
    posted)."""
    slack_target.withhold_scope("channels:read")
    slack_target.enqueue(status(429, {"Retry-After": "30"}))  # the post refused (the listing is, always)
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.RETRYING, delivery.last_error
    assert slack_target.messages() == []
    slack_retry_after_passed(slack_target)
    status_now = _retry(delivery, django_capture_on_commit_callbacks)
    assert status_now == Delivery.DELIVERED, Delivery.objects.get().last_error
    assert [m["channel"] for m in slack_target.messages()] == [LEARNING]


def test_a_bot_that_may_not_list_channels_parks_a_post_that_may_have_been_made(
    slack_target, django_capture_on_commit_callbacks
):
    """Posted, then answered 500: a bot that cannot look in the channel it named (no id) does not
    post again blindly; the delivery waits as "outcome unknown" for an admin, as an incoming
    webhook's does."""
    slack_target.withhold_scope("channels:read")
    slack_target.enqueue(applied_then(500))
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.UNKNOWN, delivery.last_error
    assert [m["channel"] for m in slack_target.messages()] == [LEARNING]


def test_a_bot_that_may_list_public_channels_only_posts_into_a_public_channel_by_its_id(
    slack_target, django_capture_on_commit_callbacks
):
    """A token with channels:read but not groups:read: Slack refuses a listing that asks for private
    channels too (missing_scope), not one of public channels alone. The public channel is still
    posted to, and kept, by its id: a rename cannot double its messages."""
    slack_target.withhold_scope("groups:read")
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.DELIVERED, delivery.last_error
    assert [m["channel"] for m in slack_target.messages()] == [LEARNING]
    assert delivery.external_id == LEARNING


def test_a_private_channel_a_bot_may_not_list_is_still_posted_to_by_name(
    slack_target, django_capture_on_commit_callbacks
):
    """Without groups:read a private channel is in no listing the bot may make; it posted there by
    name before channels were kept by id, and still does (not a dead letter for a channel that
    exists)."""
    slack_target.withhold_scope("groups:read")
    secret_room = slack_target.add_channel("#learning-private", "G0000000007", private=True)
    target = Target.objects.get(name="slack")
    prefixes = [{"prefix": "https://lms.example.com/courses/", "channel": "#learning-private"}]
    Target.objects.filter(pk=target.pk).update(config={**target.config, "channels_by_prefix": prefixes})
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.DELIVERED, delivery.last_error
    assert [m["channel"] for m in slack_target.messages()] == [secret_room]
    assert delivery.external_id == "#learning-private"


def test_a_post_by_name_into_a_private_channel_is_not_doubled_when_the_retry_is_routed_to_a_public_one(
    slack_target, django_capture_on_commit_callbacks
):
    """Without groups:read a private channel is posted to, and kept, by name. Its worker stopped
    after posting (the sweep: retrying, maybe applied); before the retry the course is routed to a
    public channel and the listing kept has expired. The bot cannot look in a channel it may not
    list: the earlier place is not "a channel it can no longer read" (passed over), so the retry
    does not post a second message blindly; it is parked as outcome unknown for an admin."""
    slack_target.withhold_scope("groups:read")
    secret_room = slack_target.add_channel("#learning-private", "G0000000007", private=True)
    target = Target.objects.get(name="slack")
    prefixes = [{"prefix": "https://lms.example.com/courses/", "channel": "#learning-private"}]
    Target.objects.filter(pk=target.pk).update(config={**target.config, "channels_by_prefix": prefixes})
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert delivery.external_id == "#learning-private"
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.RETRYING, claimed_until=None, maybe_applied=True, delivered_at=None
    )
    Target.objects.filter(pk=target.pk).update(config={**target.config, "channels_by_prefix": []})
    cache.clear()  # the listing kept has expired
    assert _retry(delivery, django_capture_on_commit_callbacks) == Delivery.UNKNOWN
    assert [m["channel"] for m in slack_target.messages()] == [secret_room]


def _listing_aged(slack_target, seconds: float) -> None:
    """The channel listing kept for the target, as if it had been made ``seconds`` earlier."""
    key = ChannelIds(slack_target.api_url, slack_target.bot_token, lambda query: {}).key
    kept = cache.get(key)
    cache.set(key, {**kept, "at": kept["at"] - seconds}, timeout=600)


def _route_courses_to(channel: str) -> None:
    target = Target.objects.get(name="slack")
    prefixes = [{"prefix": "https://lms.example.com/courses/", "channel": channel}]
    Target.objects.filter(pk=target.pk).update(config={**target.config, "channels_by_prefix": prefixes})


def test_a_channel_made_and_routed_to_within_a_minute_of_the_listing_gets_the_message(
    slack_target, django_capture_on_commit_callbacks
):
    """Every scope granted; the channels were listed a moment ago (a listing is renewed for a
    name it misses at most once a minute). An admin makes #course-news and routes the courses to
    it at once: the completion waits, neither an attempt nor a failure, until a listing newer than
    the route can say whether the channel is there; then it is posted, by the channel's id."""
    store_now(django_capture_on_commit_callbacks, completion())  # the channels listed and kept
    made_now = slack_target.add_channel("#course-news")
    _route_courses_to("#course-news")
    asked_at = timezone.now()
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.order_by("-pk").first()
    assert delivery.status == Delivery.RETRYING, (delivery.status, delivery.last_error)
    assert delivery.attempts == 0, "waiting for a newer listing is not an attempt"
    assert delivery.next_attempt_at >= asked_at + timedelta(seconds=50), "the listing renews a minute on"
    assert len(slack_target.requests_for("conversations.list")) == 1, "listed again within the minute"
    target = Target.objects.get(name="slack")
    assert (target.consecutive_failures, target.paused_until) == (0, None)

    _listing_aged(slack_target, 61)  # a minute on
    assert _retry(delivery, django_capture_on_commit_callbacks) == Delivery.DELIVERED
    assert [m["channel"] for m in slack_target.messages()] == [LEARNING, made_now]


def test_a_channel_nobody_made_fails_for_good_once_a_listing_newer_than_the_route_misses_it(
    slack_target, django_capture_on_commit_callbacks
):
    """A typo in the route: the completion waits for a listing newer than the route, as above,
    which misses the name too; then it is a dead letter saying so (no more listings for it)."""
    store_now(django_capture_on_commit_callbacks, completion())
    _route_courses_to("#course-nwes")
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.order_by("-pk").first()
    assert delivery.status == Delivery.RETRYING, (delivery.status, delivery.last_error)
    assert delivery.attempts == 0

    _listing_aged(slack_target, 61)
    assert _retry(delivery, django_capture_on_commit_callbacks) == Delivery.DEAD
    delivery.refresh_from_db()
    assert "no channel named '#course-nwes'" in delivery.last_error
    assert "channel_not_found" in delivery.last_error
    assert len(slack_target.requests_for("conversations.list")) == 2
