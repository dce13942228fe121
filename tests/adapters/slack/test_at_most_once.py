"""Slack: at most one message per delivery, in effect, outcomes private by default, and the
learner named by name only (the adapter's contract, adapters/slack/adapter.py)."""

from __future__ import annotations

import pytest

from adapters.delivery.drain import delivery_send
from adapters.delivery.replay import backfill
from adapters.models import Delivery, Target
from tests.adapters.helpers import ADL, COURSE, store_now
from tests.conftest import make_statement
from tests.targets.behaviours import applied_then, hang, ok, status

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("retries_far_off")]


def completion(**extra) -> dict:
    return make_statement(
        actor_email="learner@example.com", activity=COURSE, result={"completion": True}, **extra
    )


def test_a_late_answer_does_not_double_the_message(slack_target, django_capture_on_commit_callbacks):
    target = Target.objects.get(name="slack")
    Target.objects.filter(pk=target.pk).update(config={**target.config, "timeout_seconds": 0.3})
    # The channels listed (#learning's id); Slack posts the message but answers after our timeout.
    slack_target.enqueue(ok(), hang(1.0))
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.RETRYING
    assert slack_target.wait_for(lambda fake: len(fake.messages()) == 1, timeout=5)
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery_send(delivery.pk) == Delivery.DELIVERED
    assert len(slack_target.messages()) == 1


def test_a_server_error_after_posting_does_not_double_the_message(
    slack_target, django_capture_on_commit_callbacks
):
    slack_target.enqueue(ok(), applied_then(500))  # listed; posted, then 500: the retry looks first
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery_send(delivery.pk) == Delivery.DELIVERED
    assert len(slack_target.messages()) == 1
    assert slack_target.requests_for("conversations.history")


def test_a_forced_backfill_never_reposts_a_delivered_message(
    slack_target, django_capture_on_commit_callbacks
):
    store_now(django_capture_on_commit_callbacks, completion(), completion(), completion())
    assert len(slack_target.messages()) == 3
    with django_capture_on_commit_callbacks(execute=True):
        counts = backfill(target=Target.objects.get(name="slack"), force=True)
    assert len(slack_target.messages()) == 3
    assert counts["skipped"] == 3


def test_failures_are_not_announced_in_a_channel_by_default(slack_target, django_capture_on_commit_callbacks):
    failed = make_statement(
        actor_email="learner@example.com",
        activity=COURSE,
        verb=ADL + "failed",
        result={"success": False, "score": {"scaled": 0.3}},
    )
    store_now(django_capture_on_commit_callbacks, failed)
    assert slack_target.messages() == []
    assert Delivery.objects.get().status == Delivery.DELIVERED  # nothing to send is the right effect


def test_a_failure_may_be_told_to_the_learner_alone_when_the_target_opts_in(
    slack_target, django_capture_on_commit_callbacks
):
    target = Target.objects.get(name="slack")
    Target.objects.filter(pk=target.pk).update(config={**target.config, "failures": "direct_message"})
    failed = make_statement(
        actor_email="learner@example.com", activity=COURSE, verb=ADL + "failed", result={"success": False}
    )
    store_now(django_capture_on_commit_callbacks, failed)
    [message] = slack_target.messages()
    assert message["channel"].startswith("D")  # the learner's direct-message channel
    assert slack_target.messages("#learning") == [] and slack_target.messages("#general") == []


def test_a_completion_scored_below_min_score_is_not_announced(
    slack_target, django_capture_on_commit_callbacks
):
    target = Target.objects.get(name="slack")
    Target.objects.filter(pk=target.pk).update(config={**target.config, "min_score": 60})
    low = make_statement(
        actor_email="learner@example.com",
        activity=COURSE,
        result={"completion": True, "score": {"scaled": 0.4}},
    )
    high = make_statement(
        actor_email="learner@example.com",
        activity=COURSE,
        result={"completion": True, "score": {"scaled": 0.8}},
    )
    store_now(django_capture_on_commit_callbacks, low, high)
    assert len(slack_target.messages("#learning")) == 1


def test_a_learner_without_a_name_is_not_announced_by_e_mail_address(
    slack_target, django_capture_on_commit_callbacks
):
    """An actor with an mbox and no name (common from an LMS): the channel, a wide audience, is
    told "A learner", not the learner's e-mail address."""
    statement = make_statement(
        actor_email="alice.example@corp.example", activity=COURSE, result={"completion": True}
    )
    del statement["actor"]["name"]
    store_now(django_capture_on_commit_callbacks, statement)
    [message] = slack_target.messages("#learning")
    assert "alice.example@corp.example" not in message["text"], message["text"]
    assert message["text"].startswith("A learner completed")


def test_a_learner_named_like_a_mention_mentions_no_one(slack_target, django_capture_on_commit_callbacks):
    """Slack reads the fallback ``text`` as mrkdwn (notifications show it): a name such as
    "<!channel>" must arrive escaped there as in the blocks, never as an @channel mention."""
    statement = completion()
    statement["actor"]["name"] = "<!channel> & co"
    store_now(django_capture_on_commit_callbacks, statement)
    [message] = slack_target.messages()
    assert "<!channel>" not in message["text"] and "&lt;!channel&gt; &amp; co" in message["text"]
    assert "<!channel>" not in str(message.get("blocks"))


def test_a_routing_change_between_attempts_does_not_double_the_message(
    slack_target, django_capture_on_commit_callbacks
):
    slack_target.enqueue(ok(), applied_then(500))  # listed; posted in #learning, then answered 500
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert [m["channel"] for m in slack_target.messages()] == ["C0000000002"]
    assert delivery.external_id == "C0000000002"  # #learning, by the id a rename leaves alone
    # An admin routes the course elsewhere before the retry: the message stays where it went.
    target = Target.objects.get(name="slack")
    Target.objects.filter(pk=target.pk).update(config={**target.config, "channels_by_prefix": []})
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery_send(delivery.pk) == Delivery.DELIVERED
    assert [m["channel"] for m in slack_target.messages()] == ["C0000000002"]


def test_a_direct_message_keeps_no_slack_user_id_with_its_delivery(
    slack_target, django_capture_on_commit_callbacks
):
    """No routing moves a learner's direct messages, so an ambiguous attempt keeps nothing of
    where it went: the learner's Slack user id would be personal data an erasure must find."""
    target = Target.objects.get(name="slack")
    Target.objects.filter(pk=target.pk).update(config={**target.config, "direct_message": True})
    slack_target.enqueue(ok(), applied_then(500))  # the learner found; the message posted, then 500
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.RETRYING and delivery.external_id == "@direct-message"
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery_send(delivery.pk) == Delivery.DELIVERED
    assert len(slack_target.messages()) == 1


def test_a_channel_the_bot_can_no_longer_read_is_passed_over_by_the_retry(
    slack_target, django_capture_on_commit_callbacks
):
    slack_target.enqueue(ok(), status(500))  # listed; nothing posted in #learning
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.RETRYING and delivery.external_id == "C0000000002"
    target = Target.objects.get(name="slack")
    Target.objects.filter(pk=target.pk).update(config={**target.config, "channels_by_prefix": []})
    slack_target.leave_channel("#learning")  # its history can no longer be read
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery_send(delivery.pk) == Delivery.DELIVERED
    assert [m["channel"] for m in slack_target.messages()] == ["C0000000001"]  # #general
