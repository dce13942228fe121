"""The circuit breaker with a half-open probe, through a real worker: a target that is down gets
at most one request per probe interval, and deliveries resume within one interval of its
recovery (not after a doubling pause)."""

from __future__ import annotations

import itertools
import time

import pytest

from adapters.models import Delivery, Target
from tests.adapters.helpers import wait_until
from tests.conftest import make_statement
from tests.targets.webhook_server import ok, status

pytestmark = pytest.mark.django_db(transaction=True)

PROBE_SECONDS = 2.0
WORKER_ENV = {
    "LRS_RETRY_BASE_SECONDS": "0.2",
    "LRS_RETRY_CAP_SECONDS": "1",
    "LRS_BREAKER_PROBE_SECONDS": str(PROBE_SECONDS),
    "TEST_WEBHOOK_SECRET": "test-webhook-secret",
}


@pytest.fixture
def hook(webhook_target) -> Target:
    return Target.objects.create(
        name="hook",
        adapter="webhook",
        config={"url": webhook_target.url, "secret": {"env": "TEST_WEBHOOK_SECRET"}, "timeout_seconds": 2},
    )


def test_a_down_target_is_probed_once_per_interval_and_resumes_within_one_of_recovery(
    xapi, hook, webhook_target, broker, celery_worker_process
):
    webhook_target.set_default(status(503))
    celery_worker_process(broker, extra_env=WORKER_ENV)
    response = xapi.post_statements([make_statement() for _ in range(5)])
    assert response.status_code == 200
    wait_until(lambda: Target.objects.get(pk=hook.pk).paused_until is not None, message="the target paused")
    paused = time.time()
    time.sleep(4 * PROBE_SECONDS + 0.5)
    down = [r.arrived_at for r in webhook_target.requests if r.arrived_at > paused]
    gaps = [later - earlier for earlier, later in itertools.pairwise(down)]
    print(f"requests while paused: {len(down)}, gaps {[round(gap, 2) for gap in gaps]}")
    assert 1 <= len(down) <= 5  # one probe per interval (4 intervals and a bit)
    assert all(gap >= PROBE_SECONDS * 0.9 for gap in gaps)

    webhook_target.set_default(ok())
    back = time.time()
    wait_until(lambda: Delivery.objects.filter(status=Delivery.DELIVERED).count() == 5, timeout=30)
    resumed = max(r.arrived_at for r in webhook_target.accepted()) - back
    print(f"all 5 delivered {resumed:.2f} s after the target came back (probe interval {PROBE_SECONDS} s)")
    assert resumed <= PROBE_SECONDS + 1.0
    assert len(webhook_target.distinct_keys()) == 5
