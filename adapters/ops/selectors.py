"""Reads for admin and metrics: target health, delivery lag."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from adapters.models import Attempt, Delivery, Target

LAG_WINDOW = timedelta(hours=1)
# How many deliveries a lag figure reads at most: the latest of its window. A bounded read whatever
# the volume: at the drain rates of issue 14 an hour holds millions of deliveries, which the
# alert evaluation (every minute, per target) and the admin's target list read into Python.
LAG_SAMPLE = 10_000
FAILED_OUTCOMES = [outcome for outcome, _label in Attempt.OUTCOMES if outcome != Attempt.SUCCESS]


@dataclass
class TargetHealth:
    pending: int
    retrying: int
    dead: int
    delivered_last_hour: int
    last_error: str
    lag_p50_seconds: float | None
    lag_p95_seconds: float | None


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def delivery_lags(
    *, target: Target | None = None, window: timedelta = LAG_WINDOW, sample: int = LAG_SAMPLE
) -> list[float]:
    """Seconds from a statement's ``stored`` to its delivery, for the latest ``sample`` deliveries
    made within ``window`` (all of them when there are fewer). Read newest first through the
    delivered rows' index (``delivery_delivered``), so the read stops after ``sample`` rows."""
    rows = Delivery.objects.filter(
        status=Delivery.DELIVERED, kind="deliver", delivered_at__gte=timezone.now() - window
    )
    if target is not None:
        rows = rows.filter(target=target)
    return [
        max(0.0, (delivered_at - stored).total_seconds())
        for delivered_at, stored in rows.order_by("-delivered_at").values_list(
            "delivered_at", "statement__stored"
        )[:sample]
    ]


def target_health(target: Target) -> TargetHealth:
    """Counts through indexes that stay small: open rows by status (``delivery_due``), dead and
    recently delivered ones by the partial indexes; none of them walks a target's history."""
    since = timezone.now() - LAG_WINDOW
    mine = Delivery.objects.filter(target=target)
    open_counts = dict(
        mine.filter(status__in=[Delivery.PENDING, Delivery.IN_FLIGHT, Delivery.RETRYING])
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = {
        "pending": open_counts.get(Delivery.PENDING, 0) + open_counts.get(Delivery.IN_FLIGHT, 0),
        "retrying": open_counts.get(Delivery.RETRYING, 0),
        "dead": mine.filter(status=Delivery.DEAD).count(),
        "delivered": mine.filter(status=Delivery.DELIVERED, delivered_at__gte=since).count(),
    }
    last_failure = (
        # The failed outcomes named (not "not success"): read through attempt_outcome_time, only
        # the failed attempts, never the history of successful ones (nearly all of them).
        Attempt.objects.filter(delivery__target=target, outcome__in=FAILED_OUTCOMES)
        .order_by("-started_at")
        .first()
    )
    lags = delivery_lags(target=target)
    return TargetHealth(
        pending=counts["pending"],
        retrying=counts["retrying"],
        dead=counts["dead"],
        delivered_last_hour=counts["delivered"],
        last_error=last_failure.error if last_failure else "",
        lag_p50_seconds=percentile(lags, 0.5),
        lag_p95_seconds=percentile(lags, 0.95),
    )
