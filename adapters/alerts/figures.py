"""A target's current figures, one per alert rule (None: nothing to judge yet).

Every read is bounded whatever the volume, and goes through an index: the alert evaluation runs
every minute for every target, and at the drain rates of issue 14 a day holds tens of millions of
deliveries (kept for good unless retention says otherwise). A day's figures (success, held share)
cover the last 24 h, or, when the target delivered more than ``DAY_SAMPLE`` in it, the time since
the ``DAY_SAMPLE``-th latest delivery: the delivered rows are read newest first through their
index (``delivery_delivered``), the others, the work in hand and the dead letters, through theirs
(``delivery_due``, ``delivery_dead``), never the whole table (which counting by ``updated_at`` or
``created_at``, neither indexed, did).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Min, Q

from adapters.models import Delivery, ReconciliationRun, Target
from adapters.ops.selectors import delivery_lags, percentile

DAY_SAMPLE = 10_000
# Every status but delivered and dead: read through delivery_due, whose condition they imply.
_NEITHER_DELIVERED_NOR_DEAD = [
    status for status, _label in Delivery.STATUSES if status not in {Delivery.DELIVERED, Delivery.DEAD}
]


def day_window(target: Target, now: datetime) -> tuple[datetime, int]:
    """When the window of the day's figures begins, and how many deliveries the target delivered
    in it: the last 24 h, or from its ``DAY_SAMPLE``-th latest delivery if it made more."""
    day = now - timedelta(days=1)
    latest = (
        Delivery.objects.filter(target=target, status=Delivery.DELIVERED, delivered_at__gte=day)
        .order_by("-delivered_at")
        .values("delivered_at")[:DAY_SAMPLE]
    )
    found = latest.aggregate(delivered=Count("delivered_at"), oldest=Min("delivered_at"))
    if found["delivered"] < DAY_SAMPLE:
        return day, found["delivered"]
    return found["oldest"], found["delivered"]


def target_figures(target: Target, now: datetime) -> dict[str, float | None]:
    """``paused`` is 1.0 while the breaker is open: ``paused_until`` is set from the pause until a
    probe succeeds, also between probes and on a target with nothing to probe with (the minutes
    are counted from the alert's ``breaching_since``), else 0.0."""
    since, delivered = day_window(target, now)
    dead = Delivery.objects.filter(target=target, status=Delivery.DEAD, updated_at__gte=since).count()
    judged = delivered + dead
    # Created in the window: the delivered ones are counted by when they were delivered.
    others = Delivery.objects.filter(
        target=target, status__in=_NEITHER_DELIVERED_NOR_DEAD, created_at__gte=since
    ).aggregate(all=Count("id"), held=Count("id", filter=Q(status=Delivery.HELD)))
    created = delivered + dead + others["all"]
    last_run = (
        ReconciliationRun.objects.filter(target=target, finished_at__isnull=False, error="")
        .order_by("-finished_at")
        .values_list("drift_percent", flat=True)
        .first()
    )
    lags = delivery_lags(target=target, window=timedelta(hours=1))
    return {
        "drift": last_run,
        "success": 100.0 * delivered / judged if judged >= settings.LRS_ALERT_MIN_DELIVERIES else None,
        "lag_p95": percentile(lags, 0.95) if lags else None,
        "held_share": 100.0 * others["held"] / created if created else None,
        "dead_letters": float(
            Delivery.objects.filter(
                target=target, status=Delivery.DEAD, updated_at__gte=now - timedelta(hours=1)
            ).count()
        ),
        "paused": 1.0 if target.paused_until is not None else 0.0,
    }
