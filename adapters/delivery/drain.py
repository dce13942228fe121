"""Draining a target: claim its due deliveries in batches (one ``UPDATE ... RETURNING`` with
``FOR UPDATE SKIP LOCKED``, so drains never take the same delivery), run each batch
(``adapters.delivery.batch``: statements in one query, requests sent concurrently), write the
outcomes in bulk, and go on until nothing is due or the drain's time is up
(``LRS_DRAIN_SECONDS``; then a fresh message carries on, so one target never holds a worker
process for long).

A batch respects the target's pacing (``adapters.delivery.pacing``): nothing while its breaker is
open but one probe per interval, at most what its rate limit allows this second. A full batch
recruits another drain for the target (up to ``LRS_DRAIN_PARALLELISM``), so a backlog is worked
by every worker process; an empty claim ends the drain, which then looks once more for work that
arrived while it was finishing (``queue.request_drain`` would have found its slot taken).

After each batch a drain gives way to a burst of ingest when the CPU is contended
(``pacing.ingest_first``); ``delivery_send`` does not.

``delivery_send`` runs one delivery by id the same way (a batch of one): the ``deliver`` task,
the admin's *retry now*, tests.
"""

from __future__ import annotations

import functools
import math
import time
from datetime import datetime, timedelta
from typing import Literal

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from adapters.delivery import arrays, batch, outcomes, pacing, queue
from adapters.delivery.pacing import claims, ingest_first
from adapters.models import Delivery, Target
from adapters.registry import adapter_class
from adapters.rules.retry import RetryPolicy
from lrs.statements.erasure import forget_people_if_erased

OPEN = (Delivery.PENDING, Delivery.RETRYING)
IDLE: Literal["idle"] = "idle"
WAITING: Literal["waiting"] = "waiting"


def claim_seconds(target: Target, size: int, requests: int | None = None) -> int:
    """How long a claimed batch is ours (no other worker re-runs it meanwhile): at least
    ``LRS_DELIVERY_CLAIM_SECONDS``, and longer than sending the batch can take (rounds of
    ``pacing.sends_per_drain`` sends, each of up to ``requests_per_send`` requests of the target's
    timeout, no faster than its rate limit, whose schedule may be booked
    ``pacing.HORIZON_SECONDS`` ahead). A claim that ran out while a send was still being made
    would let the sweep hand the delivery to another worker, which could make it a second time."""
    timeout = claims.request_timeout(target)
    if requests is None:  # a batched target's arrays carry several (``arrays.requests_needed``)
        requests = math.ceil(size / _per_request(target))
    rounds = math.ceil(requests / pacing.sends_per_drain(target))
    spaced = requests * pacing.spacing(target) + pacing.HORIZON_SECONDS
    per_send = adapter_class(target.adapter).requests_per_send(_config(target))
    return max(settings.LRS_DELIVERY_CLAIM_SECONDS, math.ceil(rounds * timeout * per_send + spaced))


def _config(target: Target) -> dict:
    return target.config if isinstance(target.config, dict) else {}


def _per_request(target: Target) -> int:
    """Deliveries one request to the target may carry (a webhook's ``batch_size``)."""
    return adapter_class(target.adapter).items_per_request(_config(target))


def claim_due(target: Target, limit: int, *, probe: bool = False) -> list[Delivery]:
    """Take up to ``limit`` due deliveries of the target, oldest due first, for this worker.
    ``probe``: the breaker's probe takes the earliest open delivery even if its retry is not due
    yet (deliveries back off while their target is down; the probe must not wait for them)."""
    if limit <= 0:
        return []
    now = timezone.now()
    until = now + timedelta(seconds=claim_seconds(target, limit))
    horizon = now + timedelta(days=36500) if probe else now
    with transaction.atomic():  # one commit, the shortened claim included
        claimed = _claim(target, limit, now=now, until=until, horizon=horizon)
    if not claimed:
        return []
    _attach_originals(claimed)
    return sorted(claimed, key=lambda delivery: (delivery.next_attempt_at, delivery.id))


