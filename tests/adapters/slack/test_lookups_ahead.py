"""Slack direct messages to learners not looked up lately: a batch looks them up side by side, as
its sends go (adapters/delivery/pacing/ahead.py), within the target's concurrency cap and rate
limit, and still tells each learner once, in their own conversation. What the fake Slack saw
arrive is asserted, never how long the batch took (bench/slack_dm.py measures that)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.core.cache import cache
from django.utils import timezone

from adapters.delivery.drain import delivery_send, drain
from adapters.models import Attempt, Delivery, Target
from adapters.slack import throttle
from adapters.slack import users as slack_users
from adapters.slack.adapter import SlackAdapter
from tests.adapters.helpers import COURSE, busiest_second, store_now
from tests.conftest import make_statement
from tests.targets.behaviours import hang, ok, retry_after, status

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("retries_far_off")]

LEARNERS = [f"learner{number:02d}@corp.example" for number in range(20)]
LATENCY = 0.3  # every answer of the fake, so that look-ups made side by side are seen to overlap


def _dm_target(slack_target, **fields) -> dict[str, str]:
    target = Target.objects.get(name="slack")
    Target.objects.filter(pk=target.pk).update(config={**target.config, "direct_message": True}, **fields)
    return {email: slack_target.add_user(email) for email in LEARNERS}


def _completions() -> list[dict]:
    return [
        make_statement(actor_email=email, activity=COURSE, result={"completion": True}) for email in LEARNERS
    ]


def _most_at_once(arrivals: list[float]) -> int:
    """The most look-ups out at once, each out for the fake's ``LATENCY`` after it arrived."""
    return max(sum(1 for other in arrivals if at - LATENCY * 0.9 < other <= at) for at in arrivals)


def test_a_batch_looks_its_learners_up_side_by_side_within_the_concurrency_cap(
    slack_target, django_capture_on_commit_callbacks
):
    users = _dm_target(slack_target, concurrency=4)
    slack_target.set_default(hang(LATENCY))
    store_now(django_capture_on_commit_callbacks, *_completions())
    assert Delivery.objects.filter(status=Delivery.DELIVERED).count() == 20
    for user_id in users.values():
        assert len(slack_target.messages("D" + user_id[1:])) == 1
    arrivals = sorted(request.arrived_at for request in slack_target.requests_for("users.lookupByEmail"))
    assert len(arrivals) == 20
    most = _most_at_once(arrivals)
    assert 1 < most <= 4, f"at most {most} look-ups out at once; the target's concurrency is 4"


def test_a_batch_looks_its_learners_up_within_the_rate_limit(
    slack_target, django_capture_on_commit_callbacks
):
    _dm_target(slack_target, concurrency=8, rate_limit_per_second=5)
    store_now(django_capture_on_commit_callbacks, *_completions())
    for _ in range(20):  # the drain claims about a second's sends at a time: the rest follow
        if Delivery.objects.filter(status=Delivery.DELIVERED).count() == 20:
            break
        with django_capture_on_commit_callbacks(execute=True):
            drain(Target.objects.get(name="slack").pk)
    assert Delivery.objects.filter(status=Delivery.DELIVERED).count() == 20
    arrivals = sorted(
        request.arrived_at
        for request in slack_target.requests
        if request.route in ("users.lookupByEmail", "chat.postMessage")
    )
    assert busiest_second(arrivals) <= 5, "the target's rate limit counts every request made to it"


def test_a_retry_whose_learner_is_looked_up_ahead_makes_no_more_requests_than_budgeted(
    slack_target, django_capture_on_commit_callbacks
):
    """A direct message refused (a 500, nothing posted); then 1,300 messages in that conversation:
    the retry reads seven pages of history before it may post, as many look-ups as one attempt may
    make beside its post. The learner's look-up, made ahead of preparing (the answer no longer
    remembered), is one of the requests its claim was sized for: the retry posts in a later attempt
    rather than make one request more."""
    target = Target.objects.get(name="slack")
    Target.objects.filter(pk=target.pk).update(config={**target.config, "direct_message": True})
    slack_target.enqueue(ok(), status(500))  # the learner found; the DM refused
    completion = make_statement(activity=COURSE, result={"completion": True})
    store_now(django_capture_on_commit_callbacks, completion)
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.RETRYING and slack_target.messages() == []
    headers = {"Authorization": f"Bearer {slack_target.bot_token}"}
    with requests.Session() as session:
        opened = session.post(
            f"{slack_target.api_url}/conversations.open", json={"users": "U0000000001"}, headers=headers
        )
        conversation = opened.json()["channel"]["id"]
        for number in range(1300):
            session.post(
                f"{slack_target.api_url}/chat.postMessage",
                json={"channel": conversation, "text": f"chatter {number}"},
                headers=headers,
                timeout=5,
            ).raise_for_status()
    slack_users.forget()
    budget = SlackAdapter.requests_per_send(Target.objects.get(name="slack").config)
    made: list[int] = []
    for _ in range(3):
        delivery.refresh_from_db()
        if delivery.status != Delivery.RETRYING:
            break
        before = len(slack_target.requests)
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
        with django_capture_on_commit_callbacks(execute=True):
            delivery_send(delivery.pk)
        made.append(len(slack_target.requests) - before)
    assert len(slack_target.requests_for("users.lookupByEmail")) >= 2  # the retry looked the learner up
    assert max(made) <= budget, f"requests made by each attempt: {made}; one send is budgeted {budget}"
    assert len([m for m in slack_target.messages() if m["metadata"]]) == 1


