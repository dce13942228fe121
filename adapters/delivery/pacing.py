"""When a target may be sent to: a circuit breaker with a half-open probe, and a shared rate limit.

Breaker: after ``FAILURES_TO_PAUSE`` consecutive failed attempts a target is paused for the probe
interval (``LRS_BREAKER_PROBE_SECONDS``, 10 s; a longer ``Retry-After`` from the target wins).
While it is paused nothing is sent, except one probe delivery each time the interval is over: the
pause lifts on the probe's success, and a failed probe pauses it one more interval. So a target
that comes back is seen within one interval, and a target that is down gets at most one request
per interval.

Rate limit: ``adapters.delivery.rate`` (send times booked from a schedule shared by all workers).

Concurrency: ``Target.concurrency`` caps the requests in flight to the target across all workers:
at most ``drain_slots`` drains work a target at once, each with ``sends_per_drain`` sends.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from adapters.models import Target

FAILURES_TO_PAUSE = 5
MAX_RETRY_AFTER_PAUSE_SECONDS = 3600

Gate = Literal["open", "probe", "closed"]


def probe_seconds() -> float:
    return float(settings.LRS_BREAKER_PROBE_SECONDS)


def gate(target: Target, now: datetime) -> Gate:
    """``open``: send freely; ``probe``: the pause is over, this caller may send ONE delivery
    (it won the probe: the pause was pushed forward atomically, so others keep waiting);
    ``closed``: paused, send nothing until ``resume_at``."""
    if target.paused_until is None:
        return "open"
    if target.paused_until > now:
        return "closed"
    won = Target.objects.filter(id=target.id, paused_until=target.paused_until).update(
        paused_until=now + timedelta(seconds=probe_seconds())
    )
    return "probe" if won else "closed"


def may_send(target: Target, now: datetime) -> bool:
    return gate(target, now) != "closed"


def resume_at(target: Target, now: datetime) -> datetime:
    """When a paused target may be tried again (the probe time)."""
    fresh = Target.objects.filter(id=target.id).values_list("paused_until", flat=True).first()
    return max(fresh or now, now)


def record_success(target: Target) -> bool:
    """A delivery reached the target: the breaker closes. True if it had been open."""
    if target.consecutive_failures or target.paused_until:
        closed = Target.objects.filter(id=target.id).update(consecutive_failures=0, paused_until=None)
        return bool(closed) and target.paused_until is not None
    return False


def record_failure(
    target: Target,
    *,
    disable: bool = False,
    reason: str = "",
    failures: int = 1,
    retry_after: float | None = None,
) -> None:
    """``failures`` attempts failed (and none succeeded): count them; pause the target once
    there are ``FAILURES_TO_PAUSE`` in a row (a failed probe pauses it again)."""
    if disable:
        Target.objects.filter(id=target.id).update(
            enabled=False, disabled_reason=f"disabled automatically: {reason}"
        )
        return
    Target.objects.filter(id=target.id).update(consecutive_failures=F("consecutive_failures") + failures)
    count = Target.objects.values_list("consecutive_failures", flat=True).get(id=target.id)
    if count >= FAILURES_TO_PAUSE:
        pause = max(probe_seconds(), min(retry_after or 0.0, MAX_RETRY_AFTER_PAUSE_SECONDS))
        Target.objects.filter(id=target.id).update(paused_until=timezone.now() + timedelta(seconds=pause))


def drain_slots(target: Target) -> int:
    """How many drains may work this target at once (``LRS_DRAIN_PARALLELISM``, fewer when its
    concurrency is smaller)."""
    return max(1, min(settings.LRS_DRAIN_PARALLELISM, target.concurrency))


def sends_per_drain(target: Target) -> int:
    """Requests one drain keeps in flight: the target's concurrency shared among its drains."""
    return max(1, target.concurrency // drain_slots(target))