def _claim(
    target: Target, limit: int, *, now: datetime, until: datetime, horizon: datetime
) -> list[Delivery]:
    if connection.vendor == "postgresql":
        # The claimed rows come back whole from the UPDATE: reading them again by id cost a
        # second query, and Django's join for ``depends_on`` planned as a hash join over the
        # whole delivery table (a sequential scan per batch, the drain's costliest query).
        table = connection.ops.quote_name(Delivery._meta.db_table)
        returning, times = _returning_columns()
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET status = %s, claimed_until = %s, attempts = attempts + 1, "  # noqa: S608
                f"updated_at = %s WHERE id IN (SELECT id FROM {table} WHERE target_id = %s "
                f"AND status IN (%s, %s) AND next_attempt_at <= %s ORDER BY next_attempt_at "
                f"LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING {returning}",
                [Delivery.IN_FLIGHT, until, now, target.id, *OPEN, horizon, limit],
            )
            names = [field.attname for field in Delivery._meta.concrete_fields]
            claimed = [
                Delivery.from_db(connection.alias, names, _with_times(row, times))
                for row in cursor.fetchall()
            ]
    else:  # SQLite: one writer at a time, so select then claim what is still due
        due = Delivery.objects.filter(target=target, status__in=OPEN, next_attempt_at__lte=horizon)
        ids = list(due.order_by("next_attempt_at").values_list("id", flat=True)[:limit])
        Delivery.objects.filter(id__in=ids, status__in=OPEN).update(
            status=Delivery.IN_FLIGHT, claimed_until=until, attempts=F("attempts") + 1, updated_at=now
        )
        claimed = list(Delivery.objects.filter(id__in=ids))
    # Fewer than the limit need less time; deliveries that failed before travel in smaller arrays
    # (a batched target), so more requests may need more.
    requests = arrays.requests_needed(
        arrays.array_sizes(_per_request(target), claimed, outcomes.retry_policy(target), now)
    )
    needed = now + timedelta(seconds=claim_seconds(target, len(claimed), requests))
    if claimed and needed != until:
        Delivery.objects.filter(id__in=[delivery.id for delivery in claimed]).update(claimed_until=needed)
        for delivery in claimed:
            delivery.claimed_until = needed
    return claimed


@functools.cache
def _returning_columns() -> tuple[str, tuple[int, ...]]:
    """The claim's RETURNING list (every column of a delivery) and the positions of its times.

    The times come back as their JSON text (ISO 8601 whatever the session's ``DateStyle``) and
    are read with ``datetime.fromisoformat``: Django's loader for ``timestamptz`` is a Python
    subclass of psycopg's, which parsed the five times of each claimed row at about a tenth of a
    drained batch's CPU."""
    quote = connection.ops.quote_name
    parts, times = [], []
    for index, field in enumerate(Delivery._meta.concrete_fields):
        if field.get_internal_type() == "DateTimeField":
            parts.append(f"to_json({quote(field.column)}) #>> '{{}}'")
            times.append(index)
        else:
            parts.append(quote(field.column))
    return ", ".join(parts), tuple(times)


def _with_times(row: tuple, times: tuple[int, ...]) -> list:
    values = list(row)
    for index in times:
        if values[index] is not None:
            values[index] = datetime.fromisoformat(values[index])
    return values


def _attach_originals(deliveries: list[Delivery]) -> None:
    """Load the originals of the retractions among them (``depends_on``) in one query, if any."""
    wanted = {delivery.depends_on_id for delivery in deliveries if delivery.depends_on_id is not None}
    if not wanted:
        return
    originals = Delivery.objects.in_bulk(wanted)
    for delivery in deliveries:
        if delivery.depends_on_id is not None:
            delivery.depends_on = originals.get(delivery.depends_on_id)


def has_due(target_id: int) -> bool:
    upcoming = next_due_at(target_id)
    return upcoming is not None and upcoming <= timezone.now()


def next_due_at(target_id: int) -> datetime | None:
    """When the target's next open delivery comes due (in the past when one is due now)."""
    due = Delivery.objects.filter(target_id=target_id, status__in=OPEN).order_by("next_attempt_at")
    return due.values_list("next_attempt_at", flat=True).first()


