"""A target's current figures, one per alert rule (None: nothing to judge yet).

The evaluation runs every minute for every target, and at the drain rates of issue 14 a day holds
tens of millions of deliveries (kept for good unless retention says otherwise), so no read walks
the history: each goes through a partial index, target first where it has one. A day's figures
(success, held share) cover the last 24 h or, when the target delivered more than ``DAY_SAMPLE``
in it, the time since its ``DAY_SAMPLE``-th latest delivery. Delivered rows are read through
``delivery_delivered`` (target, delivered_at), dead letters through ``delivery_dead`` (target,
updated_at), the work in hand and held rows through ``delivery_due`` (status first). Counting by
``updated_at`` and ``created_at``, neither indexed, read the whole table.

What stays proportional to something other than the window: the held rows and the work in hand
(all targets', by status), which are what an operator has to act on anyway.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q

from adapters.models import Delivery, ReconciliationRun, Target
from adapters.ops.selectors import delivery_lags, percentile

DAY_SAMPLE = 10_000
# Created in the window and not finished: the work in hand and the held rows (through
# delivery_due, by status). Cancelled rows are left out: they are history, kept for good.
_UNFINISHED = [*Delivery.OPEN, Delivery.UNKNOWN, Delivery.HELD]


def day_window(target: Target, now: datetime) -> tuple[datetime, int]:
    """When the window of the day's figures begins, and how many deliveries the target delivered
    in it: the last 24 h, or from its ``DAY_SAMPLE``-th latest delivery if it made more. A drain
    batch's deliveries share one ``delivered_at``: every one at the window's first instant counts."""
    day = now - timedelta(days=1)
    delivered = Delivery.objects.filter(target=target, status=Delivery.DELIVERED, delivered_at__gte=day)
    edge = list(
        delivered.order_by("-delivered_at").values_list("delivered_at", flat=True)[
            DAY_SAMPLE - 1 : DAY_SAMPLE + 1
        ]
    )
    since = edge[0] if len(edge) == 2 else day
    return since, delivered.filter(delivered_at__gte=since).count()


def target_figures(target: Target, now: datetime) -> dict[str, float | None]:
    """``paused`` is 1.0 while the breaker is open: ``paused_until`` is set from the pause until a
    probe succeeds, also between probes and on a target with nothing to probe with (the minutes
    are counted from the alert's ``breaching_since``), else 0.0."""
    since, delivered = day_window(target, now)
    dead = Delivery.objects.filter(target=target, status=Delivery.DEAD, updated_at__gte=since).count()
    judged = delivered + dead
    # Created in the window: the delivered ones are counted by when they were delivered.
    others = Delivery.objects.filter(target=target, status__in=_UNFINISHED, created_at__gte=since).aggregate(
        all=Count("id"), held=Count("id", filter=Q(status=Delivery.HELD))
    )
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
