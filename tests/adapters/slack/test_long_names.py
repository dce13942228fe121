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
