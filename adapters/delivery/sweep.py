"""The sweep (Celery beat, ``LRS_SWEEP_SECONDS``): dispatches what a worker should be running but
may not be, so a lost message, a broker outage or a dead worker delays deliveries but loses none."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from adapters.delivery import outbox, queue
from adapters.models import Delivery, OutboxBatch

logger = logging.getLogger(__name__)

# A delivery due this long ago but still not claimed is dispatched again by the sweep
# (its queued task was lost, e.g. the broker restarted without persistence).
REDISPATCH_GRACE_SECONDS = 60


def _expand_isolating_failures(batch_ids: list[int]) -> int:
    """``expand_and_queue`` chunk by chunk; a chunk that fails is tried again one batch at a
    time, so one batch that cannot be expanded (logged, tried again next sweep) holds up no other."""
    queued = 0
    for start in range(0, len(batch_ids), outbox.EXPAND_BATCHES_PER_TRANSACTION):
        chunk = batch_ids[start : start + outbox.EXPAND_BATCHES_PER_TRANSACTION]
        try:
            queued += outbox.expand_and_queue(chunk)
        except Exception:
            queued += sum(_expand_one_or_log(batch_id) for batch_id in chunk)
    return queued


def _expand_one_or_log(batch_id: int) -> int:
    try:
        return outbox.expand_and_queue([batch_id])
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
    queue.send_tasks(ids)
    return expanded + len(ids)
