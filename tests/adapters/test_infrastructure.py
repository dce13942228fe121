"""Proof that the process fixtures do what the fan-out tests rely on: a broker that really
goes away and comes back on the same address, and a real worker that really dies."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import redis
from django.db import connection

from tests.adapters.celery_process import CeleryWorker, ping_workers, send_builtin_task
from tests.adapters.helpers import live_group_members, port_refuses, wait_until
from tests.adapters.redis_process import PrivateRedis


def test_wait_until_returns_the_truthy_value_and_fails_with_a_message() -> None:
    values = iter([0, None, "ready"])
    assert wait_until(lambda: next(values), timeout=2, interval=0.01) == "ready"
    with pytest.raises(AssertionError, match=r"timed out after 0\.1 s waiting for the moon"):
        wait_until(lambda: False, timeout=0.1, interval=0.02, message="the moon")


def test_private_redis_stops_and_starts_on_the_same_port(private_redis: PrivateRedis) -> None:
    url, port = private_redis.url, private_redis.port
    assert url == f"redis://127.0.0.1:{port}/0"
    client = private_redis.client()
    assert client.ping()
    client.set("kept?", "no")

    private_redis.stop()
    assert port_refuses(port)
    with pytest.raises(redis.exceptions.ConnectionError):
        client.ping()

    private_redis.start()
    assert private_redis.url == url
    assert client.ping(), "a client keeps working once the broker is back"
    assert client.get("kept?") is None, "nothing is persisted across a restart"
    client.close()


def test_private_redis_cleanup_leaves_nothing_listening(tmp_path: Path) -> None:
    server = PrivateRedis(tmp_path).start()
    pid = server._proc.pid if server._proc else 0
    server.stop()
    assert port_refuses(server.port) and not live_group_members(pid)


@pytest.mark.django_db(transaction=True)
def test_celery_worker_process_runs_on_a_private_broker_and_dies_on_sigkill(
    private_redis: PrivateRedis, celery_worker_process
) -> None:
    worker: CeleryWorker = celery_worker_process(private_redis.url)
    assert worker.alive and "ready." in worker.log_text()
    env = Path(f"/proc/{worker.pid}/environ").read_bytes().split(b"\0")
    assert f"CELERY_BROKER_URL={private_redis.url}".encode() in env
    name = connection.settings_dict["NAME"]
    assert name.startswith("test_")
    assert any(v.startswith(b"DATABASE_URL=postgres://") and v.endswith(f"/{name}".encode()) for v in env)

    (node,) = wait_until(lambda: ping_workers(private_redis.url), timeout=10, message="a ping reply")
    assert node.startswith("lrs-test-1-")
    task_id = send_builtin_task(private_redis.url)
    wait_until(lambda: f"Task celery.accumulate[{task_id}] succeeded" in worker.log_text(), timeout=15)

    pid = worker.pid
    worker.kill(signal.SIGKILL)
    assert not worker.alive and not live_group_members(pid), "the pool children die with the main process"
    assert ping_workers(private_redis.url) == []

    worker.restart()
    assert worker.alive and worker.pid != pid
    assert wait_until(lambda: ping_workers(private_redis.url), timeout=10)


@pytest.mark.django_db(transaction=True)
def test_celery_worker_process_stop_is_a_clean_warm_shutdown(
    private_redis: PrivateRedis, celery_worker_process
) -> None:
    worker: CeleryWorker = celery_worker_process(private_redis.url)
    pid = worker.pid
    worker.stop()
    assert not worker.alive and not live_group_members(pid)
    assert "Warm shutdown" in worker.log_text()
