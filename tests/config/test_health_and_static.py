"""Under gunicorn with the production settings (tests/stack.py, a private PostgreSQL): the admin's
static files are served (whitenoise, after collectstatic), ``/healthz`` answers without any I/O,
and ``/readyz`` says whether the database is reachable and migrated: 503 naming what failed while
it is down, 200 again once it is back."""

from __future__ import annotations

import requests

from tests.adapters.helpers import wait_until
from tests.adapters.redis_process import PrivateRedis


def test_static_files_health_and_readiness_under_gunicorn_in_production(private_stack):
    stack = private_stack()
    css = requests.get(f"{stack.url}/static/admin/css/base.css", timeout=5)
    assert css.status_code == 200 and "text/css" in css.headers["Content-Type"]
    assert "max-age" in css.headers.get("Cache-Control", "") or css.headers.get("ETag")

    alive = requests.get(f"{stack.url}/healthz", timeout=5)
    assert (alive.status_code, alive.json()) == (200, {"status": "ok"})
    ready = requests.get(f"{stack.url}/readyz", timeout=5)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok"}

    stack.database.stop()
    try:
        down = requests.get(f"{stack.url}/readyz", timeout=10)
        assert down.status_code == 503 and down.json()["status"] == "unavailable"
        assert down.json()["checks"]["database"].startswith("unreachable"), down.json()
        assert requests.get(f"{stack.url}/healthz", timeout=5).status_code == 200  # alive all the same
    finally:
        stack.database.start()
    wait_until(lambda: requests.get(f"{stack.url}/readyz", timeout=5).status_code == 200, timeout=30)


def test_readiness_names_an_unreachable_broker(private_stack, tmp_path):
    (tmp_path / "redis").mkdir()
    broker = PrivateRedis(tmp_path / "redis").start()  # a broker of this test's own, to stop
    try:
        stack = private_stack(broker.url)
        ready = requests.get(f"{stack.url}/readyz", timeout=5)
        assert ready.status_code == 200 and ready.json()["checks"]["broker"] == "ok", ready.text
        broker.stop()
        down = requests.get(f"{stack.url}/readyz", timeout=15)
        assert down.status_code == 503 and down.json()["checks"]["broker"].startswith("unreachable"), (
            down.text
        )
        assert down.json()["checks"]["database"] == "ok"
    finally:
        broker.stop()
