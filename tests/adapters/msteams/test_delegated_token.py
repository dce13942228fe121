"""Teams channel messages: the delegated refresh token each target holds (configured, then
rotated by Microsoft on every use and kept encrypted) is its own, and never shown in clear."""

from __future__ import annotations

import hashlib

import pytest
from django.core.cache import cache
from django.utils import timezone

from adapters.delivery.drain import delivery_send
from adapters.models import Attempt, Delivery, StoredToken, Target
from adapters.msteams.token_store import token_get, token_put
from tests.adapters.helpers import COURSE, store_now, teams_channel_config
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
        config=teams_channel_config(graph_server, "19:learning@thread.tacv2"),
    )
    return graph_server


def completion() -> dict:
    return make_statement(actor_email="learner@example.com", activity=COURSE, result={"completion": True})


def run_retry(delivery: Delivery) -> str | None:
    """Send a waiting delivery's retry now (retries come due ten minutes on in these tests)."""
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    return delivery_send(delivery.pk)


def legacy_key(server) -> str:
    """Where a version before the key named the channel kept a target's rotated refresh token:
    ``token_url|client_id|team_id``, hashed, as commit 746e0ad computed it."""
    raw = f"{server.token_url}|{server.client_id}|team-1"
    return "msteams-refresh:" + hashlib.sha256(raw.encode()).hexdigest()[:32]


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
    refused = Delivery.objects.order_by("-id").first()
    # The revoked rotated token is not kept, and the configured one is tried once more: refused too.
    assert refused.status == Delivery.RETRYING and not StoredToken.objects.exists(), refused.last_error
    assert run_retry(refused) == Delivery.DEAD
    dead = Delivery.objects.get(pk=refused.pk)
    assert "refreshing the delegated Graph token failed" in dead.last_error
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


def test_a_token_stored_under_the_legacy_key_is_used_once_and_moved(
    teams_channel, monkeypatch, django_capture_on_commit_callbacks
):
    """After the upgrade, the token an earlier version rotated and stored (under a key without the
    channel) is the one refreshed, not the configured token of the original consent, which
    Microsoft has expired by then; the rotated token is kept under the target's own key and the
    legacy row is gone."""
    monkeypatch.setenv("GRAPH_REFRESH", "consented-long-ago-and-expired")
    legacy = teams_channel.issue_refresh_token(user="user-legacy")
    token_put(legacy_key(teams_channel), legacy)
    store_now(django_capture_on_commit_callbacks, completion())
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.DELIVERED, delivery.last_error
    [message] = teams_channel.channel_messages()
    assert message["from"]["user"]["id"] == "user-legacy"
    [row] = StoredToken.objects.all()  # moved: the legacy row is dropped
    assert row.key != legacy_key(teams_channel)
    assert token_get(row.key) not in (None, legacy)  # the rotated one
    # Later refreshes use the moved token.
    cache.clear()
    store_now(django_capture_on_commit_callbacks, completion())
    assert Delivery.objects.order_by("-id").first().status == Delivery.DELIVERED
    assert len(teams_channel.channel_messages()) == 2


def test_a_refused_stored_token_is_dropped_and_the_delivery_retried_with_the_configured_one(
    teams_channel, django_capture_on_commit_callbacks
):
    """The rotated token lapses (invalid_grant) while the configured one still stands: the
    delivery is not dead but waits for a retry, which refreshes with the configured token."""
    store_now(django_capture_on_commit_callbacks, completion())
    [row] = StoredToken.objects.all()
    teams_channel.token_store.refresh_grant(token_get(row.key)).revoked = True
    cache.clear()  # the access token runs out
    store_now(django_capture_on_commit_callbacks, completion())
    refused = Delivery.objects.order_by("-id").first()
    assert refused.status == Delivery.RETRYING, refused.last_error
    assert "configured one is tried next" in refused.last_error
    assert not StoredToken.objects.exists()
    assert run_retry(refused) == Delivery.DELIVERED
    assert len(teams_channel.channel_messages()) == 2
    assert StoredToken.objects.count() == 1  # the token rotated from the configured one


def test_a_consent_given_again_wins_over_a_legacy_token_of_the_former_one(
    teams_channel, monkeypatch, django_capture_on_commit_callbacks
):
    """The configured token goes before a token an earlier version kept under the legacy key: an
    admin who consented again (the old user left) is posted as, and the legacy row goes."""
    legacy = teams_channel.issue_refresh_token(user="user-legacy")
    token_put(legacy_key(teams_channel), legacy)
    # The admin consents again as a new user (e.g. the old one left), before any refresh.
    monkeypatch.setenv("GRAPH_REFRESH", teams_channel.issue_refresh_token(user="user-new"))
    store_now(django_capture_on_commit_callbacks, completion())
    [message] = teams_channel.channel_messages()
    assert message["from"]["user"]["id"] == "user-new", message["from"]
    assert token_get(legacy_key(teams_channel)) is None
