"""When a target may be sent to: a circuit breaker (pause and probe a failing target) and a shared rate limit.

After ``FAILURES_TO_PAUSE`` consecutive failed attempts a target is paused for
``PAUSE_SECONDS`` (doubling per further failure, up to ``MAX_PAUSE_SECONDS``);
when the pause ends one delivery probes it. A success closes the breaker.
The rate limit is a one-second window counter in the shared cache (Redis when a
broker is configured), so it holds across several workers.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db.models import F
from django.utils import timezone

from adapters.models import Target

FAILURES_TO_PAUSE = 5
PAUSE_SECONDS = 30
MAX_PAUSE_SECONDS = 15 * 60


def may_send(target: Target, now: datetime) -> bool:
    if target.paused_until is None or target.paused_until <= now:
        if target.paused_until is not None:
            # The pause is over: let exactly one delivery probe the target by pushing the
            # pause forward atomically; others wait until the probe has answered.
            probe = timedelta(seconds=PAUSE_SECONDS)
            won = Target.objects.filter(id=target.id, paused_until=target.paused_until).update(
                paused_until=now + probe
            )
            return bool(won)
        return True
    return False


def resume_at(target: Target, now: datetime) -> datetime:
    return max(target.paused_until or now, now)


def record_success(target: Target) -> None:
    if target.consecutive_failures or target.paused_until:
        Target.objects.filter(id=target.id).update(consecutive_failures=0, paused_until=None)


def record_failure(target: Target, *, disable: bool = False, reason: str = "") -> None:
    if disable:
        Target.objects.filter(id=target.id).update(
            enabled=False, disabled_reason=f"disabled automatically: {reason}"
        )
        return
    Target.objects.filter(id=target.id).update(consecutive_failures=F("consecutive_failures") + 1)
    failures = Target.objects.values_list("consecutive_failures", flat=True).get(id=target.id)
    if failures >= FAILURES_TO_PAUSE:
        pause = min(MAX_PAUSE_SECONDS, PAUSE_SECONDS * 2 ** (failures - FAILURES_TO_PAUSE))
        Target.objects.filter(id=target.id).update(paused_until=timezone.now() + timedelta(seconds=pause))


def rate_allows(target: Target) -> bool:
    limit = target.rate_limit_per_second
    if not limit:
        return True
    window = int(time.time())
    key = f"lrs:rate:{target.id}:{window}"
    cache.add(key, 0, timeout=5)
    try:
        used = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=5)
        used = 1
    return used <= max(1, int(limit))
