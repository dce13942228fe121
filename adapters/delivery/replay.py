"""Sending deliveries again: replay of dead letters, cancelling, and backfill of a time range
of stored statements through one target (e.g. a newly added one), which creates delivery rows
for stored statements (``deliveries_create``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from adapters import correlation
from adapters.base import DELIVER
from adapters.delivery import queue
from adapters.delivery.outbox import delivery_ids_of, idempotency_key, matching_pairs
from adapters.models import Delivery, Target
from adapters.registry import adapter_class
from adapters.rules.filters import statement_matches
from adapters.targets.enabled import enabled_targets
from lrs.statements.selectors import (
    StatementQuery,
    live_statement_pks,
    statement_list,
    statements_by_pk,
    voided_by,
    with_cursor,
)


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
        for pk, statement, target in matching_pairs(
            zip(statement_pks, statements_by_pk(statement_pks), strict=True), targets
        )
    ]
    if not rows:
        return []
    rows.sort(key=lambda row: (row.statement_id, row.target_id))  # unique-key order: see outbox._expand
    created = Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    ids = [row.id for row in created if row.id is not None]
    if not ids:  # ignore_conflicts gives no ids on some backends: look them up
        ids = delivery_ids_of(rows)
    queue.after_commit(ids)
    return ids


@dataclass(frozen=True)
class ReplayOutcome:
    """``replayed``: ids queued again; ``refused``: (id, why) of those that must not be sent."""

    replayed: list[int] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)


@transaction.atomic
def deliveries_replay(
    *, delivery_ids: Iterable[int] | None = None, target: Target | None = None
) -> ReplayOutcome:
    """Send dead (or cancelled) deliveries again, with the same idempotency key. A delivery of a
    statement that has since been voided (or erased) is refused, naming the void: replay never
    brings a voided statement back (and a worker checks again when it claims the delivery)."""
    rows = Delivery.objects.filter(status__in=[Delivery.DEAD, Delivery.CANCELLED])
    if delivery_ids is not None:
        rows = rows.filter(id__in=list(delivery_ids))
    if target is not None:
        rows = rows.filter(target=target)
    candidates = list(rows.values_list("id", "statement_id", "statement_uuid", "kind"))
    delivering = {pk for _id, pk, _uuid, kind in candidates if kind == DELIVER}
    live = live_statement_pks(delivering)
    voiding = voided_by(delivering - live)
    outcome = ReplayOutcome()
    for delivery_id, pk, statement_uuid, kind in candidates:
        if kind != DELIVER or pk in live:
            outcome.replayed.append(delivery_id)
        elif pk in voiding:
            outcome.refused.append((delivery_id, f"statement {statement_uuid} was voided by {voiding[pk]}"))
        else:
            outcome.refused.append((delivery_id, f"statement {statement_uuid} is no longer stored"))
    now = timezone.now()
    Delivery.objects.filter(id__in=outcome.replayed).update(
        status=Delivery.PENDING, next_attempt_at=now, claimed_until=None, updated_at=now
    )
    queue.after_commit(outcome.replayed)
    return outcome


@transaction.atomic
def deliveries_resolve_unknown(*, delivery_ids: Iterable[int], delivered: bool) -> list[int]:
    """An admin's answer for deliveries whose outcome is unknown: ``delivered`` (the effect is
    there, seen at the target) or not (send it again). Returns the ids changed."""
    rows = Delivery.objects.filter(id__in=list(delivery_ids), status=Delivery.UNKNOWN)
    ids = list(rows.values_list("id", flat=True))
    now = timezone.now()
    if delivered:
        rows.update(
            status=Delivery.DELIVERED,
            delivered_at=now,
            last_error="marked delivered by admin",
            updated_at=now,
        )
        return ids
    # Sent again on the admin's word: the earlier attempt is taken not to have arrived.
    rows.update(
        status=Delivery.PENDING,
        next_attempt_at=now,
        last_error="sent again by admin",
        maybe_applied=False,
        updated_at=now,
    )
    queue.after_commit(ids)
    return ids


def deliveries_cancel(*, delivery_ids: Iterable[int]) -> int:
    return Delivery.objects.filter(
        id__in=list(delivery_ids), status__in=[Delivery.PENDING, Delivery.RETRYING]
    ).update(status=Delivery.CANCELLED, last_error="cancelled by admin", updated_at=timezone.now())


def backfill(
    *, target: Target, since=None, until=None, force: bool = False, page_size: int = 500
) -> dict[str, int]:
    """Run a time range of stored statements through one target (e.g. a newly added one).

    Statements are read page by page through the LRS query layer, oldest first
    (the same code that answers ``GET /xapi/statements``: voided statements are
    skipped). A statement already delivered to the target is skipped unless
    ``force``; a forced one is re-evaluated: sent again with its original idempotency key where
    that is harmless (``Adapter.repeatable``; the marketplace recomputes and sends only a
    change), never re-posted to a chat, whose delivered messages count as skipped.
    """
    repeatable = adapter_class(target.adapter).repeatable
    counts = {"matched": 0, "created": 0, "requeued": 0, "skipped": 0}
    query = StatementQuery(since=since, until=until, ascending=True, limit=page_size)
    while True:
        page = statement_list(query)
        statements = statements_by_pk(page.statement_pks)
        pks = [
            pk
            for pk, statement in zip(page.statement_pks, statements, strict=True)
            if statement_matches(statement, target.filter)
        ]
        counts["matched"] += len(pks)
        if pks:
            with transaction.atomic():
                existing = dict(
                    Delivery.objects.filter(target=target, kind=DELIVER, statement_id__in=pks).values_list(
                        "statement_id", "id"
                    )
                )
                fresh = [pk for pk in pks if pk not in existing]
                counts["created"] += len(deliveries_create(statement_pks=fresh, targets=[target]))
                if force and existing:
                    rows = Delivery.objects.filter(id__in=list(existing.values())).exclude(
                        status__in=[Delivery.IN_FLIGHT, Delivery.UNKNOWN]
                    )
                    if not repeatable:
                        rows = rows.exclude(status=Delivery.DELIVERED)
                    ids = list(rows.values_list("id", flat=True))
                    # A delivered one was made: should the statement be voided before it is sent
                    # again, it must be retracted, not only cancelled.
                    rows.filter(status=Delivery.DELIVERED).update(maybe_applied=True)
                    rows.update(
                        status=Delivery.PENDING, next_attempt_at=timezone.now(), updated_at=timezone.now()
                    )
                    queue.after_commit(ids)
                    counts["requeued"] += len(ids)
                    counts["skipped"] += len(existing) - len(ids)
                else:
                    counts["skipped"] += len(existing)
        if page.more_after is None:
            return counts
        query = with_cursor(query, page.more_after)
