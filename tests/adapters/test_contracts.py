"""Each adapter against its local fake server, which checks the real API's request shape
(paths, auth, Idempotency-Key, content type, JSON schema): success, token expiry and
refresh, 429 with Retry-After, permanent errors, retraction on void.

Deliveries run in-process right after commit (no broker); tests/adapters/test_end_to_end.py
runs the same adapters through a real Celery worker.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from adapters.models import CompetencyMapping, Delivery, Target
from lrs.statements.store import statement_store
from tests.conftest import make_statement
from tests.targets.behaviours import ok, retry_after, status

pytestmark = pytest.mark.django_db

ADL = "http://adlnet.gov/expapi/verbs/"
COURSE = "https://lms.example.com/courses/safety-101"
VOIDED = ADL + "voided"


@pytest.fixture(autouse=True)
def _environment(fake_env):
    """Fake targets' secrets, no cached token, learner@example.com linked to E100."""


def store(capture, *statements) -> list[str]:
    with capture(execute=True):
        return statement_store(statements=list(statements), credential=None)


def completion(**extra) -> dict:
    return make_statement(actor_email="learner@example.com", activity=COURSE, **extra)


def only_delivery(kind: str = "deliver") -> Delivery:
    return Delivery.objects.get(kind=kind)


# -- PMS -----------------------------------------------------------------------------------------


@pytest.fixture
def pms(pms_target):
    return pms_target


def test_pms_receives_one_learning_event(pms, django_capture_on_commit_callbacks):
    [statement_id] = store(
        django_capture_on_commit_callbacks, completion(result={"completion": True, "score": {"scaled": 0.9}})
    )
    [event] = pms.events().values()
    event.pop("id")  # assigned by the PMS
    assert event == {
        "statementId": statement_id,
        "schemaVersion": "2",
        "employeeId": "E100",
        "eventType": "course_completion",
        "courseId": COURSE,
        "courseName": "Safety 101",
        "score": 90.0,
        "scoreRaw": None,
        "scoreMin": None,
        "scoreMax": None,
        "timestamp": event["timestamp"],
    }
    assert event["timestamp"].endswith("Z")
    assert list(pms.events()) == [f"{statement_id}:pms:deliver"]


def test_pms_token_expiry_is_refreshed_once(pms, django_capture_on_commit_callbacks):
    store(django_capture_on_commit_callbacks, completion())
    pms.expire_tokens()
    store(django_capture_on_commit_callbacks, completion())
    assert Delivery.objects.filter(status=Delivery.DELIVERED).count() == 2
    assert len(pms.tokens) == 2


def test_pms_429_is_retried_after_the_time_it_asks(pms, django_capture_on_commit_callbacks):
    pms.enqueue(retry_after(30))
    store(django_capture_on_commit_callbacks, completion())
    delivery = only_delivery()
    assert delivery.status == Delivery.RETRYING and delivery.last_status_code == 429
    assert delivery.next_attempt_at >= timezone.now() + timedelta(seconds=29)


def test_pms_permanent_error_is_a_dead_letter(pms, django_capture_on_commit_callbacks):
    pms.enqueue(status(400, body=b'{"error":"unknown course"}'))
    store(django_capture_on_commit_callbacks, completion())
    assert only_delivery().status == Delivery.DEAD


@pytest.mark.parametrize("mode", ["delete", "event"])
def test_pms_retraction_on_void(pms, mode, django_capture_on_commit_callbacks):
    Target.objects.filter(name="pms").update(
        config={**Target.objects.get(name="pms").config, "retraction": mode}
    )
    [statement_id] = store(django_capture_on_commit_callbacks, completion())
    voiding = make_statement(verb=VOIDED, object={"objectType": "StatementRef", "id": statement_id})
    store(django_capture_on_commit_callbacks, voiding)
    assert only_delivery("retract").status == Delivery.DELIVERED
    if mode == "delete":
        assert pms.retractions() == [f"{statement_id}:pms:deliver"]
        assert pms.events() == {}
    else:
        assert [event["eventType"] for event in pms.events().values()] == ["course_completion", "retraction"]


