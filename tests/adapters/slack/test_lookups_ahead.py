"""Slack direct messages to learners not looked up lately: a batch looks them up side by side, as
its sends go (adapters/delivery/pacing/ahead.py), within the target's concurrency cap and rate
limit, and still tells each learner once, in their own conversation. What the fake Slack saw
arrive is asserted, never how long the batch took (bench/slack_dm.py measures that)."""

from __future__ import annotations

import pytest

from adapters.delivery.drain import drain
from adapters.models import Delivery, Target
from tests.adapters.helpers import COURSE, busiest_second, store_now
from tests.conftest import make_statement
from tests.targets.behaviours import hang

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
