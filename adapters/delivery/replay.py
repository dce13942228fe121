"""Sending deliveries again: replay of dead letters, cancelling, answers to outcome-unknown
deliveries, and backfill (``deliveries_create`` makes delivery rows for stored statements).

Backfill: run a stored-time range of statements through one target (e.g. a newly added one).

Statements are read page by page through the LRS query layer, oldest first (the code that answers
``GET /xapi/statements``: voided statements are skipped), each page once; its matching
statements get delivery rows (``deliveries_create_for``), which the drains then send. Only
one page is in memory at a time, so a backfill of millions of statements holds no more than one.

The walk keeps to the cut the LRS serves ascending pages by (``consistent_through``): a batch
takes its ``stored`` time when its transaction starts, so a slow one commits statements behind
ones already visible, and may have decided its targets before this one was enabled: a walk past
them would leave them to no one. Nor does it end before every process's enabled targets include
the target (``LRS_TARGETS_CACHE_SECONDS`` after it began): what is stored from then on the live
fan-out takes, what was stored before, the backfill (unique rows: whichever comes second adds
nothing). Of a target left disabled, nothing stored after the backfill ends is taken.

A run keeps a checkpoint (``BackfillRun``): the (stored, id) of the last statement handled,
written in the same transaction as that page's rows. Stopped anywhere (Ctrl-C, a killed process,
a database restart), the same command resumes after the last committed page; and since a
delivery row is unique per (statement, target, kind), even a page handled twice adds nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from adapters import correlation
from adapters.base import DELIVER
from adapters.delivery import queue
from adapters.delivery.outbox import idempotency_key, matching_pairs, stored_again
from adapters.models import BackfillRun, Delivery, Target, delivery_ids_of
from adapters.registry import adapter_class
from adapters.rules.filters import statement_matches
from adapters.targets.enabled import enabled_targets
from lrs.statements.selectors import (
    StatementPage,
    StatementQuery,
    consistent_through,
    live_statement_pks,
    statement_list,
    statement_window_count,
    statements_keyed_by_pk,
    voided_by,
    with_cursor,
)
from lrs.xapi.json_fast import parse_stored


def deliveries_create(*, statement_pks: list[int], targets: Iterable[Target] | None = None) -> list[int]:
    """Outbox rows for every (stored statement, matching target), e.g. a backfill; returns the
    ids of the new rows and dispatches them after commit.

    Statements are read through the LRS query layer. Existing rows (same statement,
    target and kind) are left alone, so calling this twice is harmless.
    """
    if not statement_pks:
        return []
    # One deleted since its caller read it (retention, an erasure) has none.
    by_pk = statements_keyed_by_pk(statement_pks)
    statements = [(pk, by_pk[pk]) for pk in statement_pks if pk in by_pk]
    return deliveries_create_for(statements=statements, targets=targets)


def deliveries_create_for(
    *, statements: list[tuple[int, dict]], targets: Iterable[Target] | None = None
) -> list[int]:
    """``deliveries_create`` for statements already read: (primary key, statement) pairs."""
    targets = list(targets) if targets is not None else enabled_targets()
    if not targets or not statements:
        return []
    now = timezone.now()
    correlation_id = correlation.current()
    again = stored_again((pk, statement["id"]) for pk, statement in statements)
    rows = [
        Delivery(
            target=target,
            statement_id=pk,
            statement_uuid=statement["id"],
            kind=DELIVER,
            idempotency_key=idempotency_key(statement["id"], target.name, DELIVER, again.get(pk)),
            next_attempt_at=now,
            correlation_id=correlation_id,
        )
        for pk, statement, target in matching_pairs(statements, targets)
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
    *, delivery_ids: Iterable[int] | None = None, target: Target | None = None, dry_run: bool = False
) -> ReplayOutcome:
    """Send dead (or cancelled) deliveries again, with the same idempotency key. A delivery of a
    statement that has since been voided (or erased) is refused, naming the void: replay never
    brings a voided statement back (and a worker checks again when it claims the delivery).
    ``dry_run``: the same outcome, nothing changed or queued."""
    replayable = [Delivery.DEAD, Delivery.CANCELLED]
    rows = Delivery.objects.filter(status__in=replayable)
    if not dry_run:
        # Locked until this commits: a replay running at the same time (the admin action clicked
        # twice, the command) waits, then finds them pending, not dead, and leaves them alone.
        rows = rows.select_for_update().order_by("id")  # (locked in the order others lock them)
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
    if dry_run:
        return outcome
    now = timezone.now()
    # Only what is still dead or cancelled: one put back and sent since is not sent again (a chat
    # message would be posted twice).
    Delivery.objects.filter(id__in=outcome.replayed, status__in=replayable).update(
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
    """Close deliveries that wait (pending, retrying, or held: e.g. a leaver's statement an admin
    decides never to send) or died (an operator gives up: e.g. a retraction the target never
    takes, which keeps its statement from retention and an erasure from finishing; the target
    keeps what it holds, on record as cancelled by admin); one in flight is left to finish."""
    waiting_or_dead = [Delivery.PENDING, Delivery.RETRYING, Delivery.HELD, Delivery.DEAD]
    return Delivery.objects.filter(id__in=list(delivery_ids), status__in=waiting_or_dead).update(
        status=Delivery.CANCELLED, last_error="cancelled by admin", updated_at=timezone.now()
    )


# -- Backfill --------------------------------------------------------------------------------------
COUNTS = ("matched", "created", "requeued", "skipped")
_PROGRESS_FIELDS = ("scanned", "after_stored", "after_statement", "counts", "finished_at", "updated_at")


def backfill_run_for(
    *,
    target: Target,
    since: datetime | None,
    until: datetime | None,
    force: bool,
    restart: bool = False,
    dry_run: bool = False,
) -> BackfillRun:
    """The unfinished run of this target over this range to resume, or a new one (``restart``:
    always a new one; the old unfinished ones are closed). ``dry_run``: the run that would be
    used, nothing closed, a new one left unsaved."""
    same = BackfillRun.objects.filter(target=target, since=since, until=until, force=force, finished_at=None)
    if restart and not dry_run:
        same.update(finished_at=timezone.now())
    elif not restart:
        run = same.order_by("-started_at").first()
        if run is not None:
            return run
    run = BackfillRun(target=target, since=since, until=until, force=force, counts=dict.fromkeys(COUNTS, 0))
    if not dry_run:
        run.save()
    return run


def remaining(run: BackfillRun) -> int:
    """Live statements the run has still to read (the total of its progress bar, less ``scanned``)."""
    return statement_window_count(_query(run, page_size=1))


def backfill(
    *,
    target: Target,
    since: datetime | None = None,
    until: datetime | None = None,
    force: bool = False,
    page_size: int = 500,
    run: BackfillRun | None = None,
    progress: Callable[[int], None] | None = None,
    dry_run: bool = False,
) -> dict[str, int]:
    """Run a range of stored statements through one target; the counts of what it did.

    A statement already delivered to the target is skipped unless ``force``; a forced one is
    re-evaluated: sent again with its original idempotency key where that is harmless
    (``Adapter.repeatable``; the marketplace recomputes and sends only a change), never re-posted
    to a chat, whose delivered messages count as skipped.

    ``run``: the checkpoint to resume from and advance (``backfill_run_for``); without one, a
    fresh run is recorded. ``progress``: called with the number of statements each page read.
    ``dry_run``: the counts of what it would do; nothing changed, not even the checkpoint.
    """
    if run is None:
        run = backfill_run_for(
            target=target, since=since, until=until, force=force, restart=True, dry_run=dry_run
        )
    repeatable = adapter_class(target.adapter).repeatable
    counts = {name: int(run.counts.get(name, 0)) for name in COUNTS}
    # On the cut's clock (the database's, as ``stored``): a host's clock ahead of it kept the walk
    # waiting by as much, one behind ended it before other processes' target caches let go.
    end = _database_now() + timedelta(seconds=settings.LRS_TARGETS_CACHE_SECONDS)
    if run.until is not None:
        end = min(end, run.until)
    for pairs, read, more_after, last in _walk(target, _query(run, page_size), end=end):
        if not (read or last):  # held back, or waiting for the end: nothing to record yet
            if progress is not None:
                progress(0)
            time.sleep(HELD_BACK_PAUSE)
            continue
        with transaction.atomic():
            if pairs:
                _page(target, pairs, force=force, repeatable=repeatable, counts=counts, dry_run=dry_run)
            run.scanned += read
            if more_after is not None:  # (a finished run is never resumed: no cursor needed)
                run.after_stored, run.after_statement = more_after
            run.counts = counts
            run.finished_at = timezone.now() if last else None
            if not dry_run:
                run.save(update_fields=[*_PROGRESS_FIELDS])
        if progress is not None:
            progress(read)
    return counts


def pages_taken(
    target: Target, query: StatementQuery
) -> Iterator[tuple[list[tuple[int, dict]], int, tuple[datetime, int] | None]]:
    """Walk ``query``'s window through the statement query layer, page by page: the (primary key,
    statement) pairs of each page the target's filter takes, how many statements the page read,
    and the cursor after it (None on the last page). Reconciliation walks so (its windows are
    past days); a backfill walks to the cut (``_walk``)."""
    while True:
        page = statement_list(query)
        yield _taken(target, page), len(page.statement_pks), page.more_after
        if page.more_after is None:
            return
        query = with_cursor(query, page.more_after)


# How long a backfill waits before reading again when a batch still being written holds it back.
HELD_BACK_PAUSE = 0.05
# A cursor after every statement stored at a time: (through, _LAST_PK) passes all stored then.
_LAST_PK = 2**63 - 1


def _walk(
    target: Target, query: StatementQuery, *, end: datetime
) -> Iterator[tuple[list[tuple[int, dict]], int, tuple[datetime, int] | None, bool]]:
    """``pages_taken`` for a backfill, with whether the page is the last: each page stops at the
    cut (``consistent_through``, read before it: every statement stored up to it is visible), and
    the walk ends only once the cut has passed ``end``. A page that read nothing and is not the
    last is read again (its cursor None when nothing was read yet)."""
    while True:
        through = consistent_through()
        page = statement_list(query, through=through)
        cursor = page.more_after
        if cursor is None and not page.held_back:
            if through >= end:
                yield _taken(target, page), len(page.statement_pks), None, True
                return
            # Everything stored up to the cut was visible to this page and read: go on after it.
            cursor = (through, _LAST_PK)
        yield _taken(target, page), len(page.statement_pks), cursor, False
        if cursor is not None:
            query = with_cursor(query, cursor)


def _database_now() -> datetime:
    """The clock ``stored`` and ``consistent_through`` are read from (on SQLite, this host's)."""
    if connection.vendor != "postgresql":
        return timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


def _taken(target: Target, page: StatementPage) -> list[tuple[int, dict]]:
    """The (primary key, statement) pairs of the page the target's filter takes."""
    return [
        (pk, statement)
        for pk, text in zip(page.statement_pks, page.statements, strict=True)
        if statement_matches(statement := parse_stored(text), target.filter)
    ]


def _query(run: BackfillRun, page_size: int) -> StatementQuery:
    query = StatementQuery(since=run.since, until=run.until, ascending=True, limit=page_size)
    if run.after_stored is not None and run.after_statement is not None:
        query = with_cursor(query, (run.after_stored, run.after_statement))
    return query


def _page(
    target: Target,
    pairs: list[tuple[int, dict]],
    *,
    force: bool,
    repeatable: bool,
    counts: dict[str, int],
    dry_run: bool = False,
) -> None:
    pks = [pk for pk, _ in pairs]
    counts["matched"] += len(pks)
    existing = dict(
        Delivery.objects.filter(target=target, kind=DELIVER, statement_id__in=pks).values_list(
            "statement_id", "id"
        )
    )
    fresh = [(pk, statement) for pk, statement in pairs if pk not in existing]
    # (pages_taken kept only what the target's filter takes: each fresh pair makes one row.)
    counts["created"] += (
        len(fresh) if dry_run else len(deliveries_create_for(statements=fresh, targets=[target]))
    )
    if not (force and existing):
        counts["skipped"] += len(existing)
        return
    rows = Delivery.objects.filter(id__in=list(existing.values())).exclude(
        status__in=[Delivery.IN_FLIGHT, Delivery.UNKNOWN]
    )
    if not repeatable:
        rows = rows.exclude(status=Delivery.DELIVERED)
    ids = list(rows.values_list("id", flat=True))
    counts["requeued"] += len(ids)
    counts["skipped"] += len(existing) - len(ids)
    if dry_run:
        return
    now = timezone.now()
    rows.update(status=Delivery.PENDING, maybe_applied=made_maybe(), next_attempt_at=now, updated_at=now)
    queue.after_commit(ids)


def made_maybe() -> Case:
    """``maybe_applied`` for a row put back to pending to be sent again (a forced backfill, a
    reconciliation repair): true once it was delivered, since it was made: should the statement be
    voided before it is sent again, it must be retracted, not only cancelled. Read in the UPDATE,
    so a row delivered meanwhile counts too."""
    return Case(When(status=Delivery.DELIVERED, then=Value(True)), default=F("maybe_applied"))
