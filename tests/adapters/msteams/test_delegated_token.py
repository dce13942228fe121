"""Teams channel messages: the delegated refresh token each target holds (configured, then
rotated by Microsoft on every use and kept encrypted) is its own, and never shown in clear."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from adapters.models import Attempt, Delivery, StoredToken, Target
from adapters.msteams.token_store import token_get
from tests.adapters.helpers import COURSE, store_now
from tests.conftest import make_statement
from tests.targets.behaviours import status
from tests.targets.graph_server import DEFAULT_USER

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("retries_far_off")]


@pytest.fixture
def teams_channel(fake_env, graph_server, monkeypatch):
    monkeypatch.setenv("GRAPH_REFRESH", graph_server.issue_refresh_token())
    Target.objects.create(
        name="teams",
        adapter="msteams",
        config={
            "mode": "channel_message",
            "tenant_id": graph_server.tenant_id,
            "client_id": graph_server.client_id,
            "client_secret": {"env": "GRAPH_SECRET"},
            "refresh_token": {"env": "GRAPH_REFRESH"},
            "login_base": graph_server.url,
            "graph_base": graph_server.url,
            "team_id": "team-1",
            "channel_id": "19:learning@thread.tacv2",
        },
    )
    return graph_server


def completion() -> dict:
    return make_statement(actor_email="learner@example.com", activity=COURSE, result={"completion": True})


def test_a_failed_token_refresh_does_not_record_the_rotated_refresh_token(
    teams_channel, django_capture_on_commit_callbacks
):
    store_now(django_capture_on_commit_callbacks, completion())
    assert len(teams_channel.channel_messages()) == 1
    # The stored (rotated) refresh token: Microsoft rotates it on every use.
    [row] = StoredToken.objects.all()
    rotated = token_get(row.key)
    assert rotated
    # The access token expires; the next refresh fails (the identity platform is unavailable).
    cache.clear()
    teams_channel.enqueue_token(status(503))
    store_now(django_capture_on_commit_callbacks, completion())
    second = Delivery.objects.order_by("-id").first()
    assert second.status == Delivery.RETRYING, second.last_error
    recorded = "\n".join(Attempt.objects.filter(delivery=second).values_list("request", flat=True))
    assert "refresh_token=" in recorded  # the token request is recorded for the admin...
    assert rotated not in recorded, recorded  # ...without the long-lived credential in it


def test_after_consent_is_given_again_the_new_refresh_token_is_used(
    teams_channel, monkeypatch, django_capture_on_commit_callbacks
):
    """The refresh token is revoked (a password reset, an admin's revocation): the delivery dies,
    its error says an admin must consent again, and the revoked token is not kept. The admin
    consents again and configures the new refresh token: deliveries reach the channel again."""
    store_now(django_capture_on_commit_callbacks, completion())
    assert len(teams_channel.channel_messages()) == 1
    teams_channel.revoke_refresh_tokens()
    cache.clear()  # the access token runs out
    store_now(django_capture_on_commit_callbacks, completion())
    dead = Delivery.objects.order_by("-id").first()
    assert dead.status == Delivery.DEAD and "refreshing the delegated Graph token failed" in dead.last_error
    assert not StoredToken.objects.exists()  # the revoked rotated token is not kept
    # The admin consents again: a fresh refresh token, in the configured secret.
    monkeypatch.setenv("GRAPH_REFRESH", teams_channel.issue_refresh_token())
    store_now(django_capture_on_commit_callbacks, completion())
    third = Delivery.objects.order_by("-id").first()
    assert third.status == Delivery.DELIVERED, third.last_error
    assert len(teams_channel.channel_messages()) == 2


def test_two_channel_targets_of_one_team_post_as_their_own_user(
    teams_channel, graph_server, monkeypatch, django_capture_on_commit_callbacks
):
    """Two channel_message targets of the same app and team, consented by different users (one
    per channel): each channel's messages come from its own user."""
    monkeypatch.setenv("GRAPH_REFRESH_B", graph_server.issue_refresh_token(user="user-b"))
    config = Target.objects.get(name="teams").config
    Target.objects.create(
        name="teams-b",
        adapter="msteams",
        config={**config, "refresh_token": {"env": "GRAPH_REFRESH_B"}, "channel_id": "19:b@thread.tacv2"},
    )
    store_now(django_capture_on_commit_callbacks, completion())
    senders = {m["channel"]: m["from"]["user"]["id"] for m in graph_server.channel_messages()}
    assert senders == {"19:learning@thread.tacv2": DEFAULT_USER, "19:b@thread.tacv2": "user-b"}, senders


def test_a_token_answer_that_is_no_token_is_retried_not_parked_as_outcome_unknown(
    teams_channel, django_capture_on_commit_callbacks
):
    """A 200 from the token endpoint that is not a token (a proxy's page): nothing was posted,
    so the delivery is retried, not parked for an admin as "outcome unknown"; then it lands once."""
    teams_channel.enqueue_token(status(200, headers={"Content-Type": "text/html"}, body=b"<html>maintenance"))
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.RETRYING and not delivery.maybe_applied, delivery.last_error
    assert "not a token" in delivery.last_error and teams_channel.channel_messages() == []