# -- Marketplace ---------------------------------------------------------------------------------


@pytest.fixture
def marketplace(market_target):
    CompetencyMapping.objects.filter(is_active=True).update(
        rules=[
            {
                "activity_id": COURSE,
                "codes": ["SAFETY-BASICS", "FIRST-AID"],
                "level": {"thresholds": [[90, 5], [75, 4], [0, 2]], "no_score": 3},
            }
        ]
    )
    return market_target


def test_marketplace_gets_a_skill_record_per_mapped_competency(
    marketplace, django_capture_on_commit_callbacks
):
    [statement_id] = store(
        django_capture_on_commit_callbacks, completion(result={"completion": True, "score": {"scaled": 0.8}})
    )
    skills = marketplace.skills()
    assert set(skills) == {("E100", "SAFETY-BASICS"), ("E100", "FIRST-AID")}
    record = skills[("E100", "SAFETY-BASICS")]
    assert record["level"] == 4 and record["score"] == 80.0 and record["email"] == "learner@example.com"
    assert record["evidence"] == [
        {"statementId": statement_id, "activityId": COURSE, "date": record["evidence"][0]["date"]}
    ]
    assert record["mappingVersion"] == "2026.1"
    assert record["learningCompleted"]["completed"] is True


def test_marketplace_records_are_revoked_when_the_statement_is_voided(
    marketplace, django_capture_on_commit_callbacks
):
    [statement_id] = store(django_capture_on_commit_callbacks, completion())
    store(
        django_capture_on_commit_callbacks,
        make_statement(verb=VOIDED, object={"objectType": "StatementRef", "id": statement_id}),
    )
    assert sorted(marketplace.revocations()) == [("E100", "FIRST-AID"), ("E100", "SAFETY-BASICS")]
    assert marketplace.skills() == {}


def test_marketplace_token_refresh_on_401(marketplace, django_capture_on_commit_callbacks):
    store(django_capture_on_commit_callbacks, completion())
    marketplace.expire_tokens()
    store(django_capture_on_commit_callbacks, completion())
    assert Delivery.objects.filter(status=Delivery.DELIVERED).count() == 2


def test_statement_mapping_to_no_competency_is_delivered_as_nothing_to_do(
    marketplace, django_capture_on_commit_callbacks
):
    store(
        django_capture_on_commit_callbacks,
        make_statement(actor_email="learner@example.com", activity="https://lms.example.com/other"),
    )
    assert only_delivery().status == Delivery.DELIVERED
    assert marketplace.skills() == {}


# -- Slack ---------------------------------------------------------------------------------------


@pytest.fixture
def slack(slack_target):
    return slack_target


def test_slack_message_goes_to_the_routed_channel_without_the_score(
    slack, django_capture_on_commit_callbacks
):
    store(
        django_capture_on_commit_callbacks, completion(result={"completion": True, "score": {"scaled": 0.4}})
    )
    [message] = slack.messages("#learning")
    assert message["text"] == "A Learner completed Safety 101"
    assert message["blocks"][0]["type"] == "section"


def test_slack_direct_message_to_the_learner_by_email(slack, django_capture_on_commit_callbacks):
    target = Target.objects.get(name="slack")
    Target.objects.filter(pk=target.pk).update(config={**target.config, "direct_message": True})
    store(django_capture_on_commit_callbacks, completion())
    [message] = slack.messages()
    assert message["channel"].startswith(("U", "D"))


