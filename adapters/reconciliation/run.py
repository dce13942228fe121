"""``reconcile``: compare, per day bucket, what a target should hold with what our deliveries say
reached it and, where the adapter can read its target back, with what the target holds; drill
into mismatching days down to ids; record a ``ReconciliationRun``; repair on request.

- **expected**: live statements in the window the filter takes, less those legitimately held
  (counted as ``held``);
- **delivered**: of those, the ones whose delivery is delivered (``first_try``: on the first
  attempt); **found**: records the target reports (read-back adapters only);
- **missing**: expected but not at the target (without read-back: not delivered);
- **extra**: at the target but not expected (a voided statement whose retraction never landed, a
  record of a statement we do not have); **different**: at the target with other content;
- **aged out**: what retention may have changed or removed (``AgedOut``), not judged: statements
  stored before its latest cut-off, and, once it has deleted statements, records at the target of
  statements the LRS does not hold (but those a delete-mode erasure removed); never repaired.
  A voided statement stored before the cut-off that the LRS still holds (kept for its dead
  retraction, pseudonymised) is judged all the same: whatever retention did, the target owes it
  nothing, so what it holds of it is extra;
- **drift %** = (missing + extra + different) / expected; **success %** = delivered / expected.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.utils import timezone

from adapters.base import Adapter
from adapters.models import ReconciliationRun, Target
from adapters.reconciliation.drill import mismatched_keys
from adapters.reconciliation.expected import AgedOut, Expected, expected_records, stored_day, unretracted
from adapters.reconciliation.repair import repair_mismatches
from adapters.reconciliation.tally import Tallies
from adapters.redaction import redacted_text
from adapters.registry import adapter_for
from lrs.statements.selectors import StatementQuery, statement_window_count, stored_by_statement_id

MISMATCHES_KEPT = 1000  # per run, in the stored record; counts are always exact
LOOKUP_CHUNK = 500
READ_BACK_MARGIN = timedelta(hours=1)


class NotReconcilable(Exception):
    """The target takes no statements (alerts only)."""


def expected_since(target: Target, since: datetime) -> datetime:
    """A target holds nothing from before it existed, unless a backfill gave it older statements:
    the window starts at its creation, or at the start of its earliest backfill when that is
    earlier (a backfill of a later range, a replay after an outage, hides nothing sent live)."""
    backfills = list(target.backfills.values_list("since", flat=True))
    if None in backfills:
        return since
    return max(since, min([target.created_at, *backfills]))


@dataclass(frozen=True)
class Found:
    key: str
    day: date | None  # None: a statement we do not have
    content: dict[str, Any]
    statement_pk: int | None = None
    aged_out: bool = False  # of a statement retention deleted (``AgedOut``)


@dataclass
class Mismatch:
    kind: str  # missing, extra, different
    key: str
    statement_pk: int | None = None
    delivery_id: int | None = None
    expected: dict[str, Any] | None = None
    found: dict[str, Any] | None = None
    repair_kind: str | None = None  # record-level targets: which delivery recomputes the record
    also_repair: list[int] | None = None  # record-level targets: more deliveries to run again with it

    def as_json(self) -> dict[str, Any]:
        return {name: value for name, value in self.__dict__.items() if value is not None}


@dataclass
class Comparison:
    counts: dict[str, int]
    buckets: list[dict[str, Any]]
    mismatches: list[Mismatch] = field(default_factory=list)


def reconcile(
    *,
    target: Target,
    since: datetime,
    until: datetime,
    repair: bool = False,
    progress: Callable[[int], None] | None = None,
    sized: Callable[[int | None], None] | None = None,
    dry_run: bool = False,
) -> ReconciliationRun:
    """Compare (and with ``repair`` mend) one target over ``since < stored <= until``; the stored
    run. Errors (the target cannot be read) are recorded on the run and raised. A target for
    alerts only takes no statements: there is nothing to reconcile (``NotReconcilable``).

    ``progress`` is called with the statements each page read, once ``sized`` was called with
    their total; for a target compared record by record (``sized(None)``: the total is not known
    before), with each record compared. ``dry_run``: the run is not stored and ``repair`` only
    counts what it would queue (``counts["repaired"]``)."""
    if target.receives == Target.RECEIVES_ALERTS:
        raise NotReconcilable(f"{target.name} receives alerts only: it takes no statements to reconcile")
    since = expected_since(target, since)
    adapter = adapter_for(target.adapter, target.config)
    run = ReconciliationRun(
        target=target,
        since=since,
        until=until,
        read_back=adapter.can_read_back or adapter.reconciles_records,
        repair=repair,
    )
    if not dry_run:
        run.save()  # now, so a run in progress is seen in the admin
    try:
        if sized is not None:
            records = adapter.reconciles_records
            sized(None if records else statement_window_count(StatementQuery(since=since, until=until)))
        comparison = compare(target, adapter, since, until, progress)
        counts = comparison.counts
        # A dry run has no id: 0 in its repair keys, rolled back with them.
        counts["repaired"] = (
            repair_mismatches(target, adapter, comparison.mismatches, run.pk or 0, dry_run=dry_run)
            if repair
            else 0
        )
    except Exception as exc:
        # Shown in the admin: a target's failure may quote a credential, the URL it was asked
        # with or its answer, redacted as a delivery attempt's error is.
        run.error = redacted_text(f"{type(exc).__name__}: {exc}")
        run.finished_at = timezone.now()
        if not dry_run:
            run.save(update_fields=["error", "finished_at"])
        raise
    wrong = counts["missing"] + counts["extra"] + counts["different"]
    expected = counts["expected"]
    run.counts = counts
    run.drift_percent = round(100.0 * wrong / expected, 3) if expected else (100.0 if wrong else 0.0)
    run.success_percent = round(100.0 * counts["delivered"] / expected, 3) if expected else 100.0
    run.buckets = comparison.buckets
    run.mismatches = [mismatch.as_json() for mismatch in comparison.mismatches[:MISMATCHES_KEPT]]
    run.finished_at = timezone.now()
    if not dry_run:
        run.save()
    return run


COUNTS = ("expected", "held", "delivered", "first_try", "missing", "extra", "different", "found", "aged_out")


def compare(
    target: Target,
    adapter: Adapter,
    since: datetime,
    until: datetime,
    progress: Callable[[int], None] | None = None,
) -> Comparison:
    """Judged from ``aged.judged_since(since)`` on: the statements of the window retention aged out
    are counted (``aged_out``), not compared; but for the voided ones the LRS still holds, whose
    effect at the target is extra from ``since`` on (``_placed``, ``unretracted``)."""
    aged = AgedOut.now()
    judged = min(aged.judged_since(since), until)
    counts = dict.fromkeys(COUNTS, 0)
    if judged > since:
        counts["aged_out"] = statement_window_count(StatementQuery(since=since, until=judged))
        if progress is not None:
            progress(counts["aged_out"])
    if adapter.reconciles_records:
        return compare_records(target, adapter, judged, until, counts, progress, voided_since=since)
    read_back = adapter.can_read_back
    expected, other = Tallies(), Tallies()
    undelivered: list[Mismatch] = []
    for record in expected_records(target, adapter, judged, until, progress=progress):
        if record.held:
            counts["held"] += 1
            continue
        counts["expected"] += 1
        expected.add(record.day, record.key, record.content)
        if record.delivered:
            counts["delivered"] += 1
            counts["first_try"] += record.first_try
            if not read_back:
                other.add(record.day, record.key)
        elif not read_back:
            undelivered.append(_missing(record))
    if read_back:
        for found in _found(adapter, since, judged, until, aged):
            if found.aged_out:
                counts["aged_out"] += 1
                continue
            counts["found"] += 1
            other.add(found.day, found.key, found.content)
    days = sorted(set(expected) | set(other), key=lambda day: day or date.min)
    mismatched = {day for day in days if expected.get(day) != other.get(day)}
    buckets = [
        {
            "day": day.isoformat() if day else "unknown statements",
            "expected": expected[day].count if day in expected else 0,
            ("found" if read_back else "delivered"): other[day].count if day in other else 0,
            "match": day not in mismatched,
        }
        for day in days
    ]
    if not read_back:
        # Our own deliveries are all there is to go by: made but voided, and not retracted yet.
        # From ``since``, not ``judged``: a voided statement the LRS still holds owes the target
        # its retraction whatever retention did to it (``_placed``).
        extra = [
            Mismatch("extra", key, pk)
            for key, pk in (unretracted(target, since, until) if adapter.supports_retraction else ())
        ]
        counts["missing"], counts["extra"] = len(undelivered), len(extra)
        return Comparison(counts, buckets, undelivered + extra)
    mismatches = _drill_down(target, adapter, since, judged, until, aged, mismatched)
    for mismatch in mismatches:
        counts[mismatch.kind] += 1
    return Comparison(counts, buckets, mismatches)


def compare_records(
    target: Target,
    adapter: Adapter,
    since: datetime,
    until: datetime,
    counts: dict[str, int],
    progress: Callable[[int], None] | None = None,
    *,
    voided_since: datetime | None = None,
) -> Comparison:
    """For targets holding records derived from many statements (the marketplace): every record
    the window's statements touched, expected against found, in one bucket ("records"). Each pair is
    compared as it is read, so only the mismatches are kept. A record the adapter says rests on
    evidence retention removed (``RecordPair.aged_out``) is counted aged out, not compared.
    ``voided_since``: the records voided statements stored from then on touched too (those before
    the cut-off ``since``: owed their retraction whatever retention did, as in ``_placed``)."""
    expected_tally, found_tally = Tallies(), Tallies()
    mismatches: list[Mismatch] = []
    for pair in adapter.record_pairs(target.name, target.id, since, until, voided_since=voided_since):
        if progress is not None:
            progress(1)
        if pair.aged_out:
            counts["aged_out"] += 1
            continue
        if pair.expected is not None:
            counts["expected"] += 1
            expected_tally.add(None, pair.key, pair.expected)
        if pair.found is not None:
            counts["found"] += 1
            found_tally.add(None, pair.key, pair.found)
        kind = _record_mismatch(pair.expected, pair.found)
        if kind is None:
            counts["delivered"] += pair.expected is not None
            continue
        counts[kind] += 1
        mismatches.append(
            Mismatch(
                kind,
                pair.key,
                pair.repair_statement_pk,
                expected=pair.expected,
                found=pair.found,
                repair_kind=pair.repair_kind,
                also_repair=list(pair.also_repair) or None,
            )
        )
    counts["first_try"] = counts["delivered"]
    bucket = {
        "day": "records",
        "expected": counts["expected"],
        "found": counts["found"],
        "match": expected_tally.get(None) == found_tally.get(None),
    }
    return Comparison(counts, [bucket], mismatches)


def _record_mismatch(expected: dict[str, Any] | None, found: dict[str, Any] | None) -> str | None:
    if expected == found:
        return None
    if found is None:
        return "missing"
    if expected is None:
        return "extra"
    return "different"


def _missing(record: Expected) -> Mismatch:
    return Mismatch("missing", record.key, record.statement_pk, record.delivery_id, expected=record.content)


def _found(
    adapter: Adapter, since: datetime, judged: datetime, until: datetime, aged: AgedOut
) -> Iterator[Found]:
    """What the target reports, each placed in the day of its statement's stored time; records of
    statements stored outside the judged window (``judged < stored <= until``) are left to the
    windows that hold them, or aged out (but voided ones stored in the window: ``_placed``); those
    of statements the LRS does not hold are placed in no day, or marked aged out
    (``AgedOut.unknown_aged_out``)."""
    chunk: list[tuple[str, dict[str, Any]]] = []
    # The target stamps its records by its own clock, a little behind ours maybe: read back from
    # an hour earlier; records of statements stored before the window are left out below.
    for key, content in adapter.read_back(since - READ_BACK_MARGIN):
        chunk.append((_canonical(key), content))
        if len(chunk) >= LOOKUP_CHUNK:
            yield from _placed(chunk, since, judged, until, aged)
            chunk = []
    yield from _placed(chunk, since, judged, until, aged)


def _canonical(key: str) -> str:
    """A statement id as the LRS writes it (lowercase, hyphenated): a target may answer it in
    capitals (UUIDs are case-blind), and its record is still that statement's. Another key (not a
    UUID: not ours) as given."""
    try:
        return str(uuid.UUID(key))
    except ValueError:
        return key


def _placed(
    chunk: list[tuple[str, dict[str, Any]]],
    since: datetime,
    judged: datetime,
    until: datetime,
    aged: AgedOut,
) -> Iterator[Found]:
    """Records of statements stored in ``judged < stored <= until``, and of voided ones stored in
    ``since < stored <= judged``: retention ages out what a live statement's effect may have become
    (``AgedOut``), but a voided statement the LRS still holds (kept for its dead retraction,
    pseudonymised) owes the target nothing whatever retention did, so its record is extra."""
    known = stored_by_statement_id(key for key, _ in chunk)
    gone = aged.unknown_aged_out([key for key, _ in chunk if key not in known])
    for key, content in chunk:
        if key not in known:
            yield Found(key, None, content, aged_out=key in gone)
            continue
        pk, stored, voided = known[key]
        if judged < stored <= until or (voided and since < stored <= judged):
            yield Found(key, stored_day(stored), content, pk)


def _day_window(day: date, since: datetime, until: datetime) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC) - timedelta(microseconds=1)
    return max(since, start), min(until, start + timedelta(days=1))


def _drill_down(
    target: Target,
    adapter: Adapter,
    since: datetime,
    judged: datetime,
    until: datetime,
    aged: AgedOut,
    days: set[date | None],
) -> list[Mismatch]:
    """The ids behind the mismatching days (``drill``: compared in the database, so a day of any
    size costs no Python memory; only the mismatches come back)."""
    if not days:
        return []

    def expected() -> Iterator[tuple[str, dict[str, Any] | None, int, int | None]]:
        for day in sorted(day for day in days if day is not None):
            first, last = _day_window(day, judged, until)
            if first >= last:  # a day before the cut-off: only voided statements' records, extra
                continue
            for record in expected_records(target, adapter, first, last):
                if not record.held:
                    yield record.key, record.content, record.statement_pk, record.delivery_id

    found = (
        (item.key, item.content, item.statement_pk)
        for item in _found(adapter, since, judged, until, aged)
        if item.day in days and not item.aged_out
    )
    return [
        Mismatch(kind, key, pk, delivery_id, wanted, held)
        for kind, key, pk, delivery_id, wanted, held in mismatched_keys(expected(), found)
    ]
