"""The outbox: delivery rows for the statements targets take, and retractions for voided ones.

Flow (DESIGN.md): ``lrs`` sends ``statements_storing`` inside its storing transaction; the
receiver returns the batch's outbox entry (``outbox_rows_at_ingest``), which the LRS writes in the
same INSERT (or COPY) as the statements. After commit a worker expands it into one ``Delivery``
per (statement, matching target) and queues them (``outbox_expand``). Backfill and replay create
deliveries for stored statements (``deliveries_create``); voiding cancels or retracts
(``deliveries_for_voided``). Sending is ``adapters.services``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from adapters import correlation, dispatch, targets_file
from adapters.base import DELIVER, RETRACT
from adapters.filters import statement_matches
from adapters.models import Delivery, OutboxBatch, Target
from adapters.registry import adapter_class
from lrs.bulk import CompanionRows
from lrs.selectors import statements_by_pk, statements_keyed_by_pk


def idempotency_key(statement_uuid: str, target_name: str, kind: str) -> str:
    return f"{statement_uuid}:{target_name}:{kind}"


_targets_cache: tuple[float, list[Target]] | None = None


def enabled_targets() -> list[Target]:
    """The enabled targets, cached per process for LRS_TARGETS_CACHE_SECONDS (ingest asks on
    every batch); a target saved in this process is seen at once (see ``forget_targets``)."""
    global _targets_cache
    targets_file.ensure_loaded()
    ttl = settings.LRS_TARGETS_CACHE_SECONDS
    now = time.monotonic()
    if ttl > 0 and _targets_cache is not None and _targets_cache[0] > now:
        return _targets_cache[1]
    targets = list(Target.objects.filter(enabled=True))
    if ttl > 0:
        _targets_cache = (now + ttl, targets)
    return targets


def forget_targets() -> None:
    global _targets_cache
    _targets_cache = None


def _matches(
    statements: Iterable[tuple[int, dict]], targets: list[Target]
) -> Iterator[tuple[int, dict, Target]]:
    for pk, statement in statements:
        for target in targets:
            if statement_matches(statement, target.filter):
                yield pk, statement, target


def outbox_rows_at_ingest(*, statement_pks: list[int], statements: list[dict]) -> list[CompanionRows]:
    """The outbox entry of a batch being stored: ONE ``OutboxBatch`` row naming its statements
    that enabled targets take, written by the LRS in the same INSERT (or COPY) as the statements
    (``lrs.signals.statements_storing``), so it commits or rolls back with them.

    One row per batch, whatever the number of statements and targets: ingest cost does not grow
    with the targets (DESIGN.md). A worker expands it into one ``Delivery`` per (statement,
    matching target) right after commit (``outbox_expand``, from one broker message sent off the
    request thread: ``dispatch.after_ingest_commit``); the sweep expands what no worker did.
    ``statements`` are the statements as stored, in memory: the filter needs only verb, result
    and object, and a batch no target takes writes nothing.
    """
    targets = enabled_targets()
    if not targets or not statement_pks:
        return []
    taken: list[int] = []
    target_ids: set[int] = set()
    for pk, statement in zip(statement_pks, statements, strict=True):
        wanted = [target.id for target in targets if statement_matches(statement, target.filter)]
        if wanted:
            taken.append(pk)
            target_ids.update(wanted)
    if not taken:
        return []
    batch_id = min(taken)
    dispatch.after_ingest_commit([batch_id])
    now = timezone.now()
    constants = {"correlation_id": correlation.current(), "created_at": now, "dispatched_at": now}
    columns = ("id", "statement_pks", "last_statement_pk", "target_ids")
    row = (batch_id, taken, max(taken), sorted(target_ids))
    return [CompanionRows(OutboxBatch, columns, [row], constants)]


def outbox_expand(batch_ids: Iterable[int]) -> list[int]:
    """Write the deliveries of these outbox batches and delete them; returns the ids of the
    pending deliveries of their statements, ready to be queued.

    Idempotent and safe to run concurrently: a batch another transaction is expanding is skipped
    (``SKIP LOCKED``), one already expanded is gone, and a delivery that exists already (say, from
    a backfill) is left alone (the unique key statement + target + kind).
    """
    with transaction.atomic():
        batches = list(_locked(OutboxBatch.objects.filter(id__in=list(batch_ids)), skip_locked=True))
        expanded = _expand(batches)
    return dispatch.pending_for_statements(expanded) if expanded else []


def _locked(batches: QuerySet[OutboxBatch], *, skip_locked: bool = False) -> QuerySet[OutboxBatch]:
    if not connection.features.has_select_for_update:  # SQLite: writers take turns anyway
        return batches.order_by("id")
    return batches.select_for_update(skip_locked=skip_locked).order_by("id")


def _expand(batches: list[OutboxBatch]) -> list[int]:
    """Delivery rows for the statements of these (locked) batches, which are then deleted;
    returns the keys of their statements. Statements are read through the LRS query layer."""
    if not batches:
        return []
    targets = Target.objects.in_bulk({target_id for batch in batches for target_id in batch.target_ids})
    statement_pks = [pk for batch in batches for pk in batch.statement_pks]
    statements = statements_keyed_by_pk(statement_pks)
    now = timezone.now()
    rows = []
    for batch in batches:
        batch_targets = [targets[target_id] for target_id in batch.target_ids if target_id in targets]
        present = [(pk, statements[pk]) for pk in batch.statement_pks if pk in statements]
        rows += [
            Delivery(
                target=target,
                statement_id=pk,
                statement_uuid=statement["id"],
                kind=DELIVER,
                idempotency_key=idempotency_key(statement["id"], target.name, DELIVER),
                next_attempt_at=now,
                dispatched_at=now,
                correlation_id=batch.correlation_id,
            )
            for pk, statement, target in _matches(present, batch_targets)
        ]
    Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    OutboxBatch.objects.filter(id__in=[batch.id for batch in batches]).delete()
    return statement_pks


def _expand_batches_holding(statement_pks: list[int]) -> list[int]:
    """Expand, in the current transaction, the outbox batches that hold any of these statements;
    returns the keys of all their statements.

    Voiding runs this first, so it always finds the deliveries it must cancel or retract. It
    waits for a worker expanding one of them to commit (the batch is then gone and its rows are
    there); a worker never waits for voiding (it skips locked batches), so they cannot deadlock.
    """
    wanted = set(statement_pks)
    if not wanted:
        return []
    candidates = OutboxBatch.objects.filter(id__lte=max(wanted), last_statement_pk__gte=min(wanted))
    batches = [batch for batch in _locked(candidates) if wanted.intersection(batch.statement_pks)]
    return _expand(batches)


def deliveries_create(*, statement_pks: list[int], targets: Iterable[Target] | None = None) -> list[int]:
    """Outbox rows for every (stored statement, matching target), e.g. a backfill; returns the
    ids of the new rows and dispatches them after commit.

    Statements are read through the LRS query layer. Existing rows (same statement,
    target and kind) are left alone, so calling this twice is harmless.
    """
    targets = list(targets) if targets is not None else enabled_targets()
    if not targets or not statement_pks:
        return []
    now = timezone.now()
    correlation_id = correlation.current()
    rows = [
        Delivery(
            target=target,
            statement_id=pk,
            statement_uuid=statement["id"],
            kind=DELIVER,
            idempotency_key=idempotency_key(statement["id"], target.name, DELIVER),
            next_attempt_at=now,
            correlation_id=correlation_id,
        )
        for pk, statement, target in _matches(
            zip(statement_pks, statements_by_pk(statement_pks), strict=True), targets
        )
    ]
    if not rows:
        return []
    created = Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    ids = [row.id for row in created if row.id is not None]
    if not ids:  # ignore_conflicts gives no ids on some backends: look them up
        ids = _ids_of(rows)
    dispatch.after_commit(ids)
    return ids


def _ids_of(rows: list[Delivery]) -> list[int]:
    """Ids of these (statement, target, kind) rows, whether just created or already there."""
    wanted = {(row.statement_id, row.target_id, row.kind) for row in rows}
    candidates = Delivery.objects.filter(
        statement_id__in={row.statement_id for row in rows},
        target_id__in={row.target_id for row in rows},
        kind__in={row.kind for row in rows},
    ).values_list("id", "statement_id", "target_id", "kind")
    return [pk for pk, *triple in candidates if tuple(triple) in wanted]


def deliveries_for_voided(*, statement_pks: list[int]) -> None:
    """Voiding reaches downstream: cancel what was not sent yet, retract what was.

    Runs inside the transaction that stored the voiding statement. Outbox batches holding the
    voided statements are expanded first, here: their other statements' deliveries are queued
    after commit.
    """
    expanded = _expand_batches_holding(statement_pks)
    now = timezone.now()
    open_deliveries = Delivery.objects.filter(statement_id__in=statement_pks, kind=DELIVER)
    open_deliveries.filter(status__in=[Delivery.PENDING, Delivery.RETRYING, Delivery.HELD]).update(
        status=Delivery.CANCELLED, last_error="statement voided before delivery", updated_at=now
    )
    to_retract = list(
        Delivery.objects.filter(
            statement_id__in=statement_pks, kind=DELIVER, status__in=[Delivery.DELIVERED, Delivery.IN_FLIGHT]
        ).select_related("target")
    )
    rows = [
        Delivery(
            target=original.target,
            statement_id=original.statement_id,
            statement_uuid=original.statement_uuid,
            kind=RETRACT,
            idempotency_key=idempotency_key(str(original.statement_uuid), original.target.name, RETRACT),
            next_attempt_at=now,
            depends_on=original,
            correlation_id=correlation.current(),
        )
        for original in to_retract
        if adapter_class(original.target.adapter).supports_retraction
    ]
    if rows:
        Delivery.objects.bulk_create(rows, ignore_conflicts=True)
        dispatch.after_commit(_ids_of(rows))
    voided = set(statement_pks)
    others = [pk for pk in expanded if pk not in voided]
    if others:
        dispatch.after_commit(dispatch.pending_for_statements(others))
