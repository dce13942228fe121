"""Alerts (adapters/alerts): dead letters above the threshold give exactly one message at the
alert target (the fake Slack) and, once they clear, one recovery; a flapping figure does not
storm; a failed send is recorded and retried at the next evaluation, to the targets that did not
take it only; each rule reads its figure."""

from __future__ import annotations

from datetime import timedelta

import pytest
import responses
from django.db import connection
from django.utils import timezone

from adapters.alerts.evaluate import evaluate
from adapters.alerts.notify import alert_targets
from adapters.alerts.rules import RULES_BY_NAME
from adapters.models import Alert, Delivery, ReconciliationRun, StoredToken, Target
from adapters.msteams.adapter import TeamsAdapter
from adapters.msteams.token_store import token_get, token_put
from adapters.registry import adapter_for
from tests.adapters.helpers import store_now, teams_channel_config
from tests.conftest import HOOK, make_statement
from tests.targets.behaviours import status

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops_channel(slack_target):
    """The fake Slack's target turned into an alert target for #ops (alerts only)."""
    slack_target.add_channel("ops")
    target = Target.objects.get(name="slack")
    target.config = {**target.config, "alert_channel": "#ops"}
    target.receives = Target.RECEIVES_ALERTS
    target.full_clean()
    target.save()
    return slack_target


def dead_letters(capture, count: int) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(HOOK, status=422)  # rejected for good: each a dead letter
        store_now(capture, *[make_statement() for _ in range(count)])
    assert Delivery.objects.filter(status=Delivery.DEAD).count() >= count


def age_dead_letters(hours: float) -> None:
    Delivery.objects.filter(status=Delivery.DEAD).update(updated_at=timezone.now() - timedelta(hours=hours))


def only(rule: str):
    return (RULES_BY_NAME[rule],)


def test_dead_letters_above_the_threshold_give_one_alert_and_one_recovery(
    ops_channel, hook_target, django_capture_on_commit_callbacks, settings
):
    settings.LRS_PUBLIC_URL = "https://lrs.example.com"
    dead_letters(django_capture_on_commit_callbacks, 3)  # threshold: more than 1 an hour

    assert evaluate(rules=only("dead_letters")) == 1
    for _ in range(3):  # still above: nothing more
        assert evaluate(rules=only("dead_letters")) == 0
    [alert_message] = ops_channel.messages("#ops")
    assert (
        "dead letters in the last hour for target hook is 3, above the threshold of 1"
        in alert_message["text"]
    )
    assert f"https://lrs.example.com/admin/adapters/target/{hook_target.pk}/change/" in alert_message["text"]
    assert ops_channel.messages("#learning") == [] and ops_channel.messages("#general") == []

    age_dead_letters(2)  # out of the last hour: back within the threshold
    assert [evaluate(rules=only("dead_letters")) for _ in range(3)] == [0, 0, 1]  # after 3 calm evaluations
    assert evaluate(rules=only("dead_letters")) == 0
    raised, recovered = ops_channel.messages("#ops")
    assert raised == alert_message
    assert recovered["text"].startswith(
        ":white_check_mark: Recovered: dead letters in the last hour for target hook is 0"
    )
    alert = Alert.objects.get(rule="dead_letters", target=hook_target)
    assert not alert.raised and alert.unsent == [] and len(alert.messages) == 2


def test_a_flapping_figure_raises_once_and_recovers_once(
    ops_channel, hook_target, django_capture_on_commit_callbacks
):
    dead_letters(django_capture_on_commit_callbacks, 2)
    for _ in range(4):  # above, within, above, within ... never three calm evaluations in a row
        evaluate(rules=only("dead_letters"))
        age_dead_letters(2)
        evaluate(rules=only("dead_letters"))
        age_dead_letters(0)
    assert len(ops_channel.messages("#ops")) == 1
    age_dead_letters(2)
    for _ in range(3):
        evaluate(rules=only("dead_letters"))
    assert len(ops_channel.messages("#ops")) == 2


def test_an_alert_that_could_not_be_sent_is_recorded_and_sent_at_the_next_evaluation(
    ops_channel, hook_target, django_capture_on_commit_callbacks
):
    dead_letters(django_capture_on_commit_callbacks, 2)
    ops_channel.stop()
    assert evaluate(rules=only("dead_letters")) == 1
    alert = Alert.objects.get(rule="dead_letters", target=hook_target)
    assert len(alert.unsent) == 1 and "error" in alert.messages[-1]
    ops_channel.start()
    evaluate(rules=only("dead_letters"))
    alert.refresh_from_db()
    assert alert.unsent == [] and alert.messages[-1]["status"] == 200
    assert len(ops_channel.messages("#ops")) == 1