def drain(target_id: int, slot: int | None = None) -> int:
    """Deliver the target's due deliveries, batch by batch; returns how many were claimed.
    ``slot``: the drain slot this message holds (``queue.request_drain`` took it); None for a
    wake-up, which takes a free slot or leaves the work to the drain that holds one."""
    if slot is None:
        cache.delete(queue.wake_key(target_id))  # this is the wake-up: later retries get their own
        slot = _take_free_slot(target_id)
        if slot is None:
            return 0
    deadline = time.monotonic() + settings.LRS_DRAIN_SECONDS
    done = 0
    try:
        while time.monotonic() < deadline:
            target = Target.objects.filter(id=target_id).first()
            if target is None:
                return done
            if slot >= pacing.drain_slots(target):
                # Fewer drains than slots for this target (its concurrency is small): move to a
                # usable slot, or leave the work to the drains that hold them all.
                cache.delete(queue.slot_key(target_id, slot))
                slot = _take_free_slot(target_id, pacing.drain_slots(target))
                if slot is None:
                    return done
            cache.touch(queue.slot_key(target_id, slot), queue.slot_seconds())
            claimed = _one_batch(target)
            if claimed == WAITING:
                return done  # the wake-up for when it may send again is armed
            if claimed == IDLE:
                break
            done += claimed
        else:  # out of time with work left: a fresh message carries on in this slot
            if queue.publish(queue.DRAIN_TASK, (target_id, slot)):
                slot = None
            return done
    finally:
        if slot is not None:
            cache.delete(queue.slot_key(target_id, slot))
    # Work that arrived while this drain was finishing, or the next retry: the wake-up a busy
    # worker ran too early for it, or that its own failures scheduled, must not wait for the sweep.
    upcoming = next_due_at(target_id)
    if upcoming is not None:
        queue.request_drain(target_id, at=upcoming, after_commit=False)
    return done


def _take_free_slot(target_id: int, slots: int | None = None) -> int | None:
    for slot in range(slots or settings.LRS_DRAIN_PARALLELISM):
        if cache.add(queue.slot_key(target_id, slot), 1, timeout=queue.slot_seconds()):
            return slot
    return None


def _one_batch(target: Target) -> int | Literal["idle", "waiting"]:
    """Claim, run and record one batch; the number claimed, or why the drain should stop:
    ``IDLE`` (nothing due) or ``WAITING`` (the target paused, or its rate-limit schedule booked
    up for now: a wake-up is armed for when it may send, and a drain before then would spin)."""
    began = time.monotonic()
    forget_people_if_erased()  # what this process remembers of learners (lrs.statements.erasure)
    now = timezone.now()
    gate = pacing.gate(target, now)
    if gate == "closed":
        queue.request_drain(target.id, at=pacing.resume_at(target, now), after_commit=False)
        return WAITING
    ahead = pacing.booked_ahead(target)
    if ahead > pacing.HORIZON_SECONDS:  # other drains booked the next sends: come back for later ones
        queue.request_drain(target.id, at=now + timedelta(seconds=ahead), after_commit=False)
        return WAITING
    wanted = (
        1 if gate == "probe" else pacing.batch_size(target, settings.LRS_DRAIN_BATCH, _per_request(target))
    )
    deliveries = claim_due(target, wanted, probe=gate == "probe")
    if not deliveries:
        return IDLE
    if gate == "open" and len(deliveries) == settings.LRS_DRAIN_BATCH and pacing.drain_slots(target) > 1:
        queue.request_drain(target.id, after_commit=False)  # a backlog: another worker process joins in
    timing = batch.Timing()
    outcomes.persist(target, batch.run(target, deliveries, schedule=pacing.per_send(target), timing=timing))
    # Give way to a burst of ingest for the time this batch asked of this host and the database
    # (not the time its sends were out to the target).
    ingest_first.yield_after(time.monotonic() - began - timing.sending, "drain")
    return len(deliveries)


# -- one delivery by id (the deliver task, the admin's retry now) --------------------------


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
    forget_people_if_erased()  # what this process remembers of learners (lrs.statements.erasure)
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
    elif (ahead := pacing.booked_ahead(target)) > pacing.HORIZON_SECONDS:
        outcome = outcomes.released(delivery, at=now + timedelta(seconds=ahead), reason="rate limited")
    else:
        [outcome] = batch.run(target, [delivery], policy, schedule=pacing.per_send(target))
    outcomes.persist(target, [outcome])
    return outcome.status
