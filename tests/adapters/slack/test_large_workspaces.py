"""Slack: in a workspace of many channels, and in a busy channel, a message still lands once, in
the routed channel (the adapter's contract, adapters/slack/adapter.py): a channel listing or a
page of history is read whole, however long, and no attempt makes more requests than the claim
was sized for (``SlackAdapter.requests_per_send``): a send outliving its claim could be made
twice (the sweep hands the delivery to another worker, which finds nothing yet and posts too)."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module

import pytest
import requests
from django.apps import apps as django_apps
from django.db.models import F
from django.utils import timezone

from adapters.delivery.drain import delivery_send
from adapters.delivery.replay import deliveries_replay
from adapters.delivery.sweep import sweep_due
from adapters.models import Attempt, Delivery, Target
from adapters.slack.adapter import SlackAdapter
from adapters.slack.channels import ChannelIds
from tests.adapters.helpers import COURSE, slack_retry_after_passed, store_now
from tests.conftest import make_statement
from tests.targets.behaviours import applied_then, ok, retry_after

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("retries_far_off")]

LEARNING = "C0000000002"


def completion() -> dict:
    return make_statement(actor_email="learner@example.com", activity=COURSE, result={"completion": True})


def _route_to(channel: str) -> None:
    target = Target.objects.get(name="slack")
    prefixes = [{"prefix": "https://lms.example.com/courses/", "channel": channel}]
    Target.objects.filter(pk=target.pk).update(config={**target.config, "channels_by_prefix": prefixes})


def test_a_channel_listed_after_dozens_of_others_gets_the_message(
    slack_target, django_capture_on_commit_callbacks
):
    for number in range(50):
        slack_target.add_channel(f"#team-{number:02d}")
    wanted = slack_target.add_channel("#course-news")
    _route_to("#course-news")
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.DELIVERED, (delivery.status, delivery.last_error)
    assert [m["channel"] for m in slack_target.messages()] == [wanted]


def test_a_post_that_may_have_been_made_in_a_busy_channel_is_found_and_not_doubled(
    slack_target, django_capture_on_commit_callbacks
):
    store_now(django_capture_on_commit_callbacks, *[completion() for _ in range(30)])
    assert len(slack_target.messages(LEARNING)) == 30
    slack_target.enqueue(applied_then(500))  # posted in #learning (listing kept), then 500
    store_now(django_capture_on_commit_callbacks, completion())
    assert len(slack_target.messages(LEARNING)) == 31
    delivery = Delivery.objects.order_by("-id").first()
    assert delivery.status == Delivery.RETRYING, (delivery.status, delivery.last_error)
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
    with django_capture_on_commit_callbacks(execute=True):
        delivery_send(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.DELIVERED, (delivery.status, delivery.last_error)
    assert len(slack_target.messages(LEARNING)) == 31


def test_a_channel_on_the_last_of_many_listing_pages_gets_the_message_once_within_each_attempts_budget(
    slack_target, django_capture_on_commit_callbacks
):
    """2,500 channels, at most 200 a page (Slack may give fewer than the limit asks): 13 pages of
    listing before the routed channel, more than one send's requests."""
    slack_target.list_at_most(200)
    for number in range(2500):
        slack_target.add_channel(f"#team-{number:04d}")
    wanted = slack_target.add_channel("#course-news")  # on the last page
    _route_to("#course-news")
    budget = SlackAdapter.requests_per_send(Target.objects.get(name="slack").config)

    made: list[int] = []
    before = len(slack_target.requests)
    store_now(django_capture_on_commit_callbacks, completion())
    made.append(len(slack_target.requests) - before)
    delivery = Delivery.objects.get()
    for _ in range(10):  # each later attempt as soon as it may run
        delivery.refresh_from_db()
        if delivery.status != Delivery.RETRYING:
            break
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
        before = len(slack_target.requests)
        with django_capture_on_commit_callbacks(execute=True):
            delivery_send(delivery.pk)
        made.append(len(slack_target.requests) - before)

    delivery.refresh_from_db()
    assert delivery.status == Delivery.DELIVERED, (delivery.status, delivery.last_error)
    assert [m["channel"] for m in slack_target.messages()] == [wanted]
    assert max(made) <= budget, f"requests made by each attempt: {made}; one send is budgeted {budget}"