def test_each_rule_reads_its_figure(hook_target, django_capture_on_commit_callbacks, settings):
    now = timezone.now()
    # Paused (the breaker is open until a probe succeeds, also after paused_until has passed).
    ReconciliationRun.objects.create(
        target=hook_target, since=now - timedelta(days=1), until=now, drift_percent=3.0, finished_at=now
    )
    Target.objects.filter(pk=hook_target.pk).update(paused_until=now + timedelta(hours=1))
    evaluate(now=now)
    evaluate(now=now + timedelta(minutes=20))  # paused for 20 minutes: above 15
    raised = set(Alert.objects.filter(raised=True).values_list("rule", flat=True))
    assert raised == {"drift", "paused"}
    # An alert target that takes no statements is never judged itself.
    assert not Alert.objects.exclude(target=hook_target).exists()


def test_only_adapters_that_carry_alerts_may_be_alert_targets(pms_target, graph_server):
    from django.core.exceptions import ValidationError

    target = Target.objects.get(name="pms")
    target.receives = Target.RECEIVES_ALERTS
    with pytest.raises(ValidationError, match="cannot carry alerts"):
        target.full_clean()
    feed = Target(
        name="feed",
        adapter="msteams",
        receives=Target.RECEIVES_ALERTS,
        config={
            "mode": "activity_feed",
            "tenant_id": "t",
            "client_id": "c",
            "client_secret": {"env": "GRAPH_SECRET"},
        },
    )
    with pytest.raises(ValidationError, match="needs mode channel_message"):
        feed.full_clean()


def test_transitions_wait_for_an_alert_target_and_a_missing_figure_is_no_calm(
    hook_target, django_capture_on_commit_callbacks, slack_target
):
    dead_letters(django_capture_on_commit_callbacks, 2)
    evaluate(rules=only("dead_letters"))  # no alert target yet: kept
    alert = Alert.objects.get(rule="dead_letters", target=hook_target)
    assert alert.raised and len(alert.unsent) == 1
    slack_target.add_channel("ops")
    Target.objects.filter(name="slack").update(receives=Target.RECEIVES_ALERTS)
    evaluate(rules=only("dead_letters"))
    assert len(slack_target.messages("#general")) == 1  # told once one was configured
    lag = Alert.objects.create(rule="lag_p95", target=hook_target, raised=True)
    for _ in range(5):  # nothing delivered in the last hour: no lag figure, not a recovery
        evaluate(rules=only("lag_p95"))
    lag.refresh_from_db()
    assert lag.raised and lag.calm_evaluations == 0


def test_success_held_share_and_lag_rules_read_the_deliveries(
    hook_target, django_capture_on_commit_callbacks
):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(HOOK, status=200)
        store_now(django_capture_on_commit_callbacks, *[make_statement() for _ in range(21)])
    delivered = Delivery.objects.filter(status=Delivery.DELIVERED)
    first, second = delivered.order_by("id")[:2]
    Delivery.objects.filter(pk=first.pk).update(status=Delivery.DEAD)  # 20 of 21: 95.2 % < 99 %
    Delivery.objects.filter(pk=second.pk).update(status=Delivery.HELD)  # 1 of 21 held > 0.1 %
    # Every delivery 20 minutes after its statement was stored: lag p95 1,200 s > 600 s.
    for delivery in Delivery.objects.filter(status=Delivery.DELIVERED).select_related("statement"):
        Delivery.objects.filter(pk=delivery.pk).update(
            delivered_at=delivery.statement.stored + timedelta(minutes=20)
        )
    evaluate()
    alerts = {a.rule: a for a in Alert.objects.filter(target=hook_target)}
    assert {rule for rule, a in alerts.items() if a.raised} == {"success", "held_share", "lag_p95"}
    assert alerts["success"].value == pytest.approx(100 * 19 / 20)
    assert alerts["held_share"].value == pytest.approx(100 / 21)
    assert alerts["lag_p95"].value == pytest.approx(1200, abs=1)
    assert alerts["dead_letters"].value == 1 and not alerts["dead_letters"].raised  # not above 1


