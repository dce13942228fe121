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
from dataclasses import dataclass
from typing import Any

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from adapters import correlation, dispatch, targets_file
from adapters.base import DELIVER, RETRACT
from adapters.filters import statement_matches
from adapters.models import Delivery, OutboxBatch, Target
from adapters.registry import adapter_class
from lrs.statements.bulk import CompanionRows, insert_new_rows
from lrs.statements.selectors import statements_by_pk, statements_keyed_by_pk


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
    (``lrs.statements.signals.statements_storing``), so it commits or rolls back with them.

    One row per batch, whatever the number of statements and targets: ingest cost does not grow
    with the targets (DESIGN.md). A worker expands it into one ``Delivery`` per (statement,
    matching target) right after commit (``outbox_expand``, from one broker message sent off the
    request thread: ``dispatch.after_ingest_commit``, from the rows' ``after_write`` hook); the
    sweep expands what no worker did.
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
    now = timezone.now()
    constants = {"correlation_id": correlation.current(), "created_at": now, "dispatched_at": now}
    columns = ("id", "statement_pks", "last_statement_pk", "target_ids")
    row = (batch_id, taken, max(taken), sorted(target_ids))
    # Once written: hand the batch to a worker after commit (the LRS may still fall back to
    # another way of writing, so not before).
    return [
        CompanionRows(
            OutboxBatch,
            columns,
            [row],
            constants,
            after_write=lambda: dispatch.after_ingest_commit([batch_id]),
        )
    ]


def outbox_expand(batch_ids: Iterable[int]) -> list[int]:
    """Write the deliveries of these outbox batches and delete them; returns the ids of the
    new deliveries, ready to be queued.

    Idempotent and safe to run concurrently: a batch another transaction is expanding is skipped
    (``SKIP LOCKED``), one already expanded is gone, and a delivery that exists already (say, from
    a backfill, which queued it) is left alone (the unique key statement + target + kind).
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Voiding waits for a batch a worker holds. Should the worker's host freeze mid-way (no
            # clean kill), PostgreSQL ends this session after this long idle in the transaction,
            # rolling the claim back, instead of after TCP keepalive's two hours.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL idle_in_transaction_session_timeout = %s", [WORKER_IDLE_LIMIT])
        return _expand(_claim(list(batch_ids), skip_locked=True))


# How long an expanding worker may sit idle inside its transaction (it never should: the
# transaction is a few queries back to back).
WORKER_IDLE_LIMIT = "10s"


@dataclass(frozen=True)
class _Batch:
    id: int
    statement_pks: list[int]
    target_ids: list[int]
    correlation_id: str


def _claim(batch_ids: list[int], *, skip_locked: bool) -> list[_Batch]:
    """Delete these batches and return them. The DELETE's row lock holds off any other
    transaction expanding the same batch until this one commits; the batch is then gone. With
    ``skip_locked``, batches another transaction holds are left to it."""
    if not batch_ids:
        return []
    if connection.vendor != "postgresql":  # SQLite: writers take turns anyway
        found = OutboxBatch.objects.filter(id__in=batch_ids).order_by("id")
        rows = list(found.values_list("id", "statement_pks", "target_ids", "correlation_id"))
        found.delete()
        return [_Batch(*row) for row in rows]
    table = connection.ops.quote_name(OutboxBatch._meta.db_table)
    lock = "FOR UPDATE SKIP LOCKED" if skip_locked else "FOR UPDATE"
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE id = ANY(%s) "  # noqa: S608
            f"ORDER BY id {lock}) RETURNING id, statement_pks, target_ids, correlation_id",
            [batch_ids],
        )
        rows = cursor.fetchall()
    return [_Batch(pk, _json(pks), _json(targets), correlation) for pk, pks, targets, correlation in rows]


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value  # Django reads jsonb as text


def _targets_by_id(target_ids: set[int]) -> dict[int, Target]:
    known = {target.id: target for target in enabled_targets() if target.id in target_ids}
    missing = target_ids - known.keys()  # disabled since the batch was stored, or not cached yet
    return {**known, **Target.objects.in_bulk(missing)} if missing else known


_DELIVERY_COLUMNS = ("target_id", "statement_id", "statement_uuid", "idempotency_key", "correlation_id")


def _expand(batches: list[_Batch]) -> list[int]:
    """Delivery rows for the statements of these claimed batches; returns the ids of the rows
    written. Statements are read through the LRS query layer; each target's filter is applied
    as it stands now."""
    if not batches:
        return []
    targets = _targets_by_id({target_id for batch in batches for target_id in batch.target_ids})
    statement_pks = [pk for batch in batches for pk in batch.statement_pks]
    statements = statements_keyed_by_pk(statement_pks)
    rows = []
    for batch in batches:
        batch_targets = [targets[target_id] for target_id in batch.target_ids if target_id in targets]
        present = [(pk, statements[pk]) for pk in batch.statement_pks if pk in statements]
        rows += [
            (
                target.id,
                pk,
                statement["id"],
                idempotency_key(statement["id"], target.name, DELIVER),
                batch.correlation_id,
            )
            for pk, statement, target in _matches(present, batch_targets)
        ]
    # Unique-key order, as in ``deliveries_create``: two inserts that meet on the unique key
    # (statement, target, kind) then wait for each other in the same order and cannot deadlock.
    rows.sort(key=lambda row: (row[1], row[0]))
    now = timezone.now()
    constants = {
        "kind": DELIVER,
        "status": Delivery.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "dispatched_at": now,
        "last_error": "",
        "held_key": "",
        "created_at": now,
        "updated_at": now,
    }
    if connection.vendor == "postgresql":
        return insert_new_rows(Delivery, _DELIVERY_COLUMNS, rows, constants)
    # SQLite runs one writer at a time: leave out what exists, and bulk_create returns the ids.
    existing = set(
        Delivery.objects.filter(statement_id__in=statement_pks, kind=DELIVER).values_list(
            "target_id", "statement_id"
        )
    )
    fresh = [
        Delivery(**dict(zip(_DELIVERY_COLUMNS, row, strict=True)), **constants)
        for row in rows
        if (row[0], row[1]) not in existing
    ]
    return [delivery.id for delivery in Delivery.objects.bulk_create(fresh)]


def _expand_batches_holding(statement_pks: list[int]) -> list[int]:
    """Expand, in the current transaction, the outbox batches that hold any of these statements;
    returns the ids of the deliveries written.

    Voiding runs this first, so it always finds the deliveries it must cancel or retract. It
    waits for a worker expanding one of them to commit (the batch is then gone and its rows are
    there); a worker never waits for voiding (it skips locked batches), so they cannot deadlock.
    """
    wanted = set(statement_pks)
    if not wanted:
        return []
    candidates = OutboxBatch.objects.filter(id__lte=max(wanted), last_statement_pk__gte=min(wanted))
    holding = [pk for pk, pks in candidates.values_list("id", "statement_pks") if wanted.intersection(pks)]
    return _expand(_claim(holding, skip_locked=False))


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
    rows.sort(key=lambda row: (row.statement_id, row.target_id))  # unique-key order: see _expand
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
    if expanded:  # those not cancelled above, in one broker message whatever their number
        still_pending = Delivery.objects.filter(id__in=expanded, status=Delivery.PENDING)
        dispatch.after_commit_via_worker(list(still_pending.values_list("id", flat=True)))