def test_a_retry_in_a_channel_of_more_history_than_one_attempt_may_read_posts_nothing_blindly(
    slack_target, django_capture_on_commit_callbacks
):
    """Posted (the answer lost), then 2,000 messages in #learning: the retry would read 11 pages
    of history to reach its own. It reads what its budget allows and, not having looked through,
    posts nothing: tried again later, never a second message, never more requests than budgeted."""
    slack_target.enqueue(ok(), applied_then(500))  # listed; posted in #learning, then 500
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.RETRYING and len(slack_target.messages(LEARNING)) == 1
    with requests.Session() as session:
        for number in range(2000):
            session.post(
                f"{slack_target.api_url}/chat.postMessage",
                json={"channel": LEARNING, "text": f"chatter {number}"},
                headers={"Authorization": f"Bearer {slack_target.bot_token}"},
                timeout=5,
            ).raise_for_status()
    budget = SlackAdapter.requests_per_send(Target.objects.get(name="slack").config)
    before = len(slack_target.requests)
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
    with django_capture_on_commit_callbacks(execute=True):
        delivery_send(delivery.pk)
    made = len(slack_target.requests) - before
    ours = [m for m in slack_target.messages(LEARNING) if m["metadata"]]
    assert len(ours) == 1
    assert made <= budget, f"{made} requests in one attempt; one send is budgeted {budget}"
    delivery.refresh_from_db()
    assert delivery.status in (Delivery.RETRYING, Delivery.DELIVERED), (delivery.status, delivery.last_error)


def test_a_listing_that_slack_rate_limits_every_few_pages_still_reaches_the_routed_channel(
    slack_target, django_capture_on_commit_callbacks
):
    """Conversations.list is Tier 2 (https://api.slack.com/docs/rate-limits): a large workspace's
    listing meets a 429 every few pages. 2,500 channels, 200 a page, the routed one on the 13th:
    each attempt lists five pages and is then refused. The pages listed before the refusal were
    answered, so the next attempt goes on after them; listing them again every attempt would
    never get past the fifth page, and the message would never be posted."""
    slack_target.list_at_most(200)
    for number in range(2500):
        slack_target.add_channel(f"#team-{number:04d}")
    wanted = slack_target.add_channel("#course-news")
    _route_to("#course-news")

    slack_target.enqueue(ok(), ok(), ok(), ok(), ok(), retry_after(0))
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    for _ in range(5):
        delivery.refresh_from_db()
        if delivery.status != Delivery.RETRYING:
            break
        slack_target.enqueue(ok(), ok(), ok(), ok(), ok(), retry_after(0))
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
        with django_capture_on_commit_callbacks(execute=True):
            delivery_send(delivery.pk)

    delivery.refresh_from_db()
    assert delivery.status == Delivery.DELIVERED, (delivery.status, delivery.attempts, delivery.last_error)
    assert [m["channel"] for m in slack_target.messages()] == [wanted]


def _listed_whole(slack_target, capture, wanted: str) -> None:
    """A first completion, sent until the workspace is listed as far as ``wanted`` and posted."""
    store_now(capture, completion())
    delivery = Delivery.objects.get()
    for _ in range(5):
        delivery.refresh_from_db()
        if delivery.status != Delivery.RETRYING:
            break
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
        with capture(execute=True):
            delivery_send(delivery.pk)
    assert [m["channel"] for m in slack_target.messages()] == [wanted]