def test_a_webhook_alert_target_gets_a_signed_alert_event(
    hook_target, django_capture_on_commit_callbacks, webhook_target, monkeypatch
):
    import json

    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "test-webhook-secret")
    Target.objects.create(
        name="ops-hook",
        adapter="webhook",
        receives=Target.RECEIVES_ALERTS,
        config={"url": webhook_target.url, "secret": {"env": "TEST_WEBHOOK_SECRET"}},
    )
    dead_letters(django_capture_on_commit_callbacks, 2)
    evaluate(rules=only("dead_letters"))
    [request] = webhook_target.accepted()  # signed: the fake checks the signature
    assert request.header("X-LRS-Event") == "lrs.alert"
    alert = json.loads(request.body)["alert"]
    assert (alert["rule"], alert["target"], alert["state"], alert["value"], alert["threshold"]) == (
        "dead_letters",
        "hook",
        "raised",
        2.0,
        1.0,
    )


def teams_ops(graph_server, monkeypatch, name: str) -> Target:
    """A Teams target carrying alerts only, to the ops channel."""
    monkeypatch.setenv("GRAPH_REFRESH", graph_server.issue_refresh_token())
    return Target.objects.create(
        name=name,
        adapter="msteams",
        receives=Target.RECEIVES_ALERTS,
        config=teams_channel_config(graph_server, "19:ops@thread.tacv2"),
    )


def test_a_teams_channel_alert_target_posts_to_its_channel(
    hook_target, django_capture_on_commit_callbacks, graph_server, fake_env, monkeypatch
):
    teams_ops(graph_server, monkeypatch, "ops-teams")
    dead_letters(django_capture_on_commit_callbacks, 2)
    evaluate(rules=only("dead_letters"))
    [message] = graph_server.channel_messages()
    assert message["channel"] == "19:ops@thread.tacv2"
    assert "dead letters in the last hour for target hook is 2" in message["body"]["content"]


def test_one_alert_target_failing_oddly_does_not_repost_the_alert_to_the_others(
    ops_channel, hook_target, graph_server, monkeypatch, django_capture_on_commit_callbacks
):
    """Two alert targets: Slack (#ops) first, then a Teams channel whose sending raises, three
    evaluations in a row, what no adapter expects (a bug): Teams' failure is recorded by its type,
    the evaluations go on, and Slack, which took the alert at the first, holds it once; Teams
    takes it once it works again."""
    teams_ops(graph_server, monkeypatch, "teams-ops")
    assert [t.name for t in alert_targets()] == ["slack", "teams-ops"]  # by name: Slack first
    dead_letters(django_capture_on_commit_callbacks, 2)
    real_requests = TeamsAdapter.alert_requests

    def odd(self, notice):
        raise ValueError("nothing any adapter expects")

    monkeypatch.setattr(TeamsAdapter, "alert_requests", odd)
    for _ in range(3):
        evaluate(rules=only("dead_letters"))
    alert = Alert.objects.get(rule="dead_letters", target=hook_target)
    [transition] = alert.unsent
    assert transition["sent_to"] == ["slack"] and transition["attempts"] == 3
    assert alert.messages[-1]["error"] == "unexpected error: ValueError"
    monkeypatch.setattr(TeamsAdapter, "alert_requests", real_requests)
    evaluate(rules=only("dead_letters"))  # Teams works again
    assert len(graph_server.channel_messages()) == 1
    assert len(ops_channel.messages("#ops")) == 1, [m["text"] for m in ops_channel.messages("#ops")]


def test_an_alert_target_failing_on_a_database_error_leaves_the_others_and_the_record_intact(
    ops_channel, hook_target, graph_server, monkeypatch, django_capture_on_commit_callbacks
):
    """A Teams alert target first (by name), whose sending meets a database error (its token
    store, say): the error is that receiver's failure, recorded; the evaluation goes on, Slack takes
    the alert, and Teams takes it once it works again."""
    teams_ops(graph_server, monkeypatch, "ops-teams")
    assert [t.name for t in alert_targets()] == ["ops-teams", "slack"]
    dead_letters(django_capture_on_commit_callbacks, 2)
    real_requests = TeamsAdapter.alert_requests

    def database_error(self, notice):
        with connection.cursor() as cursor:
            cursor.execute("SELECT no_such_column FROM adapters_alert")

    monkeypatch.setattr(TeamsAdapter, "alert_requests", database_error)
    evaluate(rules=only("dead_letters"))
    alert = Alert.objects.get(rule="dead_letters", target=hook_target)
    [transition] = alert.unsent
    assert transition["sent_to"] == ["slack"]
    assert alert.messages[-2]["to"] == "ops-teams"
    assert alert.messages[-2]["error"] == "unexpected error: ProgrammingError"
    assert len(ops_channel.messages("#ops")) == 1
    monkeypatch.setattr(TeamsAdapter, "alert_requests", real_requests)
    evaluate(rules=only("dead_letters"))
    assert len(graph_server.channel_messages()) == 1
    assert len(ops_channel.messages("#ops")) == 1
    assert Alert.objects.get(id=alert.id).unsent == []


