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


def after_commit_via_worker(ids: Iterable[int]) -> None:
    """Like ``after_commit`` for many deliveries: one broker message, after which a worker
    queues one task each (``tasks.queue_deliveries``), so a request never publishes hundreds.
    The rows must have ``dispatched_at`` set: if this message is lost, the sweep re-dispatches
    them once overdue."""
    ids = list(ids)
    if not ids:
        return
    if settings.CELERY_TASK_ALWAYS_EAGER:
        transaction.on_commit(lambda: _send_tasks(ids, mark=False))
        return

    def publish() -> None:
        from adapters.tasks import queue_deliveries

        try:
            queue_deliveries.apply_async(args=(ids,), retry=False)
        except Exception as exc:  # the rows are due: the sweep dispatches them
            logger.warning(
                "could not queue %d deliveries (%s: %s); the sweep will", len(ids), type(exc).__name__, exc
            )

    transaction.on_commit(publish)


def queue_each(delivery_ids: list[int]) -> int:
    """In a worker: one ``deliver`` task per delivery (they run in parallel, retry apart)."""
    _send_tasks(delivery_ids, mark=False)
    return len(delivery_ids)


def after_ingest_commit(batch_ids: Iterable[int]) -> None:
    """Hand the outbox batches of a stored transaction to a worker with ONE broker message,
    whatever the number of statements and targets: its ``dispatch_batch`` task writes their
    deliveries (``outbox.outbox_expand``) and queues one task each. After commit the ids go to
    this process's publisher thread (``adapters.publisher``), so the request does not wait for
    the broker, and batches committed while a publish is under way share the next message.
    Without a broker (the quickstart) the batches are expanded and sent in-process."""
    ids = list(batch_ids)
    if not ids:
        return
    if settings.CELERY_TASK_ALWAYS_EAGER:
        # robust: the statements are committed whatever happens here (an error is logged and
        # the batch stays for the sweep); the request must not fail after its statements stored.
        transaction.on_commit(lambda: expand_and_queue(ids), robust=True)
        return
    transaction.on_commit(lambda: _publisher().submit(ids))


def _publisher():
    return publisher(publish_dispatch, settings.LRS_DISPATCH_MIN_INTERVAL_MS / 1000)


def publish_dispatch(batch_ids: list[int]) -> None:
    """One ``dispatch_batch`` message for these outbox batches. If the broker is unreachable,
    clear their ``dispatched_at`` so the sweep expands them once it is back."""
    from adapters.models import OutboxBatch
    from adapters.tasks import dispatch_batch

    try:
        dispatch_batch.apply_async(args=(batch_ids,), retry=False)
    except Exception as exc:
        logger.warning(
            "could not queue %d outbox batches (%s: %s); the sweep will",
            len(batch_ids),
            type(exc).__name__,
            exc,
        )
        try:
            OutboxBatch.objects.filter(id__in=batch_ids).update(dispatched_at=None)
        finally:
            if threading.current_thread() is not threading.main_thread():
                connection.close()  # the publisher thread's own connection: not left open


def flush_publisher(timeout: float = 10.0) -> bool:
    """Wait until this process's pending dispatch messages were published (tests, shutdown)."""
    return _publisher().flush(timeout)


# Outbox batches expanded per transaction: each batch was one storing transaction, so this
# bounds the expansion's (a sweep after a long broker outage may find thousands of batches).
EXPAND_BATCHES_PER_TRANSACTION = 10


def expand_and_queue(batch_ids: list[int]) -> int:
    """Write the deliveries of these outbox batches, then one ``deliver`` task per new delivery
    (so deliveries run in parallel and retry independently); returns how many."""
    from adapters.outbox import outbox_expand

    queued = 0
    for start in range(0, len(batch_ids), EXPAND_BATCHES_PER_TRANSACTION):
        ids = outbox_expand(batch_ids[start : start + EXPAND_BATCHES_PER_TRANSACTION])
        _send_tasks(ids, mark=False)
        queued += len(ids)
    return queued


def later(delivery_id: int, at: datetime) -> None:
    """Queue a retry for ``at``. Without a broker, the sweep picks it up when due."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return
    transaction.on_commit(lambda: _send_tasks([delivery_id], eta=at))


def _expand_isolating_failures(batch_ids: list[int]) -> int:
    """``expand_and_queue`` chunk by chunk; a chunk that fails is tried again one batch at a
    time, so one batch that cannot be expanded (logged, tried again next sweep) holds up no other."""
    queued = 0
    for start in range(0, len(batch_ids), EXPAND_BATCHES_PER_TRANSACTION):
        chunk = batch_ids[start : start + EXPAND_BATCHES_PER_TRANSACTION]
        try:
            queued += expand_and_queue(chunk)
        except Exception:
            queued += sum(_expand_one_or_log(batch_id) for batch_id in chunk)
    return queued


def _expand_one_or_log(batch_id: int) -> int:
    try:
        return expand_and_queue([batch_id])
    except Exception:
        logger.exception("could not expand outbox batch %s; the next sweep tries again", batch_id)
        return 0


def sweep_due(*, limit: int = 1000) -> int:
    """Dispatch what a worker should be running but may not be; returns how many deliveries.

    - outbox batches never handed to a worker (the broker was down) or not expanded within the
      grace period (the message or the web process was lost): expanded here, their deliveries queued,
    - due and never dispatched (the broker was down when it was created),
    - due for longer than the grace period (its queued task was lost or the worker is gone),
    - in flight past its claim (the worker died mid-send; the idempotency key makes the re-send harmless).
    Dispatching twice is harmless: ``delivery_claim`` lets only one task run a delivery.
    """
    from adapters.models import Delivery, OutboxBatch

    now = timezone.now()
    grace = 0 if settings.CELERY_TASK_ALWAYS_EAGER else REDISPATCH_GRACE_SECONDS
    forgotten = Q(dispatched_at__isnull=True) | Q(created_at__lt=now - timedelta(seconds=grace))
    unexpanded = list(
        OutboxBatch.objects.filter(forgotten).order_by("id").values_list("id", flat=True)[:limit]
    )
    expanded = _expand_isolating_failures(unexpanded)
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
    return expanded + len(ids)
