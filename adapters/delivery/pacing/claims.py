"""Whether a claimed batch may still send: a claim (``Delivery.claimed_until``, sized by
``adapters.delivery.drain.claim_seconds``) is a lease. Once it has passed, the sweep may put its
deliveries back and others act on them (another worker's send, the retraction that must come
strictly after it, an admin's cancel, an erasure), so a worker starts no send that could not end
before its claim does, and what it did send past it is dropped unwritten
(``adapters.delivery.outcomes._write``), as a killed worker's outcome is never written."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import OperationalError, transaction
from django.utils import timezone

from adapters.base import Adapter
from adapters.models import Delivery, Target

if TYPE_CHECKING:
    from adapters.delivery.pacing import Schedule

logger = logging.getLogger(__name__)

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


def renew(deliveries: list[Delivery], room: float, *, began: datetime) -> bool:
    """Lengthen the claim of a batch run one delivery after another (``Adapter.sequential``: each
    a send of several requests, so a slow target's batch outlasts a claim sized for concurrent
    sends) before a send it could no longer cover; whether it was renewed. Only while the claim
    has not passed, and only rows still in flight under it (locked, so the sweep's UPDATE waits and
    then finds them claimed on): a claim the sweep may have taken stays lost, and ``turn`` sends
    nothing more under it. The same new end in memory and in the database, to the microsecond:
    ``outcomes._write`` compares them. Only for ``LRS_DELIVERY_CLAIM_SECONDS`` after the batch
    ``began``: the drain slot it holds lives twice that and a minute (``queue.slot_seconds``), so a
    batch outliving it would let another drain of the target in; its tail is released instead."""
    # The soonest claim still running: one a renewal left behind (a delivery lost to another
    # claim) has passed before the others need renewing again, and must not stand for theirs.
    now = timezone.now()
    claim = min((end for end in ends(deliveries) if end > now), default=None)
    if claim is None or not passed(claim, room):
        return False
    if now >= began + timedelta(seconds=settings.LRS_DELIVERY_CLAIM_SECONDS):
        return False
    ids = [delivery.id for delivery in deliveries if delivery.claimed_until == claim]
    until = timezone.now() + timedelta(seconds=max(settings.LRS_DELIVERY_CLAIM_SECONDS, 2 * room))
    try:
        mine = _renewed(ids, claim, until)
    except OperationalError:  # a deadlock with the sweep, as the claim passes: not renewed
        logger.warning("claim of %d deliveries not renewed", len(ids), exc_info=True)
        return False
    for delivery in deliveries:
        if delivery.id in mine:
            delivery.claimed_until = until
    return bool(mine)


def _renewed(ids: list[int], claim: datetime, until: datetime) -> set[int]:
    with transaction.atomic():
        mine = set(
            Delivery.objects.select_for_update()
            .order_by("id")
            .filter(
                id__in=ids, status=Delivery.IN_FLIGHT, claimed_until=claim, claimed_until__gt=timezone.now()
            )
            .values_list("id", flat=True)
        )
        Delivery.objects.filter(id__in=mine).update(claimed_until=until)
    return mine


def covers(deliveries: list[Delivery], delivery: Delivery, seconds: float, *, began: datetime) -> bool:
    """Whether ``delivery``'s claim covers a send of ``seconds``, the batch's claim renewed if
    need be (``renew``): ``DeliveryContext.room_for``, for a send whose size its adapter knows
    only once it has planned it (the marketplace: four requests per record it changes)."""
    if not passed(delivery.claimed_until, seconds):
        return True
    renew(deliveries, seconds, began=began)
    return not passed(delivery.claimed_until, seconds)


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
