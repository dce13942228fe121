"""A target's current figures, one per alert rule (None: nothing to judge yet)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q

from adapters.models import Delivery, ReconciliationRun, Target
from adapters.ops.selectors import delivery_lags, percentile


def target_figures(target: Target, now: datetime) -> dict[str, float | None]:
    """``paused`` is 1.0 while the breaker is open: ``paused_until`` is set from the pause until a
    probe succeeds, also between probes and on a target with nothing to probe with (the minutes
    are counted from the alert's ``breaching_since``), else 0.0."""
    day = now - timedelta(days=1)
    finished = Delivery.objects.filter(target=target, updated_at__gte=day).aggregate(
        delivered=Count("id", filter=Q(status=Delivery.DELIVERED)),
        dead=Count("id", filter=Q(status=Delivery.DEAD)),
    )
    judged = finished["delivered"] + finished["dead"]
    created = Delivery.objects.filter(target=target, created_at__gte=day).aggregate(
        all=Count("id"), held=Count("id", filter=Q(status=Delivery.HELD))
    )
    last_run = (
        ReconciliationRun.objects.filter(target=target, finished_at__isnull=False, error="")
        .order_by("-finished_at")
        .values_list("drift_percent", flat=True)
        .first()
    )
    lags = delivery_lags(target=target, window=timedelta(hours=1))
    return {
        "drift": last_run,
        "success": (
            100.0 * finished["delivered"] / judged if judged >= settings.LRS_ALERT_MIN_DELIVERIES else None
        ),
        "lag_p95": percentile(lags, 0.95) if lags else None,
        "held_share": 100.0 * created["held"] / created["all"] if created["all"] else None,
        "dead_letters": float(
            Delivery.objects.filter(
                target=target, status=Delivery.DEAD, updated_at__gte=now - timedelta(hours=1)
            ).count()
        ),
        "paused": 1.0 if target.paused_until is not None else 0.0,
    }
