"""After a database restart every worker process delivers again within seconds: connections are
checked before each task (config/celery.py), not only every CELERY_DB_REUSE_MAX tasks.

gunicorn and a Celery worker with two processes on a private PostgreSQL and Redis; the test
restarts the database and measures, per worker process, how long after the database accepted
connections again that process made its next delivery."""

from __future__ import annotations

import re
import time
from datetime import datetime

import pytest

from tests.adapters.helpers import wait_until, webhook_targets_file
from tests.conftest import make_statement
from tests.targets.behaviours import hang

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "test-webhook-secret"
# The per-batch summary line of adapters.delivery.outcomes, e.g. "3 deliveries to hook: 3 delivered".
DELIVERED = re.compile(
    r"^\[(\S+ \S+): INFO/(ForkPoolWorker-\d+)\] \d+ deliveries to hook: .*\b\d+ delivered\b", re.MULTILINE
)


def test_every_worker_process_delivers_again_within_seconds_of_a_database_restart(
    private_stack, private_redis, webhook_target, celery_worker_process, tmp_path
):
    targets = webhook_targets_file(tmp_path, webhook_target.url)
    stack = private_stack(private_redis.url, LRS_TARGETS_FILE=str(targets), TEST_WEBHOOK_SECRET=SECRET)
    worker_env = {
        key: stack.env[key]
        for key in ("LRS_ENV", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "LRS_TARGETS_FILE")
    }
    worker = celery_worker_process(
        private_redis.url,
        extra_env={
            **worker_env,
            "TEST_WEBHOOK_SECRET": SECRET,
            "LRS_RETRY_BASE_SECONDS": "0.2",
            "LRS_RETRY_CAP_SECONDS": "1",
        },
        extra_args=["--concurrency", "2"],
    )
    for _ in range(10):
        assert stack.post_statements([make_statement()]).status_code == 200
    wait_until(lambda: len(webhook_target.distinct_keys()) == 10, timeout=30, message="10 deliveries")

    stack.database.stop()
    time.sleep(0.3)
    stack.database.start()
    back = time.time()  # the database accepts connections again

    # Slow answers keep one drain busy while the next statement asks for another, so both worker
    # processes get drains (a quick drain would leave the second process idle, proving nothing).
    webhook_target.set_default(hang(0.3))
    for _ in range(30):
        response = wait_until(
            lambda: (r := stack.post_statements([make_statement()])).status_code == 200 and r, timeout=10
        )
        assert response.status_code == 200
    wait_until(lambda: len(webhook_target.distinct_keys()) == 40, timeout=60, message="40 deliveries")
    first_after: dict[str, float] = {}
    for stamp, process in DELIVERED.findall(worker.log_text()):
        at = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
        if at >= back:
            first_after.setdefault(process, at - back)
    print(f"seconds from the database accepting connections to each process's next delivery: {first_after}")
    assert set(first_after) == {"ForkPoolWorker-1", "ForkPoolWorker-2"}, first_after
    assert max(first_after.values()) < 10, first_after