def test_slack_invalid_auth_is_permanent(slack, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setenv("SLACK_TOKEN", "xoxb-wrong")
    store(django_capture_on_commit_callbacks, completion())
    delivery = only_delivery()
    assert delivery.status == Delivery.DEAD and "invalid_auth" in delivery.last_error


def test_slack_unknown_channel_is_permanent(slack, django_capture_on_commit_callbacks):
    target = Target.objects.get(name="slack")
    Target.objects.filter(pk=target.pk).update(
        config={**target.config, "channels_by_prefix": [], "default_channel": "#nope"}
    )
    store(django_capture_on_commit_callbacks, completion())
    assert "channel_not_found" in only_delivery().last_error
    assert only_delivery().status == Delivery.DEAD


def test_slack_rate_limit_honours_retry_after(slack, django_capture_on_commit_callbacks):
    slack.enqueue(ok(), retry_after(20))  # the channels listed (#learning's id); the post refused
    store(django_capture_on_commit_callbacks, completion())
    assert slack.requests_for("chat.postMessage")[-1].status == 429
    delivery = only_delivery()
    assert delivery.status == Delivery.RETRYING
    assert delivery.next_attempt_at >= timezone.now() + timedelta(seconds=19)


def test_slack_incoming_webhook(slack_server, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setenv("SLACK_HOOK", slack_server.webhook_url())
    Target.objects.create(
        name="slack-hook",
        adapter="slack",
        config={"mode": "webhook", "webhook_url": {"env": "SLACK_HOOK"}, "include_score": True},
    )
    store(django_capture_on_commit_callbacks, completion(result={"score": {"scaled": 0.75}}))
    [message] = slack_server.messages()
    assert message["text"] == "A Learner completed Safety 101 (score 75/100)"
    slack_server.revoke_webhook()
    store(django_capture_on_commit_callbacks, completion())
    assert Delivery.objects.filter(status=Delivery.DEAD).count() == 1


# -- Microsoft Teams (Graph) ---------------------------------------------------------------------


@pytest.fixture
def graph(graph_server):
    return graph_server


def teams_target(graph_server, **config) -> Target:
    return Target.objects.create(
        name=f"teams-{config['mode']}",
        adapter="msteams",
        config={
            "tenant_id": graph_server.tenant_id,
            "client_id": graph_server.client_id,
            "client_secret": {"env": "GRAPH_SECRET"},
            "login_base": graph_server.url,
            "graph_base": graph_server.url,
            **config,
        },
    )


def test_teams_activity_feed_notification(graph, django_capture_on_commit_callbacks):
    teams_target(graph, mode="activity_feed", web_url="https://lms.example.com/courses/safety-101")
    store(django_capture_on_commit_callbacks, completion())
    [notification] = graph.notifications()
    assert notification["user"] == "learner@example.com"
    assert notification["previewText"]["content"] == "A Learner completed Safety 101"


def test_teams_throttling_is_retried(graph, django_capture_on_commit_callbacks):
    teams_target(graph, mode="activity_feed")
    graph.enqueue(retry_after(15))
    store(django_capture_on_commit_callbacks, completion())
    delivery = only_delivery()
    assert delivery.status == Delivery.RETRYING and delivery.last_status_code == 429


def test_teams_channel_message_with_a_renewed_delegated_token(
    graph, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setenv("GRAPH_REFRESH", graph.issue_refresh_token())
    teams_target(
        graph,
        mode="channel_message",
        refresh_token={"env": "GRAPH_REFRESH"},
        team_id="team-1",
        channel_id="19:abc@thread.tacv2",
    )
    store(django_capture_on_commit_callbacks, completion())
    graph.expire_tokens()
    store(django_capture_on_commit_callbacks, completion())
    messages = graph.channel_messages()
    assert len(messages) == 2 and messages[0]["channel"] == "19:abc@thread.tacv2"
    assert "Safety 101" in messages[0]["body"]["content"]
    from adapters.models import StoredToken

    assert StoredToken.objects.count() == 1  # the rotated refresh token, encrypted


def test_marketplace_429_is_retried_after_the_time_it_asks(marketplace, django_capture_on_commit_callbacks):
    marketplace.enqueue(retry_after(25))
    store(django_capture_on_commit_callbacks, completion())
    delivery = only_delivery()
    assert delivery.status == Delivery.RETRYING and delivery.last_status_code == 429
    assert delivery.next_attempt_at >= timezone.now() + timedelta(seconds=24)
