"""Seeing the fan-out: metrics, admin health and actions, the correlation id."""

from __future__ import annotations

import json

import pytest
import responses
from django.contrib.auth import get_user_model

from adapters.models import Delivery, Target
from tests.adapters.helpers import expand_outbox, metric_samples
from tests.conftest import HOOK, make_statement

pytestmark = pytest.mark.django_db


@responses.activate
def test_correlation_id_travels_from_the_request_to_the_target(
    xapi, target, django_capture_on_commit_callbacks
):
    responses.post(HOOK, status=200)
    with django_capture_on_commit_callbacks(execute=True):
        response = xapi.post_statements(make_statement(), headers={"X-Request-ID": "lms-req-42"})
    assert response["X-Request-ID"] == "lms-req-42"
    assert Delivery.objects.get().correlation_id == "lms-req-42"
    assert responses.calls[0].request.headers["X-Request-ID"] == "lms-req-42"


def test_a_correlation_id_is_generated_when_absent(xapi):
    response = xapi.post_statements(make_statement())
    assert len(response["X-Request-ID"]) == 32


def value(values: dict, name: str, **labels: str) -> float:
    return values.get((name, tuple(sorted(labels.items()))), 0.0)


@responses.activate
def test_metrics_count_statements_deliveries_attempts_lag_and_dead_letters(
    client, xapi, target, django_capture_on_commit_callbacks
):
    # Counters are cumulative per process (other tests of this process counted too): deltas.
    before = metric_samples(client.get("/metrics").content.decode())
    responses.post(HOOK, status=200)
    with django_capture_on_commit_callbacks(execute=True):
        xapi.post_statements([make_statement(), make_statement()])
    responses.replace(responses.POST, HOOK, status=400)
    with django_capture_on_commit_callbacks(execute=True):
        xapi.post_statements(make_statement())
    after = metric_samples(client.get("/metrics").content.decode())

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("lrs_statements_stored_total") == 3
    assert grew("lrs_deliveries_created_total", target="hook") == 3
    assert grew("lrs_delivery_results_total", target="hook", kind="deliver", status="delivered") == 2
    assert grew("lrs_delivery_results_total", target="hook", kind="deliver", status="dead") == 1
    assert grew("lrs_delivery_attempts_total", target="hook", outcome="success") == 2
    assert grew("lrs_delivery_attempts_total", target="hook", outcome="dead") == 1
    assert grew("lrs_delivery_lag_seconds_count", target="hook") == 2
    assert grew("lrs_delivery_lag_seconds_bucket", target="hook", le="+Inf") == 2
    assert grew("lrs_delivery_lag_seconds_bucket", target="hook", le="60.0") == 2
    # What the database holds now, whatever this process counted before.
    assert value(after, "lrs_deliveries_unsettled", target="hook", status="dead") == 1
    assert value(after, "lrs_deliveries_unsettled", target="hook", status="pending") == 0
    assert value(after, "lrs_dead_letters") == 1
    # The xAPI requests themselves, by view and status, with their latency.
    assert grew("lrs_http_requests_total", view="xapi-statements", method="POST", status="200") == 2
    assert grew("lrs_http_request_duration_seconds_count", view="xapi-statements", method="POST") == 2


def test_http_metrics_count_auth_failures_and_leave_out_probes_and_scrapes(client):
    before = metric_samples(client.get("/metrics").content.decode())
    assert client.get("/xapi/statements", headers={"X-Experience-API-Version": "1.0.3"}).status_code == 401
    client.get("/healthz")
    client.get("/readyz")
    client.get("/no/such/page")
    after = metric_samples(client.get("/metrics").content.decode())
    assert (
        value(after, "lrs_http_auth_failures_total", view="xapi-statements")
        - value(before, "lrs_http_auth_failures_total", view="xapi-statements")
        == 1
    )
    assert (
        value(after, "lrs_http_requests_total", view="unmatched", method="GET", status="404")
        - value(before, "lrs_http_requests_total", view="unmatched", method="GET", status="404")
        == 1
    )
    measured = {labels for name, labels in after if name == "lrs_http_requests_total"}
    assert not [labels for labels in measured if dict(labels)["view"] in {"healthz", "readyz", "metrics"}]


