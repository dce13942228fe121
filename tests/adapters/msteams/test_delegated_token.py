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
