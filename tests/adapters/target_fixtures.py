"""Targets at the fake downstream systems (tests/targets/), ready to receive deliveries in-process:
one fixture per target kind, each returning the started fake."""

from __future__ import annotations

import pytest

SKILLS_MAPPING = [
    {
        "activity_id": "https://lms.example.com/courses/safety-101",
        "codes": ["SAFETY-BASICS"],
        "level": {"thresholds": [[90, 5], [75, 4], [50, 3], [0, 2]], "no_score": 3},
    }
]


@pytest.fixture
def fake_env(monkeypatch):
    """Secrets of the fake targets in the environment, no cached OAuth token from an earlier
    test's fake, and the test learner (learner@example.com) linked to employee E100."""
    from django.core.cache import cache

    from adapters.identity.links import Identifiers, identity_links_upsert

    # The fakes speak plain http on loopback; requests-oauthlib refuses that unless told.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    for name, value in {
        "PMS_SECRET": "pms-secret",
        "MARKET_SECRET": "marketplace-secret",
        "GRAPH_SECRET": "graph-secret",
    }.items():
        monkeypatch.setenv(name, value)
    cache.clear()
    identity_links_upsert(employee_id="E100", identifiers=Identifiers(emails=["learner@example.com"]))
    yield
    cache.clear()


@pytest.fixture
def pms_target(fake_env, pms_server):
    """A PMS target named "pms" at the fake PMS; returns the fake."""
    from adapters.models import Target
    from tests.adapters.helpers import pms_config

    Target.objects.create(name="pms", adapter="pms", config=pms_config(pms_server))
    return pms_server


@pytest.fixture
def market_target(fake_env, marketplace_server):
    """A marketplace target named "market" at the fake marketplace, with an active competency
    mapping: safety-101 evidences SAFETY-BASICS (level by score: 90 -> 5, 75 -> 4, 50 -> 3, else
    2; 3 without a score). Returns the fake."""
    from adapters.models import CompetencyMapping, Target

    CompetencyMapping.objects.create(version="2026.1", is_active=True, rules=SKILLS_MAPPING)
    Target.objects.create(
        name="market",
        adapter="marketplace",
        config={
            "base_url": marketplace_server.url,
            "token_url": marketplace_server.token_url,
            "client_id": "lrs-marketplace",
            "client_secret": {"env": "MARKET_SECRET"},
        },
    )
    return marketplace_server


@pytest.fixture
def slack_target(fake_env, slack_server, monkeypatch):
    """A Slack bot target named "slack" posting course news to #learning; returns the fake."""
    from adapters.models import Target

    monkeypatch.setenv("SLACK_TOKEN", slack_server.bot_token)
    Target.objects.create(
        name="slack",
        adapter="slack",
        config={
            "mode": "bot",
            "bot_token": {"env": "SLACK_TOKEN"},
            "api_base": slack_server.api_url,
            "default_channel": "#general",
            "channels_by_prefix": [{"prefix": "https://lms.example.com/courses/", "channel": "#learning"}],
        },
    )
    return slack_server
