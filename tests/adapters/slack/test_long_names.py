"""Slack: a completion of an activity with a long name is announced, not refused for good. xAPI
sets no length on an activity's name or id (an LMS may put the course description in the name),
while Slack refuses a Block Kit text object over 3,000 characters (``invalid_blocks``,
https://api.slack.com/reference/block-kit/composition-objects#text) and a message ``text`` over
40,000. Checked on what the fake Slack holds."""

from __future__ import annotations

import pytest

from adapters.models import Delivery
from tests.adapters.helpers import COURSE, store_now
from tests.conftest import make_statement
from tests.targets.slack_contract import utf16_units

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("retries_far_off")]

LONG_NAME = "Arbeitssicherheit & Gesundheitsschutz <Grundlagen> " * 400  # 20,400 characters


def completion(name: str = LONG_NAME, activity: str = COURSE) -> dict:
    statement = make_statement(
        actor_email="learner@example.com", activity=activity, result={"completion": True}
    )
    statement["object"]["definition"]["name"] = {"en-US": name}
    return statement


def test_a_completion_of_an_activity_with_a_long_name_is_posted_naming_its_beginning(
    slack_target, django_capture_on_commit_callbacks
):
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.DELIVERED, delivery.last_error
    [message] = slack_target.messages()
    section = message["blocks"][0]["text"]["text"]
    assert section.startswith(
        "A Learner completed Arbeitssicherheit &amp; Gesundheitsschutz &lt;Grundlagen&gt;"
    )
    assert section.endswith("\u2026") and len(section) <= 3000
    assert message["text"] == section


def test_a_completion_of_an_activity_with_a_long_id_is_posted(
    slack_target, django_capture_on_commit_callbacks
):
    """The LRS keeps ids of up to 2,048 bytes; a query string's ampersands, escaped for mrkdwn
    (``&amp;``), take it past 3,000 characters."""
    long_id = COURSE + "?" + "a=1&" * 480  # 1,956 characters, 3,876 escaped
    store_now(django_capture_on_commit_callbacks, completion(name="Safety 101", activity=long_id))
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.DELIVERED, delivery.last_error
    [message] = slack_target.messages()
    context = message["blocks"][1]["elements"][0]["text"]
    assert context.startswith(COURSE) and len(context) <= 3000


def test_a_name_of_emoji_and_ampersands_is_cut_to_what_slack_counts(
    slack_target, django_capture_on_commit_callbacks
):
    """Slack does not say how it counts a text object's 3,000 characters; the fake counts UTF-16
    code units (tests/targets/slack_contract.py), as many as code points or more: an emoji is two.
    A learner named by 200 emoji and an activity by 500 emoji and 500 ampersands (each "&amp;"
    escaped): within 3,000 code points once cut, far beyond 3,000 UTF-16 code units unless the cut
    counts them."""
    statement = completion(name="\U0001f389&" * 500)
    statement["actor"]["name"] = "\U0001f469\U0001f3fd" * 100
    store_now(django_capture_on_commit_callbacks, statement)
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.DELIVERED, delivery.last_error
    [message] = slack_target.messages()
    section = message["blocks"][0]["text"]["text"]
    assert section.endswith("\u2026") and utf16_units(section) <= 3000
    assert section.startswith("\U0001f469\U0001f3fd" * 100 + " completed \U0001f389&amp;\U0001f389")
