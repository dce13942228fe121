"""One completion statement fans out to all four systems through a real Celery worker on a
real Redis, and an unmapped learner's statement waits until the identity link is imported."""

from __future__ import annotations

import time

import pytest

from adapters.identity.links import identity_links_import_csv
from adapters.models import CompetencyMapping, Delivery, Target
from tests.adapters.helpers import pms_config, teams_feed_config, wait_until
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db(transaction=True)

COURSE = "https://lms.example.com/courses/safety-101"


@pytest.fixture
def all_targets(pms_server, marketplace_server, slack_server, graph_server, monkeypatch):
    secrets = {
        "PMS_SECRET": "pms-secret",
        "MARKET_SECRET": "marketplace-secret",
        "GRAPH_SECRET": "graph-secret",
        "SLACK_TOKEN": slack_server.bot_token,
        "OAUTHLIB_INSECURE_TRANSPORT": "1",  # the fakes speak http on loopback
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    CompetencyMapping.objects.create(
        version="2026.1",
        is_active=True,
        rules=[{"activity_id": COURSE, "codes": ["SAFETY-BASICS", "FIRST-AID"], "level": {"fixed": 3}}],
    )
    Target.objects.create(name="pms", adapter="pms", config=pms_config(pms_server))
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
    Target.objects.create(
        name="slack",
        adapter="slack",
        config={
            "mode": "bot",
            "bot_token": {"env": "SLACK_TOKEN"},
            "api_base": slack_server.api_url,
            "default_channel": "#learning",
        },
    )
    Target.objects.create(
        name="teams",
        adapter="msteams",
        config=teams_feed_config(graph_server),
    )
    return secrets


@pytest.fixture
def worker(broker, celery_worker_process, all_targets):
    return celery_worker_process(broker, extra_env={**all_targets, "LRS_RETRY_BASE_SECONDS": "0.2"})


def test_one_completion_reaches_all_four_systems_exactly_once(
    xapi, worker, pms_server, marketplace_server, slack_server, graph_server
):
    identity_links_import_csv("employee_id,email\nE100,learner@example.com\n")
    response = xapi.post_statements(
        make_statement(
            actor_email="learner@example.com",
            activity=COURSE,
            result={"completion": True, "score": {"scaled": 0.93}},
        )
    )
    assert response.status_code == 200
    wait_until(
        lambda: Delivery.objects.filter(status=Delivery.DELIVERED).count() == 4,
        timeout=30,
        message="four deliveries",
    )
    time.sleep(0.5)  # anything doubled would arrive now
    assert len(pms_server.events()) == 1
    assert set(marketplace_server.skills()) == {("E100", "SAFETY-BASICS"), ("E100", "FIRST-AID")}
    assert len(slack_server.messages()) == 1
    assert len(graph_server.notifications()) == 1
    assert all(count == 1 for count in pms_server.effects().values())


def test_unmapped_learner_is_held_then_delivered_after_the_identity_import(
    xapi, worker, pms_server, marketplace_server, slack_server, graph_server
):
    xapi.post_statements(
        make_statement(actor_email="new.hire@example.com", activity=COURSE, result={"completion": True})
    )
    # Slack and Teams address the learner by e-mail and need no employee id; PMS and marketplace wait.
    wait_until(
        lambda: Delivery.objects.filter(status=Delivery.HELD).count() == 2,
        timeout=30,
        message="PMS and marketplace deliveries held",
    )
    assert pms_server.events() == {} and marketplace_server.skills() == {}
    held = Delivery.objects.filter(status=Delivery.HELD).first()
    assert held.last_error.startswith("unmapped identity")

    identity_links_import_csv("employee_id,email\nE777,new.hire@example.com\n")
    wait_until(lambda: Delivery.objects.filter(status=Delivery.DELIVERED).count() == 4, timeout=30)
    [event] = pms_server.events().values()
    assert event["employeeId"] == "E777"
    assert set(marketplace_server.skills()) == {("E777", "SAFETY-BASICS"), ("E777", "FIRST-AID")}
