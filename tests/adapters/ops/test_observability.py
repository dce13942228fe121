"""Seeing the fan-out: metrics, admin health and actions, the correlation id."""

from __future__ import annotations

import json

import pytest
import responses
from django.contrib.auth import get_user_model

from adapters.models import Delivery, Target
from tests.adapters.helpers import expand_outbox
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


@responses.activate
def test_metrics_report_statements_deliveries_attempts_lag_and_dead_letters(
    client, xapi, target, django_capture_on_commit_callbacks
):
    responses.post(HOOK, status=200)
    with django_capture_on_commit_callbacks(execute=True):
        xapi.post_statements([make_statement(), make_statement()])
    responses.replace(responses.POST, HOOK, status=400)
    with django_capture_on_commit_callbacks(execute=True):
        xapi.post_statements(make_statement())
    text = client.get("/metrics").content.decode()
    assert "lrs_statements_stored 3" in text
    assert 'lrs_deliveries{target="hook",kind="deliver",status="delivered"} 2' in text
    assert 'lrs_deliveries{target="hook",kind="deliver",status="dead"} 1' in text
    assert 'lrs_delivery_attempts_total{target="hook",outcome="success"} 2' in text
    assert "lrs_dead_letters 1" in text
    assert 'lrs_delivery_lag_seconds_bucket{le="+Inf"} 2' in text
    assert "lrs_delivery_lag_seconds_count 2" in text


def test_the_lag_histogram_counts_what_delivery_lags_lists(target):
    from datetime import timedelta

    from django.utils import timezone

    from adapters.ops.metrics import LAG_BUCKETS
    from adapters.ops.selectors import delivery_lag_histogram, delivery_lags
    from lrs.statements.models import Statement
    from lrs.statements.store import statement_store

    ids = statement_store(statements=[make_statement() for _ in range(6)], credential=None)
    expand_outbox()
    now = timezone.now()
    # Lags around bucket bounds, one negative (clock skew: counted as 0), one outside the hour.
    for statement_id, lag, age in zip(
        ids, [-3, 0.05, 0.3, 7.5, 61, 2], [60, 60, 60, 60, 60, 7200], strict=True
    ):
        delivered = now - timedelta(seconds=age)
        Statement.objects.filter(statement_id=statement_id).update(stored=delivered - timedelta(seconds=lag))
        Delivery.objects.filter(statement_uuid=statement_id).update(
            status=Delivery.DELIVERED, delivered_at=delivered
        )
    lags = delivery_lags()
    histogram = delivery_lag_histogram(LAG_BUCKETS)
    assert histogram.count == len(lags) == 5
    assert histogram.buckets == [(bound, sum(1 for lag in lags if lag <= bound)) for bound in LAG_BUCKETS]
    assert histogram.buckets[:2] == [(0.05, 2), (0.1, 2)]
    assert histogram.sum_seconds == pytest.approx(sum(lags)) == pytest.approx(0.05 + 0.3 + 7.5 + 61)


def test_metrics_token_is_enforced_when_set(client, settings):
    settings.LRS_METRICS_TOKEN = "t0ken"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer t0ken"}).status_code == 200


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
    text = client.get("/metrics").content.decode()
    assert 'lrs_target_paused{target="hook"} 1' in text
    [age] = [
        line
        for line in text.splitlines()
        if line.startswith('lrs_oldest_due_delivery_age_seconds{target="hook"}')
    ]
    assert float(age.split()[-1]) >= 89
    assert 'lrs_deliveries_open{target="hook",state="never_attempted"} 2' in text
    assert 'lrs_deliveries_open{target="hook",state="retrying"} 1' in text
