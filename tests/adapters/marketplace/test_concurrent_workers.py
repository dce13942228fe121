"""Two real Celery workers delivering evidence of the same member's competency at once: the
records they send never overlap in flight, and the marketplace ends with the record the live
evidence gives (no stale record sent last)."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from adapters.models import Delivery
from lrs.statements.store import statement_store
from tests.adapters.helpers import COURSE, voiding, wait_until
from tests.adapters.marketplace.expected import Evidence, expected_record, held_record
from tests.conftest import make_statement
from tests.targets.behaviours import hang

pytestmark = pytest.mark.django_db(transaction=True)

WORKER_ENV = {
    "MARKET_SECRET": "marketplace-secret",
    "OAUTHLIB_INSECURE_TRANSPORT": "1",
    "LRS_RETRY_BASE_SECONDS": "0.2",
    "LRS_RETRY_CAP_SECONDS": "1",
    # One delivery per batch: every batch is full, so each drain recruits a second one and both
    # workers' drains take deliveries of the same skill at once.
    "LRS_DRAIN_BATCH": "1",
}
PIECES = [(0.55, 1), (0.95, 2), (0.6, 3), (0.8, 4), (None, 5), (0.3, 6), (0.7, 7), (0.9, 8), (0.5, 9)]


def test_two_workers_sending_one_skill_at_once_end_with_the_right_record(
    broker, celery_worker_process, market_target
):
    marketplace = market_target
    marketplace.set_default(hang(0.3))  # every write takes a while: the workers overlap
    in_flight: list[tuple[float, float]] = []
    lock = threading.Lock()

    def finished(request) -> None:
        if request.route in ("skills.put", "skills.revoke") and request.status is not None:
            with lock:
                in_flight.append((request.arrived_at, time.time()))

    marketplace.on_answer = finished
    workers = [celery_worker_process(broker, extra_env=WORKER_ENV) for _ in range(2)]
    ids = []
    for scaled, day in PIECES:
        result = {"completion": True, **({"score": {"scaled": scaled}} if scaled is not None else {})}
        statement = make_statement(
            actor_email="learner@example.com",
            activity=COURSE,
            result=result,
            timestamp=f"2026-03-0{day}T10:00:00Z",
        )
        ids += statement_store(statements=[statement], credential=None)
    statement_store(statements=[voiding(ids[1]), voiding(ids[7])], credential=None)  # the two best

    def settled() -> bool:  # the voided statements' own deliveries may have been cancelled unsent
        retracted = Delivery.objects.filter(kind="retract", status=Delivery.DELIVERED).count()
        statuses = set(Delivery.objects.values_list("status", flat=True))
        return retracted == 2 and statuses <= {Delivery.DELIVERED, Delivery.CANCELLED}

    wait_until(settled, timeout=90, message="every delivery and retraction done")
    live = [
        Evidence(ids[i], f"2026-03-0{day}T10:00:00.000000Z", scaled)
        for i, (scaled, day) in enumerate(PIECES)
        if i not in (1, 7)
    ]
    assert held_record(marketplace.skills().get(("E100", "SAFETY-BASICS"))) == expected_record(live)
    writes = sorted(in_flight)
    assert all(end <= next_start + 0.05 for (_, end), (next_start, _) in itertools.pairwise(writes)), (
        "two writes of the same record were in flight at once"
    )
    waits = sum(worker.log_text().count("waits: another delivery is changing") for worker in workers)
    assert waits > 0, "the workers never delivered evidence of the same skill at the same time"
