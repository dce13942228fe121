"""Voiding reaches downstream: a voided statement's deliveries not yet sent are cancelled, those
that were made, or may have been (an attempt timed out after sending), are retracted (for adapters
that can retract), strictly after the original."""

from __future__ import annotations

from datetime import datetime

from django.db import connection
from django.utils import timezone

from adapters import correlation
from adapters.base import DELIVER, REPAIR_KEY_MARKER, RETRACT, Adapter, stored_again_of
from adapters.delivery import queue
from adapters.delivery.outbox import expand_batches_holding, idempotency_key
from adapters.models import Delivery, OutboxBatch, delivery_ids_of
from adapters.registry import adapter_class
from lrs.statements.bulk import execute_planned


def deliveries_for_voided(
    *,
    statement_pks: list[int],
    reason: str = "statement voided before delivery",
    retract_target_ids: set[int] | None = None,
) -> list[int]:
    """Voiding reaches downstream: cancel what was not sent yet, retract what was (at every
    target, or only at ``retract_target_ids``: an erasure asks per target); returns the ids of
    the retractions.

    Runs inside the transaction that stored the voiding statement. Outbox batches holding the
    voided statements are expanded first, here: their other statements' deliveries are queued
    after commit.
    """
    if _nothing_downstream(statement_pks):
        return []
    expanded = expand_batches_holding(statement_pks)
    now = timezone.now()
    originals = Delivery.objects.filter(statement_id__in=statement_pks, kind=DELIVER)
    # Cancel first, then read what to retract: a worker that claims a delivery meanwhile either
    # claimed it before (it is in flight now, and retracted below) or finds it cancelled (the
    # update holds its row lock until this transaction commits).
    cancel_unsent(statement_pks, reason)
    to_retract = [
        original
        for original in originals.select_related("target")
        if (retract_target_ids is None or original.target_id in retract_target_ids)
        and _needs_retraction(original, adapter_class(original.target.adapter))
    ]
    rows = [
        Delivery(
            target=original.target,
            statement_id=original.statement_id,
            statement_uuid=original.statement_uuid,
            kind=RETRACT,
            idempotency_key=idempotency_key(
                str(original.statement_uuid),
                original.target.name,
                RETRACT,
                stored_again_of(original.idempotency_key),  # undoes that delivery
            ),
            next_attempt_at=now,
            depends_on=original,
            correlation_id=correlation.current(),
        )
        for original in to_retract
    ]
    retractions: list[int] = []
    if rows:
        Delivery.objects.bulk_create(rows, ignore_conflicts=True)
        _spent_before_made_again(to_retract, now)
        retractions = delivery_ids_of(rows)
        queue.after_commit(retractions)
    if expanded:  # those not cancelled above, in one broker message whatever their number
        still_pending = Delivery.objects.filter(id__in=expanded, status=Delivery.PENDING)
        queue.after_commit_via_worker(list(still_pending.values_list("id", flat=True)))
    return retractions


def _spent_before_made_again(originals: list[Delivery], now: datetime) -> None:
    """Put back the retraction of each original that was spent before the original last took
    effect: a reconciliation repair retracted the live statement's effect (its learner named no
    one, the filter no longer took it) and a later repair made it again (the original delivered
    since, under a repair key). The row is the statement's one retraction at the target, so the
    void's insert above left it as it was; due again, under a key of its own (the repair's, when
    the original was made by one), it undoes what is there now (the original's key a repair's:
    ``original_uncertain``, every copy looked for). An original being made at this moment (in
    flight: a repair's re-send a worker holds) or whose attempt may have taken effect unseen
    (unknown) counts as made after any retraction delivered: it lands after it, and its
    ``delivered_at`` is still an earlier delivery's; the retraction put back waits for it. So does
    one whose attempt may have applied after the retraction without answering (a 500 after the
    PMS made the event): the void cancelled its retry, but the event is there."""
    made = {(o.statement_id, o.target_id): o for o in originals}
    if not made:
        return
    spent = Delivery.objects.filter(
        kind=RETRACT,
        status=Delivery.DELIVERED,
        statement_id__in={pk for pk, _target in made},
        target_id__in={target for _pk, target in made},
    )
    for row in spent:
        original = made.get((row.statement_id, row.target_id))
        if original is None or row.delivered_at is None or not _made_after(original, row.delivered_at):
            continue
        base = row.idempotency_key.split(REPAIR_KEY_MARKER)[0]
        again = original.idempotency_key.partition(REPAIR_KEY_MARKER)[2] or "void"
        Delivery.objects.filter(pk=row.pk, status=Delivery.DELIVERED).update(
            status=Delivery.PENDING,
            idempotency_key=f"{base}{REPAIR_KEY_MARKER}{again}",
            depends_on=original,
            next_attempt_at=now,
            last_error="the statement was voided after its effect was made again",
            updated_at=now,
        )


