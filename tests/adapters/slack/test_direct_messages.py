"""Slack direct messages in bulk: each learner gets one message, in their own conversation, and
the e-mail -> Slack user answers are remembered per workspace for a while (Slack's guidance: cache
user look-ups; https://api.slack.com/methods/users.lookupByEmail), so a batch for learners looked
up lately spends no ``users.lookupByEmail`` on them (the adapter's contract,
adapters/slack/adapter.py; the cache, adapters/slack/users.py)."""

from __future__ import annotations

import pytest
from django.db import transaction

from adapters.delivery.drain import delivery_send
from adapters.models import Delivery, Target
from lrs.statements.erasure import people_erased
from tests.adapters.helpers import ADL, COURSE, store_now
from tests.conftest import make_statement

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("retries_far_off")]

LEARNERS = [f"learner{number:02d}@corp.example" for number in range(20)]


@pytest.fixture
def dm_target(slack_target) -> dict[str, str]:
    """The Slack target with ``direct_message``; the 20 learners' Slack user ids by address."""
    target = Target.objects.get(name="slack")
    Target.objects.filter(pk=target.pk).update(config={**target.config, "direct_message": True})
    return {email: slack_target.add_user(email) for email in LEARNERS}


def completions(emails: list[str]) -> list[dict]:
    made = []
    for email in emails:
        statement = make_statement(actor_email=email, activity=COURSE, result={"completion": True})
        statement["actor"]["name"] = email.split("@")[0]  # each message told from the others
        made.append(statement)
    return made


def direct_conversation(user_id: str) -> str:
    return "D" + user_id[1:]  # the fake's direct-message conversation with the user


def test_a_batch_of_twenty_direct_messages_tells_each_learner_once_in_their_own_conversation(
    slack_target, dm_target, django_capture_on_commit_callbacks
):
    store_now(django_capture_on_commit_callbacks, *completions(LEARNERS))
    assert Delivery.objects.filter(status=Delivery.DELIVERED).count() == 20
    for email, user_id in dm_target.items():
        [message] = slack_target.messages(direct_conversation(user_id))
        assert email.split("@")[0] in message["text"], message["text"]
    assert len(slack_target.messages()) == 20


def test_a_second_batch_for_the_same_learners_looks_none_of_them_up_again(
    slack_target, dm_target, django_capture_on_commit_callbacks
):
    store_now(django_capture_on_commit_callbacks, *completions(LEARNERS))
    looked_up = len(slack_target.requests_for("users.lookupByEmail"))
    store_now(django_capture_on_commit_callbacks, *completions(LEARNERS))
    assert len(slack_target.requests_for("users.lookupByEmail")) == looked_up, "looked up again"
    for user_id in dm_target.values():
        assert len(slack_target.messages(direct_conversation(user_id))) == 2


def test_a_learner_not_in_slack_is_announced_in_the_channel_each_time_and_not_looked_up_each_time(
    slack_target, dm_target, django_capture_on_commit_callbacks
):
    """No Slack account for the address: a completion goes to the routed channel, as it did
    before any cache; the answer is remembered too (for less time than a user found)."""
    stranger = ["stranger@corp.example"]
    store_now(django_capture_on_commit_callbacks, *completions(stranger))
    store_now(django_capture_on_commit_callbacks, *completions(stranger))
    assert len(slack_target.messages("#learning")) == 2
    assert len(slack_target.requests_for("users.lookupByEmail")) == 1
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.DELIVERED}


def test_a_failure_of_a_learner_not_in_slack_is_told_no_one_as_before(
    slack_target, dm_target, django_capture_on_commit_callbacks
):
    target = Target.objects.get(name="slack")
    Target.objects.filter(pk=target.pk).update(config={**target.config, "failures": "direct_message"})
    for _ in range(2):
        failed = make_statement(
            actor_email="stranger@corp.example",
            activity=COURSE,
            verb=ADL + "failed",
            result={"success": False},
        )
        store_now(django_capture_on_commit_callbacks, failed)
    assert slack_target.messages() == []
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.DELIVERED}
    assert len(slack_target.requests_for("users.lookupByEmail")) == 1


def test_an_address_given_to_another_slack_account_is_told_to_the_new_one_not_the_old(
    slack_target, dm_target, django_capture_on_commit_callbacks
):
    """The address moves to a new Slack account (the old one deactivated) after its user was
    remembered: the post into the old account fails, the remembered answer is dropped, and the
    retry looks the address up afresh: one message, to the account that holds the address now."""
    email = LEARNERS[0]
    store_now(django_capture_on_commit_callbacks, *completions([email]))
    old = dm_target[email]
    new = slack_target.add_user(email)  # the old account no longer takes messages
    store_now(django_capture_on_commit_callbacks, *completions([email]))
    delivery = Delivery.objects.order_by("-id").first()
    for _ in range(2):  # the retry, as soon as it may run
        if delivery.status != Delivery.RETRYING:
            break
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
        with django_capture_on_commit_callbacks(execute=True):
            delivery_send(delivery.pk)
        delivery.refresh_from_db()
    assert delivery.status == Delivery.DELIVERED, (delivery.status, delivery.last_error)
    assert len(slack_target.messages(direct_conversation(new))) == 1
    assert len(slack_target.messages(direct_conversation(old))) == 1  # the first statement's only


def test_an_address_now_given_by_the_lms_to_someone_named_otherwise_is_looked_up_again(
    slack_target, dm_target, django_capture_on_commit_callbacks
):
    """The LMS names the address's holder differently (the address given to another person): what
    was remembered of the address is not taken for them."""
    email = LEARNERS[0]
    store_now(django_capture_on_commit_callbacks, *completions([email]))
    new = slack_target.add_user(email)
    statement = completions([email])[0]
    statement["actor"]["name"] = "Someone Else"
    store_now(django_capture_on_commit_callbacks, statement)
    [message] = slack_target.messages(direct_conversation(new))
    assert "Someone Else" in message["text"]
    assert len(slack_target.requests_for("users.lookupByEmail")) == 2


def test_an_erasure_makes_the_process_forget_the_slack_users_it_remembered(
    slack_target, dm_target, django_capture_on_commit_callbacks
):
    """A learner's Slack user id is personal data: an erasure empties what this process remembers
    of people (lrs.statements.erasure), the looked-up users among it."""
    store_now(django_capture_on_commit_callbacks, *completions(LEARNERS[:1]))
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        people_erased()
    store_now(django_capture_on_commit_callbacks, *completions(LEARNERS[:1]))
    assert len(slack_target.requests_for("users.lookupByEmail")) == 2
