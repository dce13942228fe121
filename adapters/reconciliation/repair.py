"""Repairs, through the normal delivery path and its idempotency keys: a missing record is sent
again (its delivery re-queued, or created), an extra one of a statement we hold (voided: its
retraction never landed) is retracted, a different one is sent again with the statement's current
translation. A repaired target matches on the next run, so a second repair sends nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from adapters import correlation
from adapters.base import DELIVER, REPAIR_KEY_MARKER, RETRACT, Adapter, stored_again_of
from adapters.delivery import queue
from adapters.delivery.outbox import idempotency_key
from adapters.delivery.replay import deliveries_create, made_maybe
from adapters.models import Delivery, Target, deliveries_locked, delivery_ids_of

CHUNK = 500

if TYPE_CHECKING:
    from adapters.reconciliation.run import Mismatch


def repair_mismatches(
    target: Target, adapter: Adapter, mismatches: list[Mismatch], run_id: int, *, dry_run: bool = False
) -> int:
    """Queue the repairs; how many deliveries were queued. ``dry_run``: how many would be. The
    repair is done and rolled back, so the count is exactly what a repair queues; what it queues
    waits for a commit that never comes, so nothing is sent."""
    with transaction.atomic():
        queued = _repairs(target, adapter, mismatches, run_id)
        if dry_run:
            transaction.set_rollback(True)
    return queued


def _repairs(target: Target, adapter: Adapter, mismatches: list[Mismatch], run_id: int) -> int:
    if adapter.reconciles_records:
        return _rewrite_records(target, adapter, mismatches, run_id)
    # An extra record of a live statement (the target holds it twice) is replaced by one; an extra
    # one of a statement that should have none (voided) is retracted.
    resend = [
        m.statement_pk
        for m in mismatches
        if m.statement_pk and (m.kind in ("missing", "different") or (m.kind == "extra" and m.expected))
    ]
    retract = [m.statement_pk for m in mismatches if m.kind == "extra" and not m.expected and m.statement_pk]
    # A target read back is known to hold what it should not: the repair goes under a key of its
    # own (the adapter replaces, or looks for every copy: a PMS holding a voided statement twice).
    rekey = run_id if adapter.can_read_back else None
    return _resend(target, resend, rekey=rekey) + _retract(target, retract, rekey=rekey)


def _rewrite_records(target: Target, adapter: Adapter, mismatches: list[Mismatch], run_id: int) -> int:
    """A record-level target (the marketplace): forget what we believed it holds, then run again
    the delivery of a statement that recomputes the record (and of every other statement it
    names: each moved statement's delivery moves its own evidence), under a key of its own (a
    repeat of the earlier write's key would be dropped by the target as a replay, leaving the
    record wrong)."""
    ids: list[int] = []
    repaired = [
        (mismatch, mismatch.statement_pk) for mismatch in mismatches if mismatch.statement_pk is not None
    ]
    # The deliveries to run again locked first, by id, then the records: the one order
    # (``models.skills.skill_records_locked``), as retention deleting their statements takes them.
    pks = {pk for mismatch, first in repaired for pk in [first, *(mismatch.also_repair or ())]}
    deliveries_locked(Delivery.objects.filter(target=target, statement_id__in=pks))
    adapter.records_need_rewrite(target.id, [mismatch.key for mismatch, _ in repaired])
    for mismatch, statement_pk in repaired:
        ids += _run_again(target, mismatch.repair_kind or DELIVER, statement_pk, run_id)
        for other_pk in mismatch.also_repair or ():
            ids += _run_again(target, DELIVER, other_pk, run_id)
    ids = list(dict.fromkeys(ids))  # two records (the old member's, the new one's) name the same
    queue.after_commit(ids)
    return len(ids)


def _run_again(target: Target, kind: str, statement_pk: int, run_id: int) -> list[int]:
    """The statement's delivery of ``kind`` due again under the run's repair key (created when a
    delivery never was); nothing while a worker holds it or once it was cancelled on purpose
    (``NOT_REQUEUED``, as ``_requeue``)."""
    row = Delivery.objects.filter(target=target, kind=kind, statement_id=statement_pk).first()
    if row is None:
        return deliveries_create(statement_pks=[statement_pk], targets=[target]) if kind == DELIVER else []
    if row.status in NOT_REQUEUED:
        return []
    base = row.idempotency_key.split(REPAIR_KEY_MARKER)[0]
    now = timezone.now()
    # The status condition again in the UPDATE: a worker that claimed the row since it was read
    # keeps it (else a second worker sends it under the repair key while the first still sends it).
    changed = (
        Delivery.objects.filter(pk=row.pk)
        .exclude(status__in=NOT_REQUEUED)
        .update(
            status=Delivery.PENDING,
            maybe_applied=made_maybe(),
            next_attempt_at=now,
            idempotency_key=f"{base}{REPAIR_KEY_MARKER}{run_id}",
            last_error="re-sent by reconciliation: the target's record differed",
            updated_at=now,
        )
    )
    return [row.pk] if changed else []


# In flight: a worker holds it. Cancelled: an admin or a void stopped it on purpose.
NOT_REQUEUED = (Delivery.IN_FLIGHT, Delivery.CANCELLED)


def _requeue(rows, reason: str, rekey: int | None = None) -> list[int]:
    """Due again now; with ``rekey`` (a run id) under a repair key of their own."""
    ids = []
    now = timezone.now()
    for row_id, key in rows.exclude(status__in=NOT_REQUEUED).values_list("id", "idempotency_key"):
        fields = {
            "status": Delivery.PENDING,
            "maybe_applied": made_maybe(),
            "next_attempt_at": now,
            "last_error": reason,
            "updated_at": now,
        }
        if rekey is not None:
            fields["idempotency_key"] = f"{key.split(REPAIR_KEY_MARKER)[0]}{REPAIR_KEY_MARKER}{rekey}"
        # The status condition again in the UPDATE: a worker that claimed the row meanwhile keeps it.
        if Delivery.objects.filter(id=row_id).exclude(status__in=NOT_REQUEUED).update(**fields):
            ids.append(row_id)
    queue.after_commit(ids)
    return ids


def _resend(target: Target, statement_pks: list[int], *, rekey: int | None) -> int:
    """Send again what the target lost or holds differently. A target that was read back is known
    not to hold the right record, so the repair goes under a key of its own (the adapter replaces
    what is there); elsewhere the original key keeps a repeat harmless."""
    if not statement_pks:
        return 0
    rows = Delivery.objects.filter(target=target, kind=DELIVER, statement_id__in=statement_pks)
    have = set(rows.values_list("statement_id", flat=True))
    requeued = _requeue(rows, "sent again by reconciliation: the target did not hold it", rekey)
    created = deliveries_create(
        statement_pks=[pk for pk in statement_pks if pk not in have], targets=[target]
    )
    return len(requeued) + len(created)


def _retract(target: Target, statement_pks: list[int], *, rekey: int | None) -> int:
    if not statement_pks:
        return 0
    existing = Delivery.objects.filter(target=target, kind=RETRACT, statement_id__in=statement_pks)
    have = set(existing.values_list("statement_id", flat=True))
    requeued = _requeue(existing, "retracted again by reconciliation: the target still held it", rekey)
    originals = {
        row.statement_id: row
        for row in Delivery.objects.filter(target=target, kind=DELIVER, statement_id__in=statement_pks)
    }
    now = timezone.now()
    rows = [
        Delivery(
            target=target,
            statement_id=pk,
            statement_uuid=original.statement_uuid,
            kind=RETRACT,
            idempotency_key=idempotency_key(
                str(original.statement_uuid),
                target.name,
                RETRACT,
                stored_again_of(original.idempotency_key),  # undoes that delivery
            ),
            next_attempt_at=now,
            correlation_id=correlation.current(),
        )
        for pk, original in originals.items()
        if pk not in have
    ]
    if rows:
        Delivery.objects.bulk_create(rows, ignore_conflicts=True)
        queue.after_commit(delivery_ids_of(rows))
    return len(requeued) + len(rows)
