"""The outbox: the entry a stored batch leaves for the fan-out, and its expansion into delivery rows.

Flow (DESIGN.md): ``lrs`` sends ``statements_storing`` inside its storing transaction; the
receiver returns the batch's outbox entry (``outbox_rows_at_ingest``), which the LRS writes in the
same INSERT (or COPY) as the statements. After commit the batch is handed to a worker
(``after_ingest_commit``), which expands it into one ``Delivery`` per (statement, matching
target) and queues them (``outbox_expand``, ``expand_and_queue``). Backfill and replay create
deliveries for stored statements (``adapters.delivery.replay``); voiding cancels or retracts
(``adapters.delivery.voiding``). Sending is ``adapters.delivery.send``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from adapters import correlation
from adapters.base import DELIVER, STORED_AGAIN
from adapters.delivery import queue
from adapters.delivery.pacing import ingest_first
from adapters.delivery.queue import Publisher, publisher
from adapters.models import Delivery, ErasedStatement, OutboxBatch, Target
from adapters.ops import instruments
from adapters.rules.filters import statement_matches
from adapters.secrets import pseudonym_keys
from adapters.targets.enabled import enabled_targets
from lrs.statements.bulk import CompanionRows, insert_new_rows
from lrs.statements.selectors import statements_keyed_by_pk

logger = logging.getLogger(__name__)


def idempotency_key(
    statement_uuid: str, target_name: str, kind: str, stored_again: int | str | None = None
) -> str:
    """What names a delivery's effect at its target (``stored_again``: the erasure its id was
    stored again after, ``stored_again``; a retraction takes its original's,
    ``adapters.base.stored_again_of``)."""
    key = f"{statement_uuid}:{target_name}:{kind}"
    return key if stored_again is None else f"{key}{STORED_AGAIN}{stored_again}"


def erased_statement_digest(statement_uuid: str, key: bytes | None = None) -> str:
    """The keyed hash an erased statement id is kept as (``ErasedStatement``); ``key``: one of
    ``pseudonym_keys``, the first by default."""
    key = key if key is not None else pseudonym_keys()[0]
    return hmac.new(key, f"erased-statement:{statement_uuid}".encode(), hashlib.sha256).hexdigest()


def stored_again(statements: Iterable[tuple[int, Any]]) -> dict[int, int]:
    """For these (primary key, statement id) whose id a delete-mode erasure removed before: the
    primary key -> the latest such erasure of the id (its ``ErasedStatement``); one query."""
    keys = pseudonym_keys()
    digests = {erased_statement_digest(str(uuid), key): pk for pk, uuid in statements for key in keys}
    if not digests:
        return {}
    found = ErasedStatement.objects.filter(digest__in=list(digests)).values_list("digest", "id")
    latest: dict[int, int] = {}
    for digest, erasure in found:  # one id may be kept under a rotated key as well: the latest
        latest[digests[digest]] = max(erasure, latest.get(digests[digest], 0))
    return latest


def matching_pairs(
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
    request thread: ``after_ingest_commit``, from the rows' ``after_write`` hook); the
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
            after_write=lambda: after_ingest_commit([batch_id]),
        )
    ]


def outbox_expand(batch_ids: Iterable[int]) -> list[int]:
    """Write the deliveries of these outbox batches and delete them; returns the ids of the
    new deliveries, ready to be queued.

    Idempotent and safe to run concurrently: a batch another transaction is expanding is skipped
    (``SKIP LOCKED``), one already expanded is gone, and a delivery that exists already (say, from
    a backfill, which queued it) is left alone (the unique key statement + target + kind).
    """
    limited, outermost = connection.vendor == "postgresql", not connection.in_atomic_block
    with transaction.atomic():
        if limited:
            # Voiding waits for a batch a worker holds. Should the worker's host freeze mid-way (no
            # clean kill), PostgreSQL ends this session after this long idle in the transaction,
            # rolling the claim back, instead of after TCP keepalive's two hours.
            callers = _idle_limit(WORKER_IDLE_LIMIT)
        expanded = _expand(_claim(list(batch_ids), skip_locked=True))
        if limited and not outermost:  # SET LOCAL outlives a savepoint: the caller's limit again
            _idle_limit(callers)
        return expanded


def _idle_limit(limit: str) -> str:
    """Set the idle limit for the transaction (``SET LOCAL``); returns the one before it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT before, set_config(%s, %s, true) FROM (SELECT current_setting(%s) AS before OFFSET 0) b",
            ["idle_in_transaction_session_timeout", limit, "idle_in_transaction_session_timeout"],
        )
        return cursor.fetchone()[0]


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
    again = stored_again((pk, statement["id"]) for pk, statement in statements.items())
    rows = []
    for batch in batches:
        batch_targets = [targets[target_id] for target_id in batch.target_ids if target_id in targets]
        present = [(pk, statements[pk]) for pk in batch.statement_pks if pk in statements]
        rows += [
            (
                target.id,
                pk,
                statement["id"],
                idempotency_key(statement["id"], target.name, DELIVER, again.get(pk)),
                batch.correlation_id,
            )
            for pk, statement, target in matching_pairs(present, batch_targets)
        ]
    # Unique-key order, as in ``replay.deliveries_create``: two inserts that meet on the unique key
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
        "external_id": "",
        "maybe_applied": False,
        "created_at": now,
        "updated_at": now,
    }
    if connection.vendor == "postgresql":
        ids = insert_new_rows(Delivery, _DELIVERY_COLUMNS, rows, constants)
        _count_created(ids, rows, targets)
        return ids
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
    ids = [delivery.id for delivery in Delivery.objects.bulk_create(fresh)]
    instruments.count_created(targets[delivery.target_id].name for delivery in fresh)
    return ids


