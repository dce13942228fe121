"""Fixtures for fan-out tests that run against real processes.

Every process or thread a fixture starts is stopped in its teardown, whatever the test did,
so a failing test leaves no stray redis-server, Celery worker or listening socket behind.
"""

from __future__ import annotations

import itertools
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings

from config.celery import app as celery_app
from tests.adapters.celery_process import CeleryWorker
from tests.adapters.redis_process import PrivateRedis
from tests.targets.webhook_server import WebhookServer

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_SECRET = "test-webhook-secret"

StartWorker = Callable[..., CeleryWorker]


@pytest.fixture
def retries_far_off(settings):
    """Retries of failed deliveries come due ten minutes on, not within the second. For a test that
    sends the retry itself or expects a delivery still waiting: a full-jitter backoff can come due
    within milliseconds, and the drain that failed would send it again (CI runs, 2026-12-05)."""
    settings.LRS_RETRY_BASE_SECONDS = 600


@pytest.fixture
def target(hook_target):
    """The enabled "hook" webhook target most fan-out tests send to (tests/conftest.py)."""
    return hook_target


@pytest.fixture
def webhook_target() -> Iterator[WebhookServer]:
    """A started fake webhook receiver (secret ``test-webhook-secret``) at ``webhook_target.url``."""
    server = WebhookServer(secret=WEBHOOK_SECRET).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A redis-server of this test's own (``.url``, ``.stop()``, ``.start()``, ``.client()``),
    so killing the broker cannot disturb the shared Redis or parallel tests."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not on PATH")
    server = PrivateRedis(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def broker(private_redis, settings, monkeypatch) -> Iterator[str]:
    """Point this process's dispatch at the private Redis (as a web process with a broker would),
    and its cache too: drain slots and rate windows are shared with the workers through it."""
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "test-webhook-secret")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": private_redis.url}
    }
    previous = celery_app.conf.broker_url
    celery_app.conf.update(broker_url=private_redis.url, task_always_eager=False)
    _forget_broker_connections()
    try:
        yield private_redis.url
    finally:
        celery_app.conf.update(
            broker_url=previous, task_always_eager=django_settings.CELERY_TASK_ALWAYS_EAGER
        )
        _forget_broker_connections()


def _forget_broker_connections() -> None:
    # The pools hold connections to the broker URL they were made with: drop them (as Celery
    # itself does after a fork) so the next publish connects to the URL now configured.
    celery_app._after_fork()


def _database_url() -> str:
    """The URL of the database this test really uses (pytest-django's ``test_<name>``)."""
    from django.db import connection

    s = connection.settings_dict
    user = quote(s.get("USER") or "", safe="")
    password = f":{quote(s['PASSWORD'], safe='')}" if s.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = quote(s.get("HOST") or "", safe="")  # a socket directory becomes %2F...
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{quote(s['NAME'], safe='')}"


def _uses_transactional_db(request: pytest.FixtureRequest) -> bool:
    marker = request.node.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("transaction", marker.args[0] if marker.args else False):
        return True
    return "transactional_db" in request.fixturenames or "live_server" in request.fixturenames


@pytest.fixture
def celery_worker_process(
    request: pytest.FixtureRequest, tmp_path: Path, django_db_setup: None
) -> Iterator[StartWorker]:
    """Factory: ``celery_worker_process(broker_url, extra_env=None, extra_args=(), ready_timeout=30)``
    starts a real ``celery -A config worker`` subprocess and returns a ``CeleryWorker``
    (``pid``, ``kill(sig=SIGKILL)``, ``stop()``, ``restart()``, ``log_text()``, ``log_path``).

    The test MUST use ``@pytest.mark.django_db(transaction=True)``: the worker is another
    process with its own connection to the test database, so it only sees committed rows,
    and the default per-test transaction would hide the test's data from it (and could block
    on its locks). The worker gets a unique ``--hostname`` so several can share a broker.
    """
    if not _uses_transactional_db(request):
        pytest.fail("celery_worker_process needs @pytest.mark.django_db(transaction=True)", pytrace=False)
    workers: list[CeleryWorker] = []
    numbers = itertools.count(1)

    def start(
        broker_url: str,
        *,
        extra_env: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
        ready_timeout: float = 30.0,
    ) -> CeleryWorker:
        number = next(numbers)
        env = {
            **os.environ,
            "LRS_ENV": "test",
            "CELERY_BROKER_URL": broker_url,
            "DATABASE_URL": _database_url(),
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        hostname = f"lrs-test-{number}-{uuid.uuid4().hex[:6]}@%h"
        worker = CeleryWorker(
            env,
            PROJECT_ROOT,
            tmp_path / f"celery-worker-{number}.log",
            ["--hostname", hostname, *extra_args],
            ready_timeout,
        )
        workers.append(worker)
        return worker.start()

    try:
        yield start
    finally:
        errors: list[BaseException] = []
        for worker in workers:  # stop every one even if stopping another fails
            try:
                worker.stop(timeout=10)
            except BaseException as exc:
                errors.append(exc)
        if errors:
            raise errors[0]


from tests.adapters.target_fixtures import fake_env, market_target, pms_target, slack_target  # noqa: E402, F401
from tests.targets.fixtures import graph_server, marketplace_server, pms_server, slack_server  # noqa: E402, F401
