"""The outbox: delivery rows for the statements targets take, and retractions for voided ones.

Flow (DESIGN.md): ``lrs`` sends ``statements_storing`` inside its storing transaction; the
receiver returns the outbox rows (``outbox_rows_at_ingest``), which the LRS writes in the same
INSERT (or COPY) as the statements, and the batch is dispatched after commit. Backfill and replay
create rows for stored statements (``deliveries_create``); voiding cancels or retracts
(``deliveries_for_voided``). Sending is ``adapters.services``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.utils import timezone

from adapters import correlation, dispatch, targets_file
from adapters.base import DELIVER, RETRACT
from adapters.filters import statement_matches
from adapters.models import Delivery, Target
from adapters.registry import adapter_class
from lrs.bulk import CompanionRows
from lrs.selectors import statements_by_pk


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
    """The outbox rows of a batch being stored: one per (statement, matching target), written by
    the LRS in the same INSERT as the statements (``lrs.signals.statements_storing``).

    ``statements`` are the statements as stored, in memory (nothing to read back: the filter
    needs only verb, result and object); adapters still read what they send through the query
    layer when they send it. No delivery can exist yet for a statement being inserted, so the rows
    are plain tuples with ``dispatched_at`` set, and the whole batch is handed to the workers
    with one broker message after commit (``dispatch.after_ingest_commit``).
    """
    targets = enabled_targets()
    if not targets or not statement_pks:
        return []
    rows = []
    pks_with_rows: list[int] = []
    for pk, statement, target in _matches(zip(statement_pks, statements, strict=True), targets):
        statement_uuid = statement["id"]
        rows.append((target.id, pk, statement_uuid, idempotency_key(statement_uuid, target.name, DELIVER)))
        if not pks_with_rows or pks_with_rows[-1] != pk:
            pks_with_rows.append(pk)
    if not rows:
        return []
    dispatch.after_ingest_commit(pks_with_rows)
    now = timezone.now()
    constants = {
        "kind": DELIVER,
        "status": Delivery.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "dispatched_at": now,
        "last_error": "",
        "held_key": "",
        "correlation_id": correlation.current(),
        "created_at": now,
        "updated_at": now,
    }
    columns = ("target_id", "statement_id", "statement_uuid", "idempotency_key")
    return [CompanionRows(Delivery, columns, rows, constants)]


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

    Runs inside the transaction that stored the voiding statement.
    """
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
