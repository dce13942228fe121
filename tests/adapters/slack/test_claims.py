"""A Slack bot's send lasts no longer than its claim: a retry looks before it posts (several
requests, each up to the timeout), and a claim that ran out first would let the sweep hand the
delivery to another worker, which could find nothing yet and post a second message."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache

from adapters.delivery.drain import claim_seconds, delivery_send
from adapters.models import Delivery, Target
from adapters.slack import throttle
from tests.adapters.helpers import COURSE, store_now
from tests.conftest import make_statement
from tests.targets.behaviours import hang, ok, retry_after

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("retries_far_off")]


def test_a_retry_that_looks_first_posts_within_its_claim(
    slack_target, settings, django_capture_on_commit_callbacks
):
    """A direct-message target; the first post was refused for the rate limit (nothing posted).
    The retry looks before posting: users.lookupByEmail, conversations.open, conversations.history, then
    chat.postMessage, each answered just within the timeout. Its claim must last until the post
    is made: once it runs out the sweep puts the delivery back (maybe applied) and another worker
    may look (finding nothing yet) and post too."""

    settings.LRS_DELIVERY_CLAIM_SECONDS = 1  # the floor out of the way: the computed budget counts
    target = Target.objects.get(name="slack")
    Target.objects.filter(pk=target.pk).update(
        config={**target.config, "direct_message": True, "timeout_seconds": 1.0}
    )
    slack_target.enqueue(ok(), retry_after(1))  # lookupByEmail; the post is refused: ratelimited
    store_now(
        django_capture_on_commit_callbacks, make_statement(activity=COURSE, result={"completion": True})
    )
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.RETRYING and slack_target.messages() == []
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
    # Retry-After has passed (the posts' hold kept in the shared cache with it: throttle.py).
    cache.delete(throttle.key_for(slack_target.api_url, slack_target.bot_token, "chat.postMessage"))
    slack_target.enqueue(hang(0.8), hang(0.8), hang(0.8), hang(0.8))
    budget = claim_seconds(Target.objects.get(pk=target.pk), 1)
    started = time.time()
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery_send(delivery.pk) == Delivery.DELIVERED
    assert len(slack_target.messages()) == 1  # (alone, the look-up works)
    post = slack_target.requests_for("chat.postMessage")[-1]
    made_after = post.arrived_at + 0.8 - started  # the fake applies it after its hang
    assert made_after <= budget, (
        f"post made {made_after:.1f} s after the claim began; the claim lasted {budget} s"
    )
