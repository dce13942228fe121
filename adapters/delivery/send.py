"""Sending one delivery by id (the ``deliver`` task, the admin's *retry now*, tests): claim it,
run it as a batch of one through the same code a drain uses (``adapters.delivery.batch``), and
write the outcome. A drain (``adapters.delivery.drain``) is how workers normally send.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import F, Q
from django.utils import timezone

from adapters.delivery import batch, outcomes, pacing
from adapters.delivery.drain import OPEN, claim_seconds
from adapters.delivery.outcomes import retry_policy
from adapters.delivery.retry import RetryPolicy
from adapters.models import Delivery

__all__ = ["delivery_claim", "delivery_send", "retry_policy"]


def delivery_claim(delivery_id: int) -> Delivery | None:
    """Take a due delivery for this worker, atomically: a duplicate task finds nothing to do."""
    now = timezone.now()
    delivery = Delivery.objects.select_related("target").filter(id=delivery_id).first()
    if delivery is None:
        return None
    until = now + timedelta(seconds=claim_seconds(delivery.target, 1))
    due = Q(status__in=OPEN, next_attempt_at__lte=now)
    claimed = Delivery.objects.filter(due, id=delivery_id).update(
        status=Delivery.IN_FLIGHT, claimed_until=until, attempts=F("attempts") + 1, updated_at=now
    )
    if not claimed:
        return None
    return Delivery.objects.select_related("target", "depends_on").get(id=delivery_id)


def delivery_send(delivery_id: int, *, policy: RetryPolicy | None = None) -> str | None:
    """Run one delivery attempt; returns the resulting status (None when there was nothing to do)."""
    delivery = delivery_claim(delivery_id)
    if delivery is None:
        return None
    target = delivery.target
    now = timezone.now()
    gate = pacing.gate(target, now) if target.enabled else "open"
    if gate == "closed":
        outcome = outcomes.released(
            delivery, at=pacing.resume_at(target, now), reason="target paused after repeated failures"
        )
    elif not pacing.rate_allows(target):
        outcome = outcomes.released(delivery, at=now + timedelta(seconds=1), reason="rate limited")
    else:
        [outcome] = batch.run(target, [delivery], policy)
    outcomes.persist(target, [outcome])
    return outcome.status
