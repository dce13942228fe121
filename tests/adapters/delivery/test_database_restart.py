"""After a database restart every worker process delivers again within seconds: connections are
checked before each task (config/celery.py), not only every CELERY_DB_REUSE_MAX tasks.

gunicorn and a Celery worker with two processes on a private PostgreSQL and Redis; the test
restarts the database and measures, per worker process, how long after the database accepted
connections again that process made its next delivery.

Which process gets which task is the worker's business, so the test does not leave it to chance
that both get a delivery after the restart. A CI run at load 8, and 3 of 10 restarts at load 14
here, left one process without any: it ran the dispatch tasks (successfully, so its connection
was fine) while the other one's drain claimed every delivery, as the second drain's message
queued behind a backlog of dispatch messages. Instead, the first delivery after the restart is
held at the target, which keeps the process that sends it busy, so the next statement's dispatch
and drain can only run on the other process; the held answer is released once that one delivered.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime

import pytest

from tests.adapters.helpers import wait_until, webhook_targets_file
from tests.conftest import make_statement
from tests.targets.webhook_server import held

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "test-webhook-secret"
PROCESSES = {"ForkPoolWorker-1", "ForkPoolWorker-2"}
# The per-batch summary line of adapters.delivery.outcomes, e.g. "3 deliveries to hook: 3 delivered".
DELIVERED = re.compile(
    r"^\[(\S+ \S+): INFO/(ForkPoolWorker-\d+)\] \d+ deliveries to hook: .*\b\d+ delivered\b", re.MULTILINE
)
SUCCEEDED = re.compile(r"^\[\S+ \S+: INFO/(ForkPoolWorker-\d+)\] Task \S+ succeeded", re.MULTILINE)
RECEIVED = re.compile(r"^\[(\S+ \S+): INFO/MainProcess\] Task \S+\[(\S+)\] received", re.MULTILINE)
FAILED = re.compile(r"^\[\S+ \S+: ERROR/ForkPoolWorker-\d+\] Task \S+\[(\S+)\] raised", re.MULTILINE)
# Far above what a process needs once its connection is checked before each task (a few seconds
# at load 14), well below CONN_MAX_AGE (60 s: an unchecked kept connection is replaced by then).
BOUND_SECONDS = 30


def _at(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def _first_delivery_after(log: str, back: float) -> dict[str, float]:
    """Per worker process, the seconds from ``back`` to its first delivery after it."""
    first: dict[str, float] = {}
    for stamp, process in DELIVERED.findall(log):
        if _at(stamp) >= back:
            first.setdefault(process, _at(stamp) - back)
    return first


def test_every_worker_process_delivers_again_within_seconds_of_a_database_restart(
    private_stack, private_redis, webhook_target, celery_worker_process, tmp_path
):
    # A held answer must come before the worker gives up on the request (10 s by default).
    targets = webhook_targets_file(tmp_path, webhook_target.url, timeout_seconds=90)
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
    posted = 0

    def post() -> None:
        nonlocal posted
        response = wait_until(
            lambda: (r := stack.post_statements([make_statement()])).status_code == 200 and r, timeout=30
        )
        assert response.status_code == 200
        posted += 1

    for _ in range(10):
        post()
    wait_until(lambda: len(webhook_target.distinct_keys()) == posted, timeout=30, message="10 deliveries")
    # Both processes hold a database connection for the restart to break (CONN_MAX_AGE keeps it).
    wait_until(
        lambda: set(SUCCEEDED.findall(worker.log_text())) == PROCESSES or post(),
        timeout=60,
        interval=0.5,
        message="a task run by each worker process",
    )
    wait_until(lambda: len(webhook_target.distinct_keys()) == posted, timeout=30, message="every delivery")

    stack.database.stop()
    time.sleep(0.3)
    stack.database.start()
    back = time.time()  # the database accepts connections again

    release = threading.Event()
    webhook_target.enqueue(held(release, seconds=60))
    earlier = len(webhook_target.requests)
    post()
    wait_until(
        lambda: any(not request.finished for request in webhook_target.requests[earlier:]),
        timeout=BOUND_SECONDS,
        message="the first delivery after the restart, held at the target",
    )
    post()  # its dispatch and drain can only run on the process that is not busy sending
    wait_until(
        lambda: _first_delivery_after(worker.log_text(), back),
        timeout=BOUND_SECONDS,
        message="a delivery by the other worker process",
    )
    release.set()
    first_after = wait_until(
        lambda: (first := _first_delivery_after(worker.log_text(), back)).keys() == PROCESSES and first,
        timeout=BOUND_SECONDS,
        message="a delivery by each worker process",
    )
    print(f"seconds from the database accepting connections to each process's next delivery: {first_after}")
    assert max(first_after.values()) < BOUND_SECONDS, first_after
    wait_until(lambda: len(webhook_target.distinct_keys()) == posted, timeout=30, message="every delivery")
    # No task the worker took once the database was back failed (a process left with a broken
    # connection fails each one); only those caught by the restart itself may have.
    log = worker.log_text()
    taken_after = {task for stamp, task in RECEIVED.findall(log) if _at(stamp) >= back}
    assert not taken_after & set(FAILED.findall(log)), log
