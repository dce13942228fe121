"""Celery tasks: thin, ids only, the work is in the services of this package (Django-Styleguide:
Celery is just another interface to the core logic). The top of the package: the modules below
queue these tasks by name (``adapters.delivery.queue``), never by importing this one."""

from __future__ import annotations

from celery import shared_task

from adapters.delivery import drain as draining
from adapters.delivery import outbox, queue
from adapters.delivery.sweep import sweep_due, sweep_void_late


@shared_task(name=queue.DRAIN_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def drain(target_id: int, slot: int | None = None) -> int:
    """Deliver a target's due deliveries in batches. Late ack: a worker killed mid-batch leaves
    the message to run again; its claimed deliveries come back when their claim runs out."""
    return draining.drain(target_id, slot)


@shared_task(name=queue.DELIVER_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver(delivery_id: int) -> str | None:
    """Send one delivery (messages of an earlier version; the admin's retry). Late ack."""
    return draining.delivery_send(delivery_id)


@shared_task(name=queue.SWEEP_TASK, ignore_result=True)
def sweep() -> int:
    """Periodic (Celery beat): void what a voiding statement stored at the same moment missed,
    expand forgotten outbox batches, put stuck deliveries back, drain targets with due work and
    no drain."""
    sweep_void_late()
    return sweep_due()


@shared_task(name=queue.DISPATCH_BATCH_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def dispatch_batch(batch_ids: list[int]) -> int:
    """The outbox batches of stored statements, handed over in one message: write their
    deliveries and ask for a drain of their targets. A batch already expanded (by the sweep, by voiding, by a
    re-run of this task) is gone, so this is harmless to repeat. Gives way to a burst of ingest
    (``pacing.ingest_first``)."""
    return outbox.expand_and_queue(batch_ids, yielding=True)


@shared_task(name=queue.QUEUE_DELIVERIES_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def queue_deliveries(delivery_ids: list[int]) -> int:
    """Deliveries handed over in one message by an earlier version: drain their targets."""
    return queue.queue_each(delivery_ids)
