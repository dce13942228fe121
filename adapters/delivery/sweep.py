"""The sweep (Celery beat, ``LRS_SWEEP_SECONDS``): makes sure what is due gets a drain, so a lost
message, a broker outage or a dead worker delays deliveries but loses none.

It re-dispatches only what is really stuck: outbox batches no worker took (never handed over, or
past the grace period), deliveries left in flight past their claim (their worker died), and a
target with due deliveries and no drain queued or running for it (``queue.request_drain`` knows
by the drain slots). Deliveries merely waiting behind a backlog already have their drain: the
sweep adds no message for them, however large the backlog.

It also voids what voiding missed: a statement and its voiding statement stored at the same moment
each look for the other before it committed, and the statement is left live (Data 2.3.2 wants it
voided whichever came first). Voiding statements of the last ``VOID_LATE_WINDOW_SECONDS`` are
checked again (``lrs.statements.store.void_late_targets``); their targets' deliveries are then
cancelled or retracted as for any voiding.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from adapters.delivery import outbox, queue
from adapters.delivery.drain import has_due
from adapters.models import Attempt, Delivery, OutboxBatch, Target
from lrs.statements.store import void_late_targets

logger = logging.getLogger(__name__)

# Transactions last seconds; voiding statements this recent are checked against their targets again.
VOID_LATE_WINDOW_SECONDS = 600

# An outbox batch not expanded this long after it was stored is expanded by the sweep (its
# dispatch message was lost, e.g. the broker restarted without persistence).
REDISPATCH_GRACE_SECONDS = 60

STOPPED_MID_SEND = "its worker stopped mid-send (the claim ran out): it may have taken effect"


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
    """Expand forgotten outbox batches, put deliveries stuck in flight back, and request a drain
    for each target with due work; returns how many deliveries it expanded or put back."""
    now = timezone.now()
    grace = 0 if settings.CELERY_TASK_ALWAYS_EAGER else REDISPATCH_GRACE_SECONDS
    forgotten = Q(dispatched_at__isnull=True) | Q(created_at__lt=now - timedelta(seconds=grace))
    unexpanded = list(
        OutboxBatch.objects.filter(forgotten).order_by("id").values_list("id", flat=True)[:limit]
    )
    expanded = _expand_isolating_failures(unexpanded)
    put_back = _put_back_stuck(now)
    for target_id in Target.objects.values_list("id", flat=True):
        if has_due(target_id):
            queue.request_drain(target_id, after_commit=False)
    return expanded + put_back


def _put_back_stuck(now) -> int:
    """Put back the deliveries still in flight past their claim: their worker died mid-send,
    perhaps after sending (``maybe_applied``). Each stopped attempt is recorded as the one that may
    have taken effect it is, from its claim (the claim wrote ``updated_at``, and nothing after it
    does while in flight) to the claim's end, past which no send of it starts or runs
    (``pacing.claims``): a retry that looks for its effect looks in that time
    (``Delivery.maybe_applied_between``), not back through all since the delivery was created."""
    with transaction.atomic():
        stuck = Delivery.objects.filter(status=Delivery.IN_FLIGHT, claimed_until__lt=now)
        rows = list(
            stuck.select_for_update(skip_locked=True).values_list(
                "id", "attempts", "updated_at", "claimed_until"
            )
        )
        Attempt.objects.bulk_create(
            [
                Attempt(
                    delivery_id=delivery_id,
                    number=number,
                    started_at=claimed,
                    duration_ms=max(0, int((until - claimed).total_seconds() * 1000)),
                    outcome=Attempt.RETRY,
                    error=STOPPED_MID_SEND,
                    maybe_applied=True,
                )
                for delivery_id, number, claimed, until in rows
            ],
            batch_size=1000,
        )
        return Delivery.objects.filter(id__in=[row[0] for row in rows]).update(
            status=Delivery.RETRYING,
            claimed_until=None,
            next_attempt_at=now,
            maybe_applied=True,
            updated_at=now,
        )


def sweep_void_late() -> int:
    """Void the statements recent voiding statements name that are still live; how many."""
    since = timezone.now() - timedelta(seconds=VOID_LATE_WINDOW_SECONDS)
    return len(void_late_targets(stored_since=since))