def test_a_teams_alert_target_keeps_its_rotated_refresh_token_when_the_post_fails(
    hook_target, django_capture_on_commit_callbacks, graph_server, fake_env, monkeypatch
):
    """Microsoft rotates a refresh token on every use: one fetched for an alert whose post then
    failed is kept, not rolled back with the failure (the configured one may be spent)."""
    teams_ops(graph_server, monkeypatch, "ops-teams")
    dead_letters(django_capture_on_commit_callbacks, 2)
    graph_server.enqueue(status(503))
    evaluate(rules=only("dead_letters"))
    alert = Alert.objects.get(rule="dead_letters", target=hook_target)
    assert "error" in alert.messages[-1] and not graph_server.channel_messages()
    [stored] = StoredToken.objects.all()
    assert token_get(stored.key) == graph_server.token_store.refresh_tokens[-1].value


def _refuse_token_deletes() -> None:
    """Deleting a stored token meets a database error, as a lock timeout would (SQLSTATE 55P03:
    another worker holding the row while it stores the token it rotated)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE FUNCTION refuse_token_delete() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'canceling statement due to lock timeout' USING ERRCODE = '55P03'; END
            $$ LANGUAGE plpgsql;
            CREATE TRIGGER refuse_token_delete BEFORE DELETE ON adapters_storedtoken
            FOR EACH ROW EXECUTE FUNCTION refuse_token_delete();
            """
        )


def test_a_teams_token_store_delete_failing_is_that_receivers_failure_not_the_evaluations(
    ops_channel, hook_target, graph_server, monkeypatch, django_capture_on_commit_callbacks
):
    """The stored refresh token is refused (invalid_grant), so ``_refresh`` drops it
    (``token_forget``: a DELETE, which marks Django's connection broken when it fails); that
    DELETE meets a database error. It is the Teams receiver's recorded failure, and Slack (the
    next receiver) takes the alert: the send's savepoint is an ``atomic`` block, which clears that
    mark when it rolls back."""
    teams = teams_ops(graph_server, monkeypatch, "ops-teams")
    assert [t.name for t in alert_targets()] == ["ops-teams", "slack"]
    adapter = adapter_for(teams.adapter, teams.config)
    token_put(adapter._store_key, "a-stale-rotated-token")  # unknown to Graph: invalid_grant
    dead_letters(django_capture_on_commit_callbacks, 2)
    _refuse_token_deletes()

    evaluate(rules=only("dead_letters"))  # no TransactionManagementError escapes

    alert = Alert.objects.get(rule="dead_letters", target=hook_target)
    [transition] = alert.unsent
    assert transition["sent_to"] == ["slack"]
    assert alert.messages[-2]["to"] == "ops-teams" and "error" in alert.messages[-2]
    assert len(ops_channel.messages("#ops")) == 1


def test_the_admin_lists_alerts(admin_client, hook_target, django_capture_on_commit_callbacks):
    from django.urls import reverse

    dead_letters(django_capture_on_commit_callbacks, 2)
    evaluate(rules=only("dead_letters"))
    page = admin_client.get(reverse("admin:adapters_alert_changelist"))
    assert page.status_code == 200 and b"dead_letters" in page.content
    alert = Alert.objects.get(rule="dead_letters")
    assert admin_client.get(reverse("admin:adapters_alert_change", args=[alert.pk])).status_code == 200


def test_a_transition_every_remaining_receiver_took_leaves_the_queue(
    ops_channel, hook_target, graph_server, monkeypatch, django_capture_on_commit_callbacks
):
    """Slack took it, Teams failed, then the admin disabled Teams: the transition is done, not
    counted again and again on every evaluation."""
    teams = teams_ops(graph_server, monkeypatch, "teams-ops")
    dead_letters(django_capture_on_commit_callbacks, 2)
    graph_server.enqueue_token(status(503))
    evaluate(rules=only("dead_letters"))
    alert = Alert.objects.get(rule="dead_letters", target=hook_target)
    assert alert.unsent and alert.unsent[0]["sent_to"] == ["slack"]
    teams.enabled = False  # the admin retires the failing receiver
    teams.save()
    for _ in range(3):
        evaluate(rules=only("dead_letters"))
    alert.refresh_from_db()
    assert alert.unsent == [], alert.unsent