def test_the_metrics_page_counts_deliveries_through_indexes_not_whole_tables(client, target):
    """Every query of a scrape names a status the partial or status-first indexes hold, or reads
    a small table: none reads every delivery, attempt or statement."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get("/metrics").status_code == 200
    for query in queries.captured_queries:
        sql = query["sql"]
        assert "adapters_attempt" not in sql and "lrs_statement" not in sql, sql
        if 'FROM "adapters_delivery"' in sql:
            assert '"status" IN' in sql, sql


def test_metrics_token_is_enforced_when_set(client, settings):
    settings.LRS_METRICS_TOKEN = "t0ken"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer t0ken"}).status_code == 200


def test_metrics_are_refused_without_a_configured_token_unless_made_public(client, settings):
    settings.LRS_METRICS_TOKEN, settings.LRS_METRICS_PUBLIC = "", False  # production's default
    refused = client.get("/metrics")
    assert refused.status_code == 401 and b"LRS_METRICS_TOKEN" in refused.content
    settings.LRS_METRICS_PUBLIC = True
    assert client.get("/metrics").status_code == 200


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


@responses.activate
def test_admin_shows_target_health_and_replays_dead_deliveries(
    admin_client, xapi, target, django_capture_on_commit_callbacks
):
    responses.post(HOOK, status=422)
    with django_capture_on_commit_callbacks(execute=True):
        xapi.post_statements(make_statement())
    page = admin_client.get("/admin/adapters/target/").content.decode()
    assert "0 / 0 / 1 / 0" in page and "the target answered 422" in page
    delivery = Delivery.objects.get()
    detail = admin_client.get(f"/admin/adapters/delivery/{delivery.pk}/change/").content.decode()
    assert "the target answered 422" in detail
    responses.replace(responses.POST, HOOK, status=200)
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            "/admin/adapters/delivery/", {"action": "replay", "_selected_action": [delivery.pk]}, follow=True
        )
    delivery.refresh_from_db()
    assert delivery.status == Delivery.DELIVERED
    listing = admin_client.get("/admin/adapters/delivery/", {"status__exact": "delivered"}).content.decode()
    assert str(delivery.statement_uuid) in listing


def test_admin_refuses_a_target_with_a_plain_secret(admin_client):
    response = admin_client.post(
        "/admin/adapters/target/add/",
        {
            "name": "bad",
            "adapter": "webhook",
            "enabled": "on",
            "config": json.dumps({"url": "https://x", "secret": "plain"}),
            "filter": "{}",
            "max_attempts": 12,
        },
    )
    assert response.status_code == 200
    assert "is a secret" in response.content.decode()
    assert not Target.objects.filter(name="bad").exists()


def test_target_health_counts_each_status_of_its_own_deliveries_only(target):
    from datetime import timedelta

    from django.utils import timezone

    from adapters.ops.selectors import target_health
    from lrs.statements.store import statement_store

    other = Target.objects.create(
        name="other", adapter="webhook", config={"url": HOOK, "secret": {"env": "TEST_WEBHOOK_SECRET"}}
    )
    statement_store(statements=[make_statement() for _ in range(7)], credential=None)
    expand_outbox()
    mine = list(Delivery.objects.filter(target=target).order_by("id"))
    now = timezone.now()
    states = [
        (Delivery.PENDING, None),
        (Delivery.IN_FLIGHT, None),
        (Delivery.RETRYING, None),
        (Delivery.DEAD, None),
        (Delivery.DELIVERED, now - timedelta(minutes=5)),
        (Delivery.DELIVERED, now - timedelta(hours=2)),  # outside the last hour
        (Delivery.CANCELLED, None),
    ]
    for delivery, (status, delivered_at) in zip(mine, states, strict=True):
        Delivery.objects.filter(pk=delivery.pk).update(status=status, delivered_at=delivered_at)
    Delivery.objects.filter(target=other).update(status=Delivery.DEAD)
    health = target_health(target)
    assert (health.pending, health.retrying, health.dead, health.delivered_last_hour) == (2, 1, 1, 1)
    assert target_health(other).dead == 7


def test_admin_finds_deliveries_by_statement_id_or_idempotency_key(admin_client, target):
    from lrs.statements.store import statement_store

    [first, _second] = statement_store(statements=[make_statement(), make_statement()], credential=None)
    expand_outbox()
    for term in (first, f"{first}:hook:deliver"):
        page = admin_client.get("/admin/adapters/delivery/", {"q": term}).content.decode()
        assert first in page and "1 result" in page
    page = admin_client.get("/admin/adapters/delivery/", {"q": f"{first}:hook:retract"}).content.decode()
    assert "0 results" in page


@pytest.mark.django_db
def test_metrics_show_paused_targets_the_oldest_due_wait_and_never_attempted_apart_from_retrying(
    client, target
):
    from datetime import timedelta

    from django.utils import timezone

    from lrs.statements.store import statement_store

    with responses.RequestsMock(assert_all_requests_are_fired=False):
        statement_store(statements=[make_statement() for _ in range(3)], credential=None)
    expand_outbox()
    first, second, _third = Delivery.objects.order_by("id")
    waited = timezone.now() - timedelta(seconds=90)
    Delivery.objects.filter(pk=first.pk).update(next_attempt_at=waited)
    Delivery.objects.filter(pk=second.pk).update(status=Delivery.RETRYING, attempts=2)
    Target.objects.filter(pk=target.pk).update(paused_until=timezone.now() + timedelta(seconds=30))
    values = metric_samples(client.get("/metrics").content.decode())
    assert value(values, "lrs_target_paused", target="hook") == 1
    assert value(values, "lrs_oldest_due_delivery_age_seconds", target="hook") >= 89
    assert value(values, "lrs_deliveries_open", target="hook", state="never_attempted") == 2
    assert value(values, "lrs_deliveries_open", target="hook", state="retrying") == 1
    assert value(values, "lrs_deliveries_unsettled", target="hook", status="retrying") == 1
