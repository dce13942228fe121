"""Whether a claimed batch may still send: a claim (``Delivery.claimed_until``, sized by
``adapters.delivery.drain.claim_seconds``) is a lease. Once it has passed, the sweep may put its
deliveries back and others act on them (another worker's send, the retraction that must come
strictly after it, an admin's cancel, an erasure), so a worker starts no send that could not end
before its claim does, and what it did send past it is dropped unwritten
(``adapters.delivery.outcomes._write``), as a killed worker's outcome is never written."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.utils import timezone

from adapters.base import Adapter
from adapters.models import Delivery, Target

if TYPE_CHECKING:
    from adapters.delivery.pacing import Schedule

CLAIM_PASSED = (
    "the claim runs out before this request could end (the worker stalled, or its batch ran long); not sent"
)


def ends(deliveries: list[Delivery]) -> list[datetime]:
    """When the deliveries' claims run out (all one time for a batch claimed together)."""
    return [delivery.claimed_until for delivery in deliveries if delivery.claimed_until is not None]


def passed(claim: datetime | None, room: float) -> bool:
    """Whether a send that may take ``room`` seconds would outlast the claim: one started just
    before its end would still be out when the sweep puts the delivery back, and its outcome,
    dropped (``outcomes._write``), sent again by another worker."""
    return claim is not None and timezone.now() + timedelta(seconds=room) >= claim


def turn(schedule: Schedule, claim: datetime | None, room: float) -> bool:
    """Wait for the send's slot of the rate limit (``schedule``); whether it may go out. No slot is
    booked for a send its claim cannot cover (the slot is the target's other sends' to take), and
    one whose claim ran short while it waited is not sent either."""
    if passed(claim, room):
        return False
    schedule.wait_for_turn()
    return not passed(claim, room)


def send_seconds(target: Target, adapter: Adapter) -> float:
    """How long one send to the target may take: its requests (``requests_per_send``) each up to
    the target's timeout; ``drain.claim_seconds`` sizes claims so that every send ends in time."""
    config = target.config if isinstance(target.config, dict) else {}
    return request_timeout(target) * type(adapter).requests_per_send(config)


def split_deadline(target: Target, deliveries: list[Delivery]) -> float:
    """Until when (``time.monotonic``) a refused array may be split and sent again: a request
    started by then ends, at the target's timeout, before the batch's claim runs out."""
    claims = ends(deliveries)
    if not claims:
        return float("inf")
    left = (min(claims) - timezone.now()).total_seconds()
    return time.monotonic() + left - 2 * request_timeout(target) - 1


def request_timeout(target: Target) -> float:
    """The seconds one request to the target may take (its ``timeout_seconds``, 10 by default)."""
    return float(target.config.get("timeout_seconds", 10)) if isinstance(target.config, dict) else 10.0
