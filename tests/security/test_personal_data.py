"""Minimum personal data to targets: a chat channel (Slack, Teams) names a learner by the actor's
``name`` alone, "never by an identifier such as an e-mail address" (adapters/rules/notifications.py).
LMSs often fill ``name`` with the learner's e-mail address or login: then the name *is* the
identifier, and the channel must be told "A learner". The webhook's minimised payload is checked by
tests/adapters/webhook/test_webhook.py."""

from __future__ import annotations

import pytest

from adapters.rules.notifications import NO_NAME, learner_name
from tests.adapters.helpers import store_now
from tests.adapters.target_fixtures import fake_env, slack_target  # noqa: F401
from tests.conftest import make_statement
from tests.targets.fixtures import slack_server  # noqa: F401

COURSE = "https://lms.example.com/courses/safety-101"


@pytest.mark.parametrize(
    "actor",
    [
        {"name": "alice.example@corp.example", "mbox": "mailto:alice.example@corp.example"},
        {"name": "ALICE.EXAMPLE@corp.example ", "mbox": "mailto:alice.example@corp.example"},
        {"name": "mailto:alice@corp.example", "mbox": "mailto:alice@corp.example"},
        {"name": "bob@other.example", "mbox": "mailto:alice@corp.example"},  # someone's address all the same
        {"name": "E-1234", "account": {"homePage": "https://hr.example.com", "name": "E-1234"}},
        {"name": "https://id.example.com/jane", "openid": "https://id.example.com/jane"},
    ],
    ids=["mbox", "mbox-cased", "mailto", "another-address", "account-name", "openid"],
)
def test_a_name_that_is_an_identifier_or_an_address_is_not_told_to_a_channel(actor: dict) -> None:
    assert learner_name(make_statement(actor={"objectType": "Agent", **actor})) == NO_NAME


def test_a_real_name_is_still_told() -> None:
    actor = {"objectType": "Agent", "name": "Alice Example", "mbox": "mailto:alice@corp.example"}
    assert learner_name(make_statement(actor=actor)) == "Alice Example"


@pytest.mark.django_db
def test_a_slack_channel_is_not_told_an_address_given_as_the_name(
    slack_target,  # noqa: F811
    django_capture_on_commit_callbacks,
) -> None:
    statement = make_statement(
        actor_email="alice.example@corp.example", activity=COURSE, result={"completion": True}
    )
    statement["actor"]["name"] = "alice.example@corp.example"
    store_now(django_capture_on_commit_callbacks, statement)
    [message] = slack_target.messages("#learning")
    assert "alice.example" not in message["text"] and "alice.example" not in str(message.get("blocks"))
    assert message["text"].startswith("A learner completed")
