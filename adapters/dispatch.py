"""Handing deliveries to workers: after commit, by id, never losing one.

``after_commit`` queues one Celery task per delivery once the storing
transaction commits (a task must never see a row that does not exist yet). If
the broker is down, the error is logged and the rows stay due: the periodic
sweep (``sweep_due``) dispatches them when it is back, so a broker outage delays
deliveries but loses none. With no broker configured (the quickstart), tasks run
in-process right after commit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from adapters.publisher import publisher

logger = logging.getLogger(__name__)

# A delivery due this long ago but still not claimed is dispatched again by the sweep
# (its queued task was lost, e.g. the broker restarted without persistence).
REDISPATCH_GRACE_SECONDS = 60


def _send_tasks(ids: list[int], *, eta: datetime | None = None, mark: bool = True) -> None:
    from adapters.models import Delivery
    from adapters.tasks import deliver

    sent = []
    for delivery_id in ids:
        try:
            if settings.CELERY_TASK_ALWAYS_EAGER:
                deliver.apply(args=(delivery_id,))
            else:
                deliver.apply_async(args=(delivery_id,), eta=eta, retry=False)
            sent.append(delivery_id)
        except Exception as exc:  # the broker is unreachable: the sweep will dispatch it later
            logger.warning(
                "could not queue delivery %s (%s: %s); the sweep will retry",
                delivery_id,
                type(exc).__name__,
                exc,
            )
            break
    if sent and mark:
        Delivery.objects.filter(id__in=sent).update(dispatched_at=timezone.now())


def after_commit(ids: Iterable[int]) -> None:
    ids = list(ids)
    if ids:
        transaction.on_commit(lambda: _send_tasks(ids))


def after_ingest_commit(statement_pks: Iterable[int]) -> None:
    """Dispatch the deliveries of a stored batch with ONE broker message, whatever the number of
    targets: a worker's ``dispatch_batch`` task then queues one task per delivery. The rows were
    written with ``dispatched_at`` set. After commit the keys go to this process's publisher
    thread (``adapters.publisher``), so the request does not wait for the broker, and batches
    committed while a publish is under way share the next message."""
    pks = list(statement_pks)
    if not pks:
        return
    if settings.CELERY_TASK_ALWAYS_EAGER:
        transaction.on_commit(lambda: _send_tasks(pending_for_statements(pks)))
        return
    transaction.on_commit(lambda: _publisher().submit(pks))


def _publisher():
    return publisher(publish_dispatch, settings.LRS_DISPATCH_MIN_INTERVAL_MS / 1000)


def publish_dispatch(statement_pks: list[int]) -> None:
    """One ``dispatch_batch`` message for these statements. If the broker is unreachable, clear
    ``dispatched_at`` of their deliveries so the sweep dispatches them once it is back."""
    from adapters.models import Delivery
    from adapters.tasks import dispatch_batch

    try:
        dispatch_batch.apply_async(args=(statement_pks,), retry=False)
    except Exception as exc:
        logger.warning(
            "could not queue the deliveries of %d statements (%s: %s); the sweep will",
            len(statement_pks),
            type(exc).__name__,
            exc,
        )
        try:
            Delivery.objects.filter(statement_id__in=statement_pks, kind="deliver").update(dispatched_at=None)
        finally:
            if threading.current_thread() is not threading.main_thread():
                connection.close()  # the publisher thread's own connection: not left open


def flush_publisher(timeout: float = 10.0) -> bool:
    """Wait until this process's pending dispatch messages were published (tests, shutdown)."""
    return _publisher().flush(timeout)


def pending_for_statements(statement_pks: list[int]) -> list[int]:
    from adapters.models import Delivery

    return list(
        Delivery.objects.filter(statement_id__in=statement_pks, kind="deliver", status=Delivery.PENDING)
        .order_by("id")
        .values_list("id", flat=True)
    )


def later(delivery_id: int, at: datetime) -> None:
    """Queue a retry for ``at``. Without a broker, the sweep picks it up when due."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return
    transaction.on_commit(lambda: _send_tasks([delivery_id], eta=at))


def sweep_due(*, limit: int = 1000) -> int:
    """Dispatch what a worker should be running but may not be; returns how many.

    - due and never dispatched (the broker was down when it was created),
    - due for longer than the grace period (its queued task was lost or the worker is gone),
    - in flight past its claim (the worker died mid-send; the idempotency key makes the re-send harmless).
    Dispatching twice is harmless: ``delivery_claim`` lets only one task run a delivery.
    """
    from adapters.models import Delivery

    now = timezone.now()
    grace = 0 if settings.CELERY_TASK_ALWAYS_EAGER else REDISPATCH_GRACE_SECONDS
    due = Q(status__in=[Delivery.PENDING, Delivery.RETRYING], next_attempt_at__lte=now)
    never_dispatched = due & Q(dispatched_at__isnull=True)
    overdue = due & Q(next_attempt_at__lt=now - timedelta(seconds=grace))
    stuck = Q(status=Delivery.IN_FLIGHT, claimed_until__lt=now)
    ids = list(
        Delivery.objects.filter(never_dispatched | overdue | stuck)
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
    _send_tasks(ids)
    return len(ids)


def queue_each(statement_pks: list[int]) -> int:
    """In a worker: one ``deliver`` task per pending delivery of these statements (so deliveries
    run in parallel and retry independently)."""
    ids = pending_for_statements(statement_pks)
    _send_tasks(ids, mark=False)
    return len(ids)