def test_a_batch_asks_slack_nothing_more_once_a_look_up_is_throttled(
    slack_target, django_capture_on_commit_callbacks
):
    """20 learners not looked up lately; Slack answers the first look-up 429 with Retry-After: 30
    (users.lookupByEmail is rate-limited per method and workspace, and a 429 asks the caller to
    wait that long: https://api.slack.com/apis/rate-limits). The look-ups ahead stop at it, and so
    does preparing: no learner is looked up again, nor told, until Retry-After has passed; then
    each is told once, in their own conversation."""
    users = _dm_target(slack_target, concurrency=1)
    slack_target.enqueue(retry_after(30))
    asked_at = timezone.now()
    store_now(django_capture_on_commit_callbacks, *_completions())
    assert len(slack_target.requests_for("users.lookupByEmail")) == 1
    assert slack_target.messages() == []
    waiting = Delivery.objects.filter(status=Delivery.RETRYING)
    assert waiting.count() == 20
    retried_at = waiting.values_list("next_attempt_at", flat=True)
    assert all(at >= asked_at + timedelta(seconds=29) for at in retried_at)

    # Retry-After has passed (the throttle kept for the method, in the shared cache, with it).
    waiting.update(next_attempt_at=timezone.now())
    cache.delete(throttle.key_for(slack_target.api_url, slack_target.bot_token, "users.lookupByEmail"))
    target = Target.objects.get(name="slack")
    for _ in range(5):
        if Delivery.objects.filter(status=Delivery.DELIVERED).count() == 20:
            break
        with django_capture_on_commit_callbacks(execute=True):
            drain(target.pk)
    assert Delivery.objects.filter(status=Delivery.DELIVERED).count() == 20
    for user_id in users.values():
        assert len(slack_target.messages("D" + user_id[1:])) == 1


OTHER_COURSE = "https://lms.example.com/other/first-aid"  # routed to a channel by its id


def _by_account(activity: str) -> dict:
    """A completion by a learner known by an LMS account, no e-mail: announced in the channel."""
    actor = {"objectType": "Agent", "account": {"homePage": "https://lms.example.com", "name": "u-7"}}
    return make_statement(activity=activity, result={"completion": True}, actor=actor)


def test_a_throttled_look_up_puts_the_batch_back_and_posts_by_channel_id_go_on(
    slack_target, django_capture_on_commit_callbacks
):
    """Slack answers a batch's first users.lookupByEmail 429 (Retry-After: 30). That limits the
    method, per workspace, not the bot (https://api.slack.com/apis/rate-limits): the 20 learners
    not looked up because of it are put back until Retry-After has passed, neither attempts of
    theirs nor failures of the target, and a post into a channel by its id, which needs no look-up,
    goes out at once (the target's breaker is not paused)."""
    _dm_target(slack_target, concurrency=1)
    target = Target.objects.get(name="slack")
    config = {**target.config, "channels_by_activity": {OTHER_COURSE: "C0000000002"}}
    Target.objects.filter(pk=target.pk).update(config=config)
    slack_target.enqueue(retry_after(30))
    asked_at = timezone.now()
    store_now(django_capture_on_commit_callbacks, *_completions())
    store_now(django_capture_on_commit_callbacks, _by_account(OTHER_COURSE))
    assert len(slack_target.messages("C0000000002")) == 1, "a post by channel id was held back"
    waiting = Delivery.objects.filter(status=Delivery.RETRYING)
    assert waiting.count() == 20
    assert list(waiting.values_list("attempts", flat=True)) == [0] * 20, "not attempted, not counted"
    assert all(
        at >= asked_at + timedelta(seconds=29) for at in waiting.values_list("next_attempt_at", flat=True)
    )
    target.refresh_from_db()
    assert (target.consecutive_failures, target.paused_until) == (0, None)


