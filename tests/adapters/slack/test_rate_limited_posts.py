"""A post Slack rate-limits (chat.postMessage answered 429) is a failed attempt, retried after
Retry-After (adapters/slack/throttle.py), but no failure of the post itself: a backlog posted into
one channel faster than Slack's limit (about a post a second per channel, bursts allowed) meets a
429 for every few posts in flight, and a delivery whose retries keep landing in such bursts must
not be given up for them (``max_attempts``) while Slack is merely asking it to wait."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.utils import timezone

from adapters.delivery.drain import drain
from adapters.models import Delivery, Target
from adapters.slack import throttle
from tests.adapters.helpers import COURSE, store_now
from tests.conftest import make_statement
from tests.targets.behaviours import retry_after

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("retries_far_off")]

CHANNEL = "C0000000001"  # by id: no look-up before the post


def _retry_now(slack_target, target: Target, capture) -> None:
    """Retry-After has passed: the workspace's post hold lifted, the delivery due."""
    cache.delete(throttle.key_for(slack_target.api_url, slack_target.bot_token, "chat.postMessage"))
    Delivery.objects.update(next_attempt_at=timezone.now())
    with capture(execute=True):
        drain(target.pk)


def test_posts_slack_rate_limits_again_and_again_do_not_dead_letter_the_delivery(
    slack_target, django_capture_on_commit_callbacks
):
    target = Target.objects.get(name="slack")
    config = {**target.config, "channels_by_prefix": [], "default_channel": CHANNEL}
    Target.objects.filter(pk=target.pk).update(config=config, max_attempts=3)
    for _ in range(4):
        slack_target.enqueue(retry_after(1))
    store_now(
        django_capture_on_commit_callbacks,
        make_statement(actor_email="learner@example.com", activity=COURSE, result={"completion": True}),
    )
    for _ in range(3):
        _retry_now(slack_target, target, django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (Delivery.RETRYING, 4), delivery.last_error

    _retry_now(slack_target, target, django_capture_on_commit_callbacks)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.DELIVERED, 5)
    assert len(slack_target.messages(CHANNEL)) == 1
