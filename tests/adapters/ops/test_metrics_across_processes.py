"""Metrics as deployed: gunicorn with several worker processes and a Celery prefork worker, each
counting in its own process (prometheus-client's multi-process mode). Whichever gunicorn process
answers ``/metrics`` reports every process's requests; the Celery worker's own page reports what
its pool processes delivered; both refuse a scrape without the token."""

from __future__ import annotations

import pytest
import requests

from tests.adapters.helpers import free_port, metric_samples, wait_until, webhook_targets_file
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "metrics-token-for-tests"
SECRET = "test-webhook-secret"


def scrape(url: str, token: str | None = TOKEN) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(url, headers=headers, timeout=10)


def test_every_gunicorn_process_reports_the_requests_of_all_and_a_scrape_needs_the_token(
    private_stack, tmp_path
):
    stack = private_stack(GUNICORN_WORKERS="3", LRS_METRICS_TOKEN_FILE=_token_file(tmp_path))
    refused = scrape(f"{stack.url}/metrics", token=None)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert scrape(f"{stack.url}/metrics", token="wrong").status_code == 401
    for _ in range(12):
        assert stack.post_statements([make_statement()]).status_code == 200
    posted = ("lrs_http_requests_total", (("method", "POST"), ("status", "200"), ("view", "xapi-statements")))
    # Requests spread over the three processes; every scrape, whichever process answers it, adds
    # up all of them.
    for _ in range(6):
        page = metric_samples(scrape(f"{stack.url}/metrics").text)
        assert page[posted] == 12
        assert page[("lrs_statements_stored_total", ())] == 12
        assert (
            page[
                ("lrs_http_request_duration_seconds_count", (("method", "POST"), ("view", "xapi-statements")))
            ]
            == 12
        )


def test_a_celery_worker_serves_what_its_pool_processes_delivered(
    private_stack, private_redis, webhook_target, celery_worker_process, tmp_path
):
    targets = webhook_targets_file(tmp_path, webhook_target.url)
    token_file = _token_file(tmp_path)
    stack = private_stack(
        private_redis.url,
        LRS_TARGETS_FILE=str(targets),
        TEST_WEBHOOK_SECRET=SECRET,
        LRS_METRICS_TOKEN_FILE=token_file,
    )
    port = free_port()
    worker_env = {
        key: stack.env[key]
        for key in ("LRS_ENV", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "LRS_TARGETS_FILE")
    }
    celery_worker_process(
        private_redis.url,
        extra_env={
            **worker_env,
            "TEST_WEBHOOK_SECRET": SECRET,
            "LRS_WORKER_METRICS_PORT": str(port),
            "LRS_METRICS_TOKEN_FILE": token_file,
        },
        extra_args=["--concurrency", "2"],
    )
    for _ in range(8):
        assert stack.post_statements([make_statement()]).status_code == 200
    wait_until(lambda: len(webhook_target.distinct_keys()) == 8, timeout=30, message="8 deliveries")

    worker_page = f"http://127.0.0.1:{port}/metrics"
    assert scrape(worker_page, token=None).status_code == 401
    success = ("lrs_delivery_attempts_total", (("outcome", "success"), ("target", "hook")))
    wait_until(
        lambda: metric_samples(scrape(worker_page).text).get(success) == 8, timeout=10, message="8 counted"
    )
    page = metric_samples(scrape(worker_page).text)
    assert page[("lrs_delivery_lag_seconds_count", (("target", "hook"),))] == 8
    assert page[("lrs_deliveries_created_total", (("target", "hook"),))] == 8
    assert (
        page[
            ("lrs_delivery_results_total", (("kind", "deliver"), ("status", "delivered"), ("target", "hook")))
        ]
        == 8
    )
    # The database's gauges are the web's alone (a worker's page would count them twice).
    assert not [name for name, _ in page if name.startswith("lrs_deliveries_unsettled")]
    web = metric_samples(scrape(f"{stack.url}/metrics").text)
    assert web[("lrs_deliveries_unsettled", (("status", "pending"), ("target", "hook")))] == 0
    assert web.get(success, 0) == 0  # the web process delivered nothing itself


def _token_file(tmp_path) -> str:
    path = tmp_path / "metrics_token.txt"
    path.write_text(TOKEN + "\n")
    return str(path)