def _count_created(ids: list[int], rows: list[tuple], targets: dict[int, Target]) -> None:
    """``lrs_deliveries_created_total`` by target: the rows written (a row already there, from an
    expansion that raced this one, is not counted again)."""
    if len(ids) == len(rows):
        target_ids: Iterable[int] = [row[0] for row in rows]
    else:
        target_ids = Delivery.objects.filter(id__in=ids).values_list("target_id", flat=True)
    instruments.count_created(targets[target_id].name for target_id in target_ids)


def expand_batches_holding(statement_pks: list[int]) -> list[int]:
    """Expand, in the current transaction, the outbox batches that hold any of these statements;
    returns the ids of the deliveries written.

    Voiding runs this first, so it always finds the deliveries it must cancel or retract. It
    waits for a worker expanding one of them to commit (the batch is then gone and its rows are
    there); a worker never waits for voiding (it skips locked batches), so they cannot deadlock.
    """
    wanted = set(statement_pks)
    if not wanted:
        return []
    # Batches whose key range overlaps (voiding._nothing_downstream asks the same in SQL).
    candidates = OutboxBatch.objects.filter(id__lte=max(wanted), last_statement_pk__gte=min(wanted))
    holding = [pk for pk, pks in candidates.values_list("id", "statement_pks") if wanted.intersection(pks)]
    return _expand(_claim(holding, skip_locked=False))


def after_ingest_commit(batch_ids: Iterable[int]) -> None:
    """Hand the outbox batches of a stored transaction to a worker with ONE broker message,
    whatever the number of statements and targets: its ``dispatch_batch`` task writes their
    deliveries (``outbox_expand``) and queues one task each. After commit the ids go to
    this process's publisher thread (``queue.Publisher``), so the request does not wait for
    the broker, and batches committed while a publish is under way share the next message.
    Without a broker (the quickstart) the batches are expanded and sent in-process."""
    ids = list(batch_ids)
    if not ids:
        return
    if queue.off_request():
        transaction.on_commit(lambda: _in_process_expansions().submit(ids))
        return
    if settings.CELERY_TASK_ALWAYS_EAGER:
        # robust: the statements are committed whatever happens here (an error is logged and
        # the batch stays for the sweep); the request must not fail after its statements stored.
        transaction.on_commit(lambda: expand_and_queue(ids), robust=True)
        return
    transaction.on_commit(lambda: _publisher().submit(ids))


def _publisher() -> Publisher:
    return publisher(
        publish_dispatch,
        settings.LRS_DISPATCH_MIN_INTERVAL_MS / 1000,
        max_interval=settings.LRS_DISPATCH_MAX_INTERVAL_MS / 1000,
    )


def publish_dispatch(batch_ids: list[int]) -> None:
    """One ``dispatch_batch`` message for these outbox batches. If the broker is unreachable,
    clear their ``dispatched_at`` so the sweep expands them once it is back."""
    try:
        # First, so the worker that takes the message already sees it (pacing/ingest_first.py).
        ingest_first.mark_ingest()
        queue.task(queue.DISPATCH_BATCH_TASK).apply_async(args=(batch_ids,), retry=False)
    except Exception as exc:
        logger.warning(
            "could not queue %d outbox batches (%s: %s); the sweep will",
            len(batch_ids),
            type(exc).__name__,
            exc,
        )
        try:
            OutboxBatch.objects.filter(id__in=batch_ids).update(dispatched_at=None)
        finally:
            if threading.current_thread() is not threading.main_thread():
                connection.close()  # the publisher thread's own connection: not left open


def flush_publisher(timeout: float = 10.0) -> bool:
    """Wait until this process's pending dispatch messages were published (tests, shutdown)."""
    return _publisher().flush(timeout)


def _expand_here(batch_ids: list[int]) -> None:
    try:
        expand_and_queue(batch_ids)
    finally:
        connection.close()  # the thread's own connection


def _in_process_expansions() -> Publisher:
    """Without a broker (``queue.off_request``): the thread that writes stored batches' deliveries
    and hands their targets to the drain thread. Batches it never reaches stay for the sweep."""
    return publisher(_expand_here, name="lrs-inprocess-expansions", exit_wait=30.0)


def flush_in_process(timeout: float = 30.0) -> bool:
    """Wait until the in-process expansion and drain threads are idle (the quickstart's tests)."""
    return _in_process_expansions().flush(timeout) and queue.in_process_drains().flush(timeout)


# Outbox batches expanded per transaction: each batch was one storing transaction, so this
# bounds the expansion's (a sweep after a long broker outage may find thousands of batches).
EXPAND_BATCHES_PER_TRANSACTION = 10


def expand_and_queue(batch_ids: list[int], *, yielding: bool = False) -> int:
    """Write the deliveries of these outbox batches, then ask for a drain of each target that
    got some (one message per target, whatever the number); returns how many deliveries.
    ``yielding``: a worker's dispatch task, which gives way to a burst of ingest after each
    transaction (``pacing.ingest_first``); never a request (the admin's action), nor the sweep."""
    queued = 0
    for start in range(0, len(batch_ids), EXPAND_BATCHES_PER_TRANSACTION):
        began = time.monotonic()
        ids = outbox_expand(batch_ids[start : start + EXPAND_BATCHES_PER_TRANSACTION])
        queue.drain_now(ids)  # the expansion has committed them
        queued += len(ids)
        if yielding:
            ingest_first.yield_after(time.monotonic() - began, "expansion")
    return queued