def test_a_misrouted_name_listed_afresh_keeps_the_channels_listed_before_for_the_other_deliveries(
    slack_target, django_capture_on_commit_callbacks, monkeypatch
):
    """4,000 channels, 200 a page; the routed one on the 21st page is listed once. A course
    routed to a channel nobody made lists the workspace afresh (a miss, the listing kept older
    than ``MISS_REFRESH_SECONDS``), over a few attempts: meanwhile a completion routed to the
    channel listed before is posted at once, not held back until the workspace is listed again."""
    slack_target.list_at_most(200)
    for number in range(4000):
        slack_target.add_channel(f"#team-{number:04d}")
    wanted = slack_target.add_channel("#course-news")
    _route_to("#course-news")
    _listed_whole(slack_target, django_capture_on_commit_callbacks, wanted)

    elsewhere = "https://lms.example.com/other/typo-101"
    target = Target.objects.get(name="slack")
    misrouted = {**target.config, "channels_by_activity": {elsewhere: "#course-nwes"}}
    Target.objects.filter(pk=target.pk).update(config=misrouted)
    monkeypatch.setattr("adapters.slack.channels.MISS_REFRESH_SECONDS", 0)
    typo = make_statement(actor_email="learner@example.com", activity=elsewhere, result={"completion": True})
    store_now(django_capture_on_commit_callbacks, typo)
    assert Delivery.objects.order_by("-id").first().status == Delivery.RETRYING  # listing afresh

    store_now(django_capture_on_commit_callbacks, completion())
    latest = Delivery.objects.order_by("-id").first()
    assert latest.status == Delivery.DELIVERED, (latest.status, latest.last_error)
    assert [m["channel"] for m in slack_target.messages()] == [wanted, wanted]


def _chatter(slack_target, channel: str, messages: int) -> None:
    with requests.Session() as session:
        for number in range(messages):
            session.post(
                f"{slack_target.api_url}/chat.postMessage",
                json={"channel": channel, "text": f"chatter {number}"},
                headers={"Authorization": f"Bearer {slack_target.bot_token}"},
                timeout=5,
            ).raise_for_status()


