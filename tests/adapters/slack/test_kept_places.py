"""Slack: the places a delivery's attempts posted to, kept on it before each post goes out, stay
within what a retry may look in during its claim, and never stop the batch they are written in
(the adapter's contract, adapters/slack/adapter.py)."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache

from adapters.delivery.drain import claim_seconds, delivery_send
from adapters.models import Delivery, Target
from adapters.slack import users as slack_users
from adapters.slack.adapter import SlackAdapter
from tests.adapters.helpers import COURSE, slack_retry_after_passed, store_now
from tests.conftest import make_statement
from tests.targets.behaviours import applied_then, hang, ok, retry_after, status

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("retries_far_off")]


def completion(**extra) -> dict:
    return make_statement(
        actor_email="learner@example.com", activity=COURSE, result={"completion": True}, **extra
    )


def _due(delivery: Delivery) -> None:
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)


@pytest.mark.parametrize("withheld", [None, "groups:read"], ids=["all-scopes", "no-groups-read"])
def test_a_retry_looking_in_every_kept_place_posts_within_its_claim(
    slack_target, settings, django_capture_on_commit_callbacks, withheld
):
    """Four routings over four attempts: each retry replaces the places it looked in by the one it
    posts to; a retry looking in three places kept (as a delivery attempted before places were
    replaced kept them) and the one it posts to does so within the requests its claim
    (claim_seconds) was sized for. Without groups:read the channels are listed twice (both kinds,
    refused; then public ones)."""
    settings.LRS_DELIVERY_CLAIM_SECONDS = 1  # the floor out of the way, as in test_claims.py
    if withheld:
        slack_target.withhold_scope(withheld)
    target = Target.objects.get(name="slack")
    config = {**target.config, "direct_message": True, "timeout_seconds": 1.0}
    Target.objects.filter(pk=target.pk).update(config=config)
    # The learner found; the DM answered 500: it may have been posted (nothing was), so every
    # retry looks before it posts.
    slack_target.enqueue(ok(), status(500))
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert delivery.external_id == "@direct-message"
    # direct_message switched off, the course routed to #learning: refused again, nothing posted.
    config = {**config, "direct_message": False}
    Target.objects.filter(pk=target.pk).update(config=config)
    _due(delivery)
    # Listed, the DMs opened and looked in (the learner's user as the first attempt found it:
    # adapters/slack/users.py), #learning looked in; the post refused.
    slack_target.enqueue(ok(), ok(), ok(), ok(), retry_after(1))
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery_send(delivery.pk) == Delivery.RETRYING
    slack_retry_after_passed(slack_target)
    # Routed to #general now: refused once more.
    config = {**config, "channels_by_prefix": []}
    Target.objects.filter(pk=target.pk).update(config=config)
    _due(delivery)
    slack_target.clear_queue()
    slack_target.enqueue(ok(), ok(), retry_after(1))  # #learning looked in, #general, the post
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery_send(delivery.pk) == Delivery.RETRYING
    slack_retry_after_passed(slack_target)
    delivery.refresh_from_db()
    # Only where this attempt posted, by channel id: the earlier places were looked in first.
    assert delivery.external_id == "C0000000001", delivery.external_id
    assert slack_target.messages() == []
    # Three places kept, as a delivery attempted before places were replaced once looked in.
    Delivery.objects.filter(pk=delivery.pk).update(external_id="@direct-message C0000000002 C0000000001")
    # And routed to a new channel: the retry looks in three earlier places and the new one.
    slack_target.add_channel("#courses")
    config = {**config, "default_channel": "#courses"}
    Target.objects.filter(pk=target.pk).update(config=config)
    cache.clear()
    slack_users.forget()  # the learner looked up again too: every look-up a retry can make
    _due(delivery)
    before = len(slack_target.requests)
    slack_target.clear_queue()
    slack_target.enqueue(*[hang(0.9)] * 12)
    budget = claim_seconds(Target.objects.get(pk=target.pk), 1)
    started = time.time()
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery_send(delivery.pk) == Delivery.DELIVERED
    made = len(slack_target.requests) - before
    assert made <= SlackAdapter.requests_per_send(config), f"{made} requests in one send"
    post = slack_target.requests_for("chat.postMessage")[-1]
    made_after = post.arrived_at + 0.9 - started
    assert made_after <= budget, (
        f"{made} requests; post made {made_after:.1f} s after the claim began; the claim lasted {budget} s"
    )


def test_one_overlong_place_does_not_leave_the_whole_batch_claimed(
    slack_target, django_capture_on_commit_callbacks
):
    """A channel no Slack name can be (a misconfiguration) is not kept: it would not fit the
    delivery's column, and the write of the batch's outcomes would fail with it."""
    target = Target.objects.get(name="slack")
    long_name = "#" + "x" * 220
    Target.objects.filter(pk=target.pk).update(
        config={**target.config, "channels_by_activity": {COURSE: long_name}}
    )
    slack_target.enqueue(status(500))
    try:
        store_now(django_capture_on_commit_callbacks, completion())
    except Exception as error:
        pytest.fail(f"the drain raised {type(error).__name__}: {error}")
    delivery = Delivery.objects.get()
    assert delivery.status != Delivery.IN_FLIGHT, (delivery.status, delivery.external_id)


def test_pseudonymise_switched_on_after_a_direct_message_does_not_double_it(
    slack_target, django_capture_on_commit_callbacks
):
    target = Target.objects.get(name="slack")
    Target.objects.filter(pk=target.pk).update(config={**target.config, "direct_message": True})
    slack_target.enqueue(ok(), applied_then(500))  # the learner found; DM posted, then 500
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert delivery.external_id == "@direct-message" and len(slack_target.messages()) == 1
    Target.objects.filter(pk=target.pk).update(
        config={**target.config, "direct_message": False, "pseudonymise": True}
    )
    _due(delivery)
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery_send(delivery.pk) == Delivery.DELIVERED
    assert len(slack_target.messages()) == 1, [m["channel"] for m in slack_target.messages()]


def test_a_message_posted_four_routings_ago_is_still_looked_for_before_posting_again(
    slack_target, django_capture_on_commit_callbacks
):
    """The first attempt posts in #learning (the answer lost); three retries, each under a new
    routing, fail while looking (Slack's history answers 500). A place nobody has looked in yet
    is never dropped: the fifth attempt still finds the message in #learning."""
    target = Target.objects.get(name="slack")
    slack_target.enqueue(ok(), applied_then(500))  # listed; posted in #learning, then 500
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert len(slack_target.messages()) == 1
    for channel in ("#general", "#courses", "#news"):
        if channel != "#general":
            slack_target.add_channel(channel)
        config = {**target.config, "channels_by_prefix": [], "default_channel": channel}
        Target.objects.filter(pk=target.pk).update(config=config)
        cache.clear()
        slack_target.clear_queue()
        slack_target.enqueue(ok(), status(500))  # listed; the look-up in #learning answered 500
        _due(delivery)
        with django_capture_on_commit_callbacks(execute=True):
            assert delivery_send(delivery.pk) == Delivery.RETRYING
    slack_target.clear_queue()
    _due(delivery)
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery_send(delivery.pk) == Delivery.DELIVERED
    assert [m["channel"] for m in slack_target.messages()] == ["C0000000002"]
