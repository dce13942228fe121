"""Handing deliveries to workers: after commit, by id, never losing one.

``after_commit`` queues one Celery task per delivery once the storing
transaction commits (a task must never see a row that does not exist yet). If
the broker is down, the error is logged and the rows stay due: the periodic
sweep (``adapters.delivery.sweep``) dispatches them when it is back, so a broker outage delays
deliveries but loses none. With no broker configured (the quickstart), tasks run
in-process right after commit.

Tasks are named here and looked up in the Celery app by name: ``adapters.delivery.tasks``
defines them on top of everything else in this package, and nothing below it imports it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from adapters.models import Delivery

logger = logging.getLogger(__name__)

DELIVER_TASK = "adapters.deliver"
QUEUE_DELIVERIES_TASK = "adapters.queue_deliveries"
DISPATCH_BATCH_TASK = "adapters.dispatch_batch"
SWEEP_TASK = "adapters.sweep"


def task(name: str) -> Any:
    """The registered Celery task of this name (``adapters.delivery.tasks`` registers them)."""
    return current_app.tasks[name]


def send_tasks(ids: list[int], *, eta: datetime | None = None, mark: bool = True) -> None:
    deliver = task(DELIVER_TASK)
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
        transaction.on_commit(lambda: send_tasks(ids))


def after_commit_via_worker(ids: Iterable[int]) -> None:
    """Like ``after_commit`` for many deliveries: one broker message, after which a worker
    queues one task each (``tasks.queue_deliveries``), so a request never publishes hundreds.
    The rows must have ``dispatched_at`` set: if this message is lost, the sweep re-dispatches
    them once overdue."""
    ids = list(ids)
    if not ids:
        return
    if settings.CELERY_TASK_ALWAYS_EAGER:
        transaction.on_commit(lambda: send_tasks(ids, mark=False))
        return

    def publish() -> None:
        try:
            task(QUEUE_DELIVERIES_TASK).apply_async(args=(ids,), retry=False)
        except Exception as exc:  # the rows are due: the sweep dispatches them
            logger.warning(
                "could not queue %d deliveries (%s: %s); the sweep will", len(ids), type(exc).__name__, exc
            )

    transaction.on_commit(publish)


def queue_each(delivery_ids: list[int]) -> int:
    """In a worker: one ``deliver`` task per delivery (they run in parallel, retry apart)."""
    send_tasks(delivery_ids, mark=False)
    return len(delivery_ids)


def later(delivery_id: int, at: datetime) -> None:
    """Queue a retry for ``at``. Without a broker, the sweep picks it up when due."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return
    transaction.on_commit(lambda: send_tasks([delivery_id], eta=at))