def test_a_throttled_channel_listing_holds_back_only_the_posts_by_name(
    slack_target, django_capture_on_commit_callbacks
):
    """A batch of three posts to #learning (a name: conversations.list finds its id) and two to a
    channel by id. Slack answers the listing 429 (Retry-After: 30): the method is not asked again
    until then (its tier is limited per workspace), the other posts by name wait as long without
    counting an attempt, and those by id go out."""
    target = Target.objects.get(name="slack")
    config = {**target.config, "channels_by_activity": {OTHER_COURSE: "C0000000001"}}
    Target.objects.filter(pk=target.pk).update(config=config)
    slack_target.enqueue(retry_after(30))
    asked_at = timezone.now()
    by_name = [
        make_statement(actor_email=email, activity=COURSE, result={"completion": True})
        for email in LEARNERS[:3]
    ]
    by_id = [
        make_statement(actor_email=email, activity=OTHER_COURSE, result={"completion": True})
        for email in LEARNERS[3:5]
    ]
    store_now(django_capture_on_commit_callbacks, *by_name, *by_id)
    assert len(slack_target.requests_for("conversations.list")) == 1, "listed again within Retry-After"
    assert len(slack_target.messages("C0000000001")) == 2
    assert slack_target.messages("C0000000002") == []
    waiting = Delivery.objects.filter(status=Delivery.RETRYING)
    assert waiting.count() == 3
    assert sorted(waiting.values_list("attempts", flat=True)) == [0, 0, 1], "only the one refused counts"
    assert all(
        at >= asked_at + timedelta(seconds=29) for at in waiting.values_list("next_attempt_at", flat=True)
    )


def _completion(email: str = "learner@example.com", activity: str = COURSE) -> dict:
    return make_statement(actor_email=email, activity=activity, result={"completion": True})


def test_a_post_slack_rate_limits_holds_every_post_until_retry_after_and_is_no_failure_of_the_target(
    slack_target, django_capture_on_commit_callbacks
):
    """chat.postMessage answered 429 (Retry-After: 30). Slack limits posting per channel and per
    workspace (https://api.slack.com/apis/rate-limits, "Special Tier"), and the 429 says neither
    which nor that the target is failing: the delivery refused is retried after Retry-After, no
    worker posts meanwhile (the completions stored wait, uncounted), and the target's breaker
    counts nothing. Once Retry-After has passed, each is posted once."""
    target = Target.objects.get(name="slack")
    config = {**target.config, "channels_by_prefix": [], "default_channel": "C0000000001"}
    Target.objects.filter(pk=target.pk).update(config=config)  # by id: no look-up before the post
    slack_target.enqueue(retry_after(30))
    asked_at = timezone.now()
    store_now(django_capture_on_commit_callbacks, _completion())
    refused = Delivery.objects.get()
    assert (refused.status, refused.attempts) == (Delivery.RETRYING, 1)
    assert refused.next_attempt_at >= asked_at + timedelta(seconds=29)
    target.refresh_from_db()
    assert (target.consecutive_failures, target.paused_until) == (0, None), "a rate limit is no fault"

    store_now(django_capture_on_commit_callbacks, _completion(LEARNERS[0]), _completion(LEARNERS[1]))
    assert len(slack_target.requests_for("chat.postMessage")) == 1, "posted within Retry-After"
    waiting = Delivery.objects.exclude(pk=refused.pk)
    assert list(waiting.values_list("attempts", flat=True)) == [0, 0], "not attempted, not counted"
    assert all(
        at >= asked_at + timedelta(seconds=29) for at in waiting.values_list("next_attempt_at", flat=True)
    )

    # Retry-After has passed (the hold kept for the method, in the shared cache, with it).
    cache.delete(throttle.key_for(slack_target.api_url, slack_target.bot_token, "chat.postMessage"))
    Delivery.objects.update(next_attempt_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        drain(target.pk)
    assert Delivery.objects.filter(status=Delivery.DELIVERED).count() == 3
    assert len(slack_target.messages("C0000000001")) == 3


def test_a_look_up_slack_rate_limits_is_no_failure_of_the_target(
    slack_target, django_capture_on_commit_callbacks
):
    """The channel listing answered 429: the delivery is retried after Retry-After, as above,
    and the target's breaker counts nothing (a method's limit is not the target failing)."""
    slack_target.enqueue(retry_after(30))
    store_now(django_capture_on_commit_callbacks, _completion())
    assert Delivery.objects.get().status == Delivery.RETRYING
    target = Target.objects.get(name="slack")
    assert (target.consecutive_failures, target.paused_until) == (0, None)


@pytest.mark.xfail(
    strict=True,
    reason=(
        "decision: a look-up made ahead of preparing a batch (adapters/delivery/pacing/ahead.py) is "
        "no delivery's attempt: its 429 is logged, held for the method (throttle), and each delivery "
        "it holds back is put back uncounted with the reason in its last error ('not asked: Slack "
        "throttled users.lookupByEmail (429)'). Recording it as an attempt of one of them would count "
        "an attempt that delivery never made (preparing owns every outcome)."
    ),
)
def test_a_look_up_ahead_that_slack_rate_limits_is_recorded_as_an_attempt(
    slack_target, django_capture_on_commit_callbacks
):
    _dm_target(slack_target, concurrency=1)
    slack_target.enqueue(retry_after(30))
    store_now(django_capture_on_commit_callbacks, *_completions())
    assert all("(429)" in error for error in Delivery.objects.values_list("last_error", flat=True))
    assert Attempt.objects.filter(status_code=429).exists()