def _made_after(original: Delivery, spent_at: datetime) -> bool:
    """Whether the original took effect, or may have, after ``spent_at``: delivered since, being
    sent now or unknown (``MAKING``), or an attempt that may have applied ended since (its times
    unknown: taken as since, a retraction of nothing is harmless)."""
    if original.status in MAKING:
        return True
    if original.delivered_at is not None and original.delivered_at > spent_at:
        return True
    if not original.maybe_applied:
        return False
    spans = original.maybe_applied_between()
    return spans is None or any(end > spent_at for _start, end in spans)


# An original that may take effect after what was delivered before now: being sent, or sent and
# its outcome unknown (``_spent_before_made_again``).
MAKING = (Delivery.IN_FLIGHT, Delivery.UNKNOWN)


def cancel_unsent(statement_pks: list[int], reason: str) -> int:
    """Cancel the deliveries of these statements not made yet (pending, retrying, held); how many.
    An erasure runs it again when it finishes: a delivery of the person's that was in flight when
    it committed may be back since (its send failed, or the sweep took it from a worker stalled
    past its claim), and would reach the target after the erasure, after its ``actor.erased``."""
    unsent = [Delivery.PENDING, Delivery.RETRYING, Delivery.HELD]
    return Delivery.objects.filter(statement_id__in=statement_pks, kind=DELIVER, status__in=unsent).update(
        status=Delivery.CANCELLED, last_error=reason, held_key="", updated_at=timezone.now()
    )


def _nothing_downstream(statement_pks: list[int]) -> bool:
    """Whether these statements have no delivery and no outbox batch that may hold them (no
    target took them, or none was enabled): then voiding has nothing to cancel or retract.
    One SQL statement on PostgreSQL, the usual answer where a batch voids statements that went
    nowhere; the cancel, read and expansion below are some ORM queries whose Python cost was about
    a tenth of such a batch. Planned on every call (``execute_planned``): a generic plan made
    while the delivery table was small could stay a sequential scan of it."""
    if not statement_pks:
        return True
    if connection.vendor != "postgresql":
        return False  # the queries below decide
    row = execute_planned(
        f"SELECT NOT EXISTS (SELECT 1 FROM {Delivery._meta.db_table} "  # noqa: S608 (table names only)
        "WHERE statement_id = ANY(%b::bigint[]) AND kind = %s) "
        # The same candidates as expand_batches_holding: batches whose key range overlaps.
        f"AND NOT EXISTS (SELECT 1 FROM {OutboxBatch._meta.db_table} "
        "WHERE id <= %s AND last_statement_pk >= %s)",
        [statement_pks, DELIVER, max(statement_pks), min(statement_pks)],
    )
    return bool(row and row[0])


def _needs_retraction(original: Delivery, adapter: type[Adapter]) -> bool:
    """Whether voiding must send a retraction for this delivery of the voided statement: when
    the adapter can retract, and the delivery was made, is being made, or an attempt may have
    taken effect (a timeout after sending, a 5xx). An adapter whose target state is recomputed from the
    live evidence (``retraction_needs_original`` false) recomputes in every case."""
    if not adapter.supports_retraction:
        return False
    if not adapter.retraction_needs_original:
        return True
    return original.maybe_applied or original.status in (
        Delivery.DELIVERED,
        Delivery.IN_FLIGHT,
        Delivery.UNKNOWN,
    )
