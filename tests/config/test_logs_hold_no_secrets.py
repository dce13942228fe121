"""No secret reaches the logs: a statement fans out to every target kind (a webhook, the PMS, the
marketplace, Slack by bot and by incoming webhook, Teams by activity feed and by channel message),
with a failing attempt (the PMS answers 500), a token refused and fetched again (the marketplace
answers 401) and a rotated delegated token (Teams), while everything is logged at DEBUG
(urllib3, requests-oauthlib, oauthlib, Celery, django.request included) as LOG_FORMAT=json
writes it. Then every configured secret, every token the fakes issued and the xAPI credential's
secret (also as its Basic header) is looked for in the captured text: none may be there.

Once in this process (deliveries run right after commit), once through a
real Celery worker started with LOG_FORMAT=json and --loglevel DEBUG.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.correlation import CorrelationIdFilter
from adapters.models import Delivery, Target
from config.logs import JsonLineFormatter
from tests.adapters.celery_process import CeleryWorker
from tests.adapters.conftest import broker, celery_worker_process, private_redis  # noqa: F401
from tests.adapters.helpers import wait_until
from tests.adapters.target_fixtures import fake_env, market_target, pms_target, slack_target  # noqa: F401
from tests.conftest import XAPIClient, make_statement
from tests.targets.behaviours import status
from tests.targets.fixtures import graph_server, marketplace_server, pms_server, slack_server  # noqa: F401
from tests.targets.webhook_server import WebhookServer

COURSE = "https://lms.example.com/courses/safety-101"
LOUD_LOGGERS = ("urllib3", "requests_oauthlib", "oauthlib", "celery", "django.request", "adapters", "lrs")
TARGET_KINDS = {"webhook", "pms", "marketplace", "slack", "msteams"}


def basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Everything logged in this process at DEBUG and above, in LOG_FORMAT=json lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    handler.addFilter(CorrelationIdFilter())
    root = logging.getLogger()
    loggers = [logging.getLogger(name) for name in LOUD_LOGGERS]
    saved = [(logger, logger.level, logger.propagate) for logger in [root, *loggers]]
    root.addHandler(handler)
    for logger in [root, *loggers]:
        logger.setLevel(logging.DEBUG)
        logger.propagate = True
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        for logger, level, propagate in saved:
            logger.setLevel(level)
            logger.propagate = propagate


@pytest.fixture
def webhook_server() -> Iterator[WebhookServer]:
    server = WebhookServer(secret="whsec-" + secrets.token_urlsafe(16)).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def every_target(request, monkeypatch, webhook_server) -> dict[str, Any]:
    """A target of every kind at the local fakes (tests/adapters/target_fixtures.py for the PMS,
    the marketplace and the Slack bot); returns the fakes, and the secrets in ``env``."""
    fakes = {
        "pms": request.getfixturevalue("pms_target"),
        "market": request.getfixturevalue("market_target"),
        "slack": request.getfixturevalue("slack_target"),
        "graph": request.getfixturevalue("graph_server"),
        "webhook": webhook_server,
    }
    slack, graph = fakes["slack"], fakes["graph"]
    env = {
        "HOOK_SECRET": webhook_server.secret,
        "SLACK_HOOK": slack.add_webhook("learning"),  # its path is the secret
        "GRAPH_REFRESH": graph.issue_refresh_token(),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    Target.objects.create(
        name="hook", adapter="webhook", config={"url": webhook_server.url, "secret": {"env": "HOOK_SECRET"}}
    )
    Target.objects.create(
        name="slack-hook", adapter="slack", config={"mode": "webhook", "webhook_url": {"env": "SLACK_HOOK"}}
    )
    teams = {
        "tenant_id": graph.tenant_id,
        "client_id": graph.client_id,
        "client_secret": {"env": "GRAPH_SECRET"},
        "login_base": graph.url,
        "graph_base": graph.url,
    }
    Target.objects.create(name="teams-feed", adapter="msteams", config={**teams, "mode": "activity_feed"})
    Target.objects.create(
        name="teams-channel",
        adapter="msteams",
        config={
            **teams,
            "mode": "channel_message",
            "refresh_token": {"env": "GRAPH_REFRESH"},
            "team_id": "team-1",
            "channel_id": "19:abc@thread.tacv2",
        },
    )
    assert {target.adapter for target in Target.objects.all()} == TARGET_KINDS
    # A failing attempt, and a token the API refuses (fetched again, then accepted).
    fakes["pms"].enqueue(status(500))
    fakes["market"].enqueue(status(401))
    return {**fakes, "env": env}


def secrets_to_look_for(fakes: dict[str, Any], credential_key: str, credential_secret: str) -> dict[str, str]:
    """Every secret value configured or issued during the fan-out, by what it is."""
    pms, market, slack, graph = fakes["pms"], fakes["market"], fakes["slack"], fakes["graph"]
    found = {
        "webhook secret": fakes["webhook"].secret,
        "PMS client secret": pms.client_secret,
        "marketplace client secret": market.client_secret,
        "Graph client secret": graph.client_secret,
        "Slack bot token": slack.bot_token,
        "Slack incoming webhook": fakes["env"]["SLACK_HOOK"].rsplit("/", 1)[1],
        "PMS client Basic": basic(pms.client_id, pms.client_secret),
        "marketplace client Basic": basic(market.client_id, market.client_secret),
        "Graph client Basic": basic(graph.client_id, graph.client_secret),
        "xAPI credential secret": credential_secret,
        "xAPI Basic header": basic(credential_key, credential_secret),
    }
    issued = [*pms.tokens, *market.tokens, *graph.tokens]
    found.update({f"access token {n}": token.value for n, token in enumerate(issued)})
    found.update(
        {f"refresh token {n}": grant.value for n, grant in enumerate(graph.token_store.refresh_tokens)}
    )
    return found


def assert_no_secret_in(text: str, found: dict[str, str]) -> None:
    leaked = [what for what, value in found.items() if value in text]
    assert not leaked, f"in the logs: {leaked}"


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.django_db
def test_a_fan_out_to_every_target_logs_no_secret_and_a_request_line(
    every_target, make_credential, captured_logs, django_capture_on_commit_callbacks
):
    credential, secret = make_credential("lms", ["all"])
    xapi = XAPIClient(credential, secret)
    statement = make_statement(activity=COURSE, result={"completion": True, "score": {"scaled": 0.9}})
    with django_capture_on_commit_callbacks(execute=True):
        response = xapi.post_statements([statement], headers={"X-Request-ID": "fan-out-1"})
    assert response.status_code == 200
    # Refused, with the credential's header: django.request logs the 400 too.
    assert xapi.post_statements({"verb": "not a statement"}).status_code == 400

    outcomes = dict(Delivery.objects.values_list("target__name", "status"))
    assert outcomes.pop("pms") == Delivery.RETRYING  # the failing attempt
    assert set(outcomes.values()) == {Delivery.DELIVERED}, outcomes
    assert len(every_target["market"].tokens) == 2  # refused once, fetched again
    assert len(every_target["graph"].token_store.refresh_tokens) == 2  # rotated

    text = captured_logs.getvalue()
    assert "requests_oauthlib" in text and "urllib3" in text  # the DEBUG lines were captured
    assert_no_secret_in(text, secrets_to_look_for(every_target, credential.key, secret))
    lines = json_lines(text)
    attempts = [line for line in lines if "delivery_id" in line]  # adapters/delivery/outcomes.py
    assert {line["target"] for line in attempts} == set(outcomes) | {"pms"}
    assert all(line["attempt"] == 1 and line["outcome"] for line in attempts), attempts
    [pms_attempt] = [line for line in attempts if line["target"] == "pms"]
    assert pms_attempt["level"] == "WARNING" and "answered 500" in pms_attempt["message"]
    assert any(line["logger"] == "django.request" and line["status_code"] == 400 for line in lines)
    [request_line, refused_line] = [line for line in lines if line["logger"] == "lrs.request"]
    assert (refused_line["status"], refused_line["credential"]) == (400, "lms")
    assert request_line | {"time": None, "duration_ms": None} == {
        "time": None,
        "level": "INFO",
        "logger": "lrs.request",
        "message": request_line["message"],
        "request_id": "fan-out-1",
        "method": "POST",
        "path": "/xapi/statements",
        "status": 200,
        "duration_ms": None,
        "credential": "lms",
        "statements": 1,
    }


@pytest.mark.django_db(transaction=True)
def test_a_worker_logging_at_debug_in_json_fans_out_to_every_target_without_a_secret(
    request, every_target, make_credential
):
    # The real-worker fixtures of tests/adapters/conftest.py; the secrets reach the worker through
    # the environment the fixtures above set.
    broker_url = request.getfixturevalue("broker")
    worker: CeleryWorker = request.getfixturevalue("celery_worker_process")(
        broker_url,
        extra_env={
            "LOG_FORMAT": "json",
            "LRS_RETRY_BASE_SECONDS": "0.2",
            "LRS_RETRY_CAP_SECONDS": "0.5",
            "PYTHONWARNINGS": "ignore",  # Celery's warning about running as root is not a log line
        },
        extra_args=["--loglevel", "DEBUG"],
    )
    credential, secret = make_credential("lms", ["all"])
    statement = make_statement(activity=COURSE, result={"completion": True, "score": {"scaled": 0.9}})
    assert XAPIClient(credential, secret).post_statements([statement]).status_code == 200
    wait_until(
        lambda: Delivery.objects.filter(status=Delivery.DELIVERED).count() == Target.objects.count(),
        timeout=60,
        message="every delivery delivered, the PMS's after its failing attempt",
    )

    running = worker.log_text().split(" ====\n", 1)[1]
    worker.stop()
    assert_no_secret_in(worker.log_text(), secrets_to_look_for(every_target, credential.key, secret))
    lines = json_lines(running[: running.rfind("\n") + 1])  # only JSON lines (whole ones: it was writing)
    loggers = {line["logger"].split(".")[0] for line in lines}
    assert {"celery", "urllib3", "requests_oauthlib"} <= loggers
    assert any(line["level"] == "DEBUG" for line in lines)