def test_a_retry_after_slack_refused_the_post_is_posted_however_busy_the_channel_became(
    slack_target, django_capture_on_commit_callbacks
):
    """Refused (429: nothing posted), then 2,000 messages in #learning before the retry: no
    earlier attempt may have posted, so there is nothing to look for in more history than one
    attempt may read, and the retry posts, once. Looking anyway would fail every retry unposted
    until the delivery is given up: a lost message."""
    slack_target.enqueue(ok(), retry_after(0))  # listed; the post refused
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.RETRYING and not slack_target.messages(LEARNING)
    _chatter(slack_target, LEARNING, 2000)
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
    with django_capture_on_commit_callbacks(execute=True):
        delivery_send(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.DELIVERED, (delivery.status, delivery.last_error)
    assert len([m for m in slack_target.messages(LEARNING) if m["metadata"]]) == 1


def test_a_retry_whose_listing_takes_its_last_look_up_runs_again_without_counting_an_attempt(
    slack_target, django_capture_on_commit_callbacks
):
    """Posted (the answer lost: a 500), then the channel listing expired. 1,450 channels, 200 a
    page: the retry lists eight pages to find #course-news again, every look-up its budget allows,
    so it cannot read the history before posting. As when a listing itself runs out of budget, it
    runs again without counting an attempt (the listing is kept: the next finds it there and
    looks), not as a failed attempt, of which too many would give the message up unposted."""
    slack_target.list_at_most(200)
    for number in range(1450):
        slack_target.add_channel(f"#team-{number:04d}")
    wanted = slack_target.add_channel("#course-news")  # on the eighth page
    _route_to("#course-news")
    slack_target.enqueue(*[ok()] * 8, applied_then(500))  # listed; posted, then 500
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.RETRYING and delivery.attempts == 1, (
        delivery.status,
        delivery.last_error,
    )
    assert [m["channel"] for m in slack_target.messages()] == [wanted]
    ChannelIds(slack_target.api_url, slack_target.bot_token, lambda query: {}).forget()  # expired

    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
    with django_capture_on_commit_callbacks(execute=True):
        delivery_send(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.attempts == 1, (delivery.attempts, delivery.last_error)

    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
    with django_capture_on_commit_callbacks(execute=True):
        delivery_send(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.DELIVERED, (delivery.status, delivery.last_error)
    assert [m["channel"] for m in slack_target.messages()] == [wanted]


def _ours(slack_target) -> list[dict]:
    return [m for m in slack_target.messages(LEARNING) if m["metadata"]]


@pytest.mark.parametrize("slack_clock", [-90.0, 0.0, 90.0], ids=["slack-behind", "in-step", "slack-ahead"])
def test_a_post_that_may_have_been_made_is_found_however_busy_the_channel_became_since(
    slack_target, django_capture_on_commit_callbacks, slack_clock: float
):
    """Posted (the answer lost: a 500); then, an hour later, 1,600 messages in #learning before
    the retry: more than one attempt may read back through, newest first, to reach its own. The
    retry reads only the time the attempt that may have posted took (``oldest``/``latest``, with a
    margin for Slack's clock, which stamps ``ts``, not being ours: here it is 90 s apart), so it
    finds the message and posts no second one, where it would otherwise fail every attempt and be
    given up, a message Slack holds but the LRS calls a dead letter."""
    slack_target.skew_clock(slack_clock)
    slack_target.enqueue(ok(), applied_then(500))  # listed; posted in #learning, then 500
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.RETRYING and len(_ours(slack_target)) == 1
    slack_target.skew_clock(slack_clock + 3600)  # an hour passes at Slack
    _chatter(slack_target, LEARNING, 1600)
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
    with django_capture_on_commit_callbacks(execute=True):
        delivery_send(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.DELIVERED, (delivery.status, delivery.last_error)
    assert len(_ours(slack_target)) == 1


def test_a_post_whose_worker_stopped_before_recording_it_is_found_however_busy_the_channel_became_since(
    slack_target, django_capture_on_commit_callbacks
):
    """Posted, and the worker stopped before it recorded the answer: the sweep puts the delivery
    back once its claim has run out, nothing recorded of the attempt but when it was claimed and
    until when. 1,600 messages in #learning an hour later: the retry reads the claim's time alone,
    finds the message, and posts no second one."""
    claimed_at = timezone.now()
    store_now(django_capture_on_commit_callbacks, completion())
    assert len(_ours(slack_target)) == 1
    delivery = Delivery.objects.get()
    Delivery.objects.filter(pk=delivery.pk).update(  # as its worker left it: in flight, unrecorded
        status=Delivery.IN_FLIGHT, claimed_until=timezone.now(), updated_at=claimed_at, delivered_at=None
    )
    Attempt.objects.filter(delivery=delivery).delete()
    slack_target.skew_clock(3600)  # an hour passes at Slack
    _chatter(slack_target, LEARNING, 1600)
    with django_capture_on_commit_callbacks(execute=True):
        sweep_due()  # the claim has run out: put back, as one that may have posted
    delivery.refresh_from_db()
    if delivery.status == Delivery.RETRYING:
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
        with django_capture_on_commit_callbacks(execute=True):
            delivery_send(delivery.pk)
        delivery.refresh_from_db()
    assert delivery.status == Delivery.DELIVERED, (delivery.status, delivery.last_error)
    assert len(_ours(slack_target)) == 1


def test_a_post_made_hours_before_a_worker_stopped_on_its_retry_is_found_in_a_busy_channel(
    slack_target, django_capture_on_commit_callbacks
):
    """Posted three hours ago, its answer lost (a 500); then 1,600 messages in #learning; then a
    retry whose worker stopped before it recorded anything (the sweep records it as an attempt that
    may have posted). Each attempt that may have posted ran for seconds, hours apart: the next
    retry reads the time each ran, not the three hours between the first and the last, busy
    with the channel's chatter, which no attempt may read through, newest first, to reach the
    message (every attempt would fail into a dead letter, the message being there)."""
    three_hours = timedelta(hours=3)
    slack_target.skew_clock(-three_hours.total_seconds())  # Slack's time then
    slack_target.enqueue(ok(), applied_then(500))  # listed; posted in #learning, then 500
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.RETRYING and len(_ours(slack_target)) == 1, delivery.last_error
    Attempt.objects.filter(delivery=delivery).update(started_at=F("started_at") - three_hours)
    slack_target.skew_clock(-3600)  # the chatter, two hours after the post
    _chatter(slack_target, LEARNING, 1600)
    slack_target.skew_clock(0)
    now = timezone.now()
    Delivery.objects.filter(pk=delivery.pk).update(  # the retry's worker stopped, unrecorded
        status=Delivery.IN_FLIGHT, attempts=2, updated_at=now - timedelta(seconds=30), claimed_until=now
    )
    with django_capture_on_commit_callbacks(execute=True):
        sweep_due()  # the claim has run out: put back, as one that may have posted
    delivery.refresh_from_db()
    if delivery.status == Delivery.RETRYING:
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
        with django_capture_on_commit_callbacks(execute=True):
            delivery_send(delivery.pk)
        delivery.refresh_from_db()
    assert delivery.status == Delivery.DELIVERED, (delivery.status, delivery.last_error)
    assert len(_ours(slack_target)) == 1


def test_a_post_by_a_worker_stopped_before_attempts_recorded_it_is_not_doubled(
    slack_target, django_capture_on_commit_callbacks
):
    """Deployed over a delivery the sweep put back before it recorded stopped attempts: attempt 1,
    an hour before, was refused (a 429, nothing posted); attempt 2 posted and its worker stopped,
    the sweep then marking the delivery alone. Migration 0030 marks attempt 1, the only one
    recorded: its time is not where the message is, and a retry looking there alone posts again.
    An attempt that left no record (its time unknown) is looked for since the delivery was made."""
    slack_target.enqueue(ok(), retry_after(1))  # listed; refused, nothing posted
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.RETRYING and not _ours(slack_target), delivery.last_error
    Attempt.objects.filter(delivery=delivery).update(started_at=F("started_at") - timedelta(hours=1))
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
    slack_retry_after_passed(slack_target)
    with django_capture_on_commit_callbacks(execute=True):
        delivery_send(delivery.pk)  # attempt 2 posts...
    assert len(_ours(slack_target)) == 1
    Attempt.objects.filter(delivery=delivery, number=2).delete()  # ...and its worker stopped
    Delivery.objects.filter(pk=delivery.pk).update(  # as the sweep before 0030 put it back
        status=Delivery.RETRYING, maybe_applied=True, delivered_at=None, next_attempt_at=delivery.created_at
    )
    import_module("adapters.migrations.0030_attempt_maybe_applied").mark_attempts_of_uncertain_deliveries(
        django_apps, None
    )
    with django_capture_on_commit_callbacks(execute=True):
        delivery_send(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.DELIVERED, (delivery.status, delivery.last_error)
    assert len(_ours(slack_target)) == 1


def test_a_dead_letter_replayed_months_later_reads_its_attempts_times_not_the_months_between(
    slack_target, django_capture_on_commit_callbacks
):
    """Posted ninety days ago, its answer lost (a 500), then given up; the channel busy since. An
    admin replays it; that attempt's worker stops before it records anything. The retry reads the
    time of the attempt ninety days ago and that of the replay, not the months between (1,600
    messages, more than an attempt may read), finds the message, and posts no second one."""
    ninety_days = timedelta(days=90)
    slack_target.skew_clock(-ninety_days.total_seconds())
    slack_target.enqueue(ok(), applied_then(500))  # listed; posted in #learning, then 500
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.RETRYING and len(_ours(slack_target)) == 1, delivery.last_error
    Attempt.objects.filter(delivery=delivery).update(started_at=F("started_at") - ninety_days)
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.DEAD)  # given up since
    slack_target.skew_clock(-30 * 86400.0)
    _chatter(slack_target, LEARNING, 1600)
    slack_target.skew_clock(0)
    with django_capture_on_commit_callbacks(execute=False):
        assert deliveries_replay(delivery_ids=[delivery.pk]).replayed == [delivery.pk]
    now = timezone.now()
    Delivery.objects.filter(pk=delivery.pk).update(  # the replay's worker stopped, unrecorded
        status=Delivery.IN_FLIGHT, attempts=2, updated_at=now - timedelta(seconds=30), claimed_until=now
    )
    with django_capture_on_commit_callbacks(execute=True):
        sweep_due()
    delivery.refresh_from_db()
    if delivery.status == Delivery.RETRYING:
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
        with django_capture_on_commit_callbacks(execute=True):
            delivery_send(delivery.pk)
        delivery.refresh_from_db()
    assert delivery.status == Delivery.DELIVERED, (delivery.status, delivery.last_error)
    assert len(_ours(slack_target)) == 1
