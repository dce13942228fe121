"""Celery tasks: thin, ids only, the work is in the services of this package (Django-Styleguide:
Celery is just another interface to the core logic). The top of the package: the modules below
queue these tasks by name (``adapters.delivery.queue``), never by importing this one."""

from __future__ import annotations

from celery import shared_task

from adapters.delivery import outbox, queue, send
from adapters.delivery.sweep import sweep_due


@shared_task(name=queue.DELIVER_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver(delivery_id: int) -> str | None:
    """Send one delivery. Late ack: a worker killed mid-send leaves the task to run again."""
    return send.delivery_send(delivery_id)


@shared_task(name=queue.SWEEP_TASK, ignore_result=True)
def sweep() -> int:
    """Periodic (Celery beat): expand forgotten outbox batches; dispatch due, never-dispatched
    and stuck deliveries."""
    return sweep_due()


@shared_task(name=queue.DISPATCH_BATCH_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def dispatch_batch(batch_ids: list[int]) -> int:
    """The outbox batches of stored statements, handed over in one message: write their
    deliveries and queue one task each. A batch already expanded (by the sweep, by voiding, by a
    re-run of this task) is gone, so this is harmless to repeat."""
    return outbox.expand_and_queue(batch_ids)


@shared_task(name=queue.QUEUE_DELIVERIES_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def queue_deliveries(delivery_ids: list[int]) -> int:
    """Many deliveries handed over in one message (e.g. a batch voiding expanded): queue one
    task each. Repeating it is harmless: only one task can claim a delivery."""
    return queue.queue_each(delivery_ids)
