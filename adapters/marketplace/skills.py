"""The marketplace's evidence ledger and what we know the marketplace holds, per target.

``SkillEvidence`` rows record which statement evidences which member's competency at what level;
``SkillRecord`` rows the record last accepted by the marketplace. Deliveries that change the same
(member, competency) are serialised by a lease on its ``SkillRecord`` row, held while the record
is recomputed, sent and recorded (``exclusive``), so two workers never race each other into a
stale final state. A lease, not a PostgreSQL advisory lock: it holds through PgBouncer in
transaction mode and on SQLite, and a worker that dies loses it when it runs out.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from adapters.base import DeliveryBusy, DeliveryHeld
from adapters.models import SkillEvidence, SkillRecord, skill_records_locked
from adapters.rules.competencies import CompetencyAward
from adapters.rules.normalise import learning_completed, score_0_100
from adapters.rules.skills import Evidence
from lrs.xapi.timestamps import read_timestamp

Key = tuple[str, str]  # (member id, competency code)


@dataclass(frozen=True)
class Plan:
    """What a delivery changes: the member the statement names now (None: a retraction, or a
    delivery naming no one now, ``held``: both only recompute), the competencies it awards them,
    and every (member, competency) record to recompute: those its evidence was recorded under
    (``recorded``: another member's, if its identity link moved since; a competency a corrected
    mapping no longer awards) and those it evidences now."""

    member_id: str | None
    awards: list[CompetencyAward]
    keys: list[Key]
    # Its actor names no one now, and its evidence was recorded: out it goes, then it waits held.
    held: DeliveryHeld | None = None
    recorded: list[Key] = field(default_factory=list)

    @property
    def awarded(self) -> set[str]:
        return {award.code for award in self.awards}

    @property
    def drops(self) -> bool:
        """Whether a delivery of it leaves evidence it recorded before (``evidence_put`` marks
        it superseded, ``evidence_drop`` deletes it): a retraction never does (it records
        nothing); a first delivery, or one again for the same member and awards, neither, and
        costs neither query. Of ``recorded`` as ``recorded_now`` read it, under the lease."""
        if self.member_id is None and self.held is None:
            return False
        kept = {(self.member_id, code) for code in self.awarded} if self.held is None else set()
        return bool(set(self.recorded) - kept)


def evidence_put(
    *,
    target_id: int,
    member_id: str,
    statement_pk: int,
    statement: dict[str, Any],
    awards: list[CompetencyAward],
    supersede: bool = True,
) -> None:
    """Record what the statement evidences now for ``member_id`` (idempotent; a re-evaluation
    under a corrected mapping updates the levels). Its rows that no longer count, under other
    members (its identity link moved) or for competencies it no longer awards (a corrected
    mapping), are left to ``evidence_drop``: they are what lets a retry find the records still to
    recompute without it. They are marked superseded at once, so no delivery (this one, or another
    statement's recomputing the same record before this one is sent) counts them meanwhile. Each
    row holds what ``evidence_of`` gives for its award. ``supersede`` False: it has no other rows
    (``Plan.drops``), and that UPDATE is left out."""
    timestamp = read_timestamp(statement["timestamp"])
    completed = learning_completed(statement)
    score = score_0_100((statement.get("result") or {}).get("score"))
    SkillEvidence.objects.bulk_create(
        [
            SkillEvidence(
                target_id=target_id,
                member_id=member_id,
                competency_code=award.code,
                statement_id=statement_pk,
                statement_uuid=statement["id"],
                activity_id=award.evidence["activityId"],
                level=award.level,
                score=score,
                completed=completed,
                timestamp=timestamp,
                mapping_version=award.mapping_version,
                superseded=False,
            )
            for award in awards
        ],
        update_conflicts=True,
        unique_fields=["target", "member_id", "competency_code", "statement"],
        update_fields=[
            "activity_id",
            "level",
            "score",
            "completed",
            "timestamp",
            "mapping_version",
            "superseded",
        ],
    )
    if not supersede:
        return
    awarded = {award.code for award in awards}
    SkillEvidence.objects.filter(target_id=target_id, statement_id=statement_pk, superseded=False).exclude(
        member_id=member_id, competency_code__in=awarded
    ).update(superseded=True)


@contextmanager
def recorded_now(target_id: int, statement_pk: int | None, plan: Plan) -> Iterator[Plan]:
    """``plan`` with what the statement's evidence is recorded under now (``recorded``), read
    under a lock of the statement's at this target held until the block ends, in which the
    delivery records its evidence. The plan read it before its leases, and another run of the
    statement's delivery may have recorded it since: one that took the delivery over when this
    one's claim ran out, planned after its identity link moved, leases other members' records,
    which these leases do not exclude. Whichever of the two records first, the other reads it
    here. Recorded under a record this plan does not hold: ``DeliveryBusy``, the delivery runs
    again and plans it (moves the evidence out of it). So the statement is never evidence of two
    members at once. (SQLite runs one writing transaction at a time.)"""
    with transaction.atomic():
        if statement_pk is None:  # not a stored statement's (an adapter called on its own)
            yield plan
            return
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_statement_lock(target_id, statement_pk)])
        recorded = keys_of_statement(target_id, statement_pk)
        if not set(recorded) <= set(plan.keys):
            raise DeliveryBusy(
                f"the statement's evidence was recorded under {recorded} meanwhile: the delivery runs again"
            )
        yield plan if recorded == plan.recorded else replace(plan, recorded=recorded)


def _statement_lock(target_id: int, statement_pk: int) -> int:
    """The advisory-lock key (a signed 64-bit integer) of a statement's evidence at a target."""
    digest = hashlib.sha256(f"skill-evidence:{target_id}:{statement_pk}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def evidence_withdraw(target_id: int, statement_pk: int) -> None:
    """The statement evidences no one now (its actor names no one): its rows no longer count, as
    ``evidence_put`` marks those of another member; ``evidence_drop`` deletes them once the records
    are recomputed without it."""
    SkillEvidence.objects.filter(target_id=target_id, statement_id=statement_pk, superseded=False).update(
        superseded=True
    )


def evidence_drop(
    target_id: int, statement_pk: int, *, keep_member: str | None, keep_codes: set[str]
) -> None:
    """Forget the statement's evidence but for the competencies it awards the member it names now
    (``keep_member``, ``keep_codes``; None: it names no one, all goes); call once the other records
    are recomputed without it."""
    rows = SkillEvidence.objects.filter(target_id=target_id, statement_id=statement_pk)
    if keep_member is not None:
        rows = rows.exclude(member_id=keep_member, competency_code__in=keep_codes)
    rows.delete()


def keys_of_statement(target_id: int, statement_pk: int) -> list[Key]:
    """The (member, competency) pairs a statement was recorded as evidence for."""
    rows = SkillEvidence.objects.filter(target_id=target_id, statement_id=statement_pk)
    return sorted(set(rows.values_list("member_id", "competency_code")))


def evidence_rows(target_id: int, member_id: str, codes: list[str]) -> list[tuple[str, Evidence, int]]:
    """(competency code, evidence, statement primary key) of every recorded piece of evidence;
    which are live is read from the store by the caller, in one query with their statements."""
    rows = SkillEvidence.objects.filter(
        target_id=target_id,
        member_id=member_id,
        competency_code__in=codes,
        erased_at__isnull=True,
        superseded=False,
    )
    return [(row.competency_code, _evidence(row), row.statement_id) for row in rows]


def superseded_rows(target_id: int, member_id: str, codes: list[str]) -> list[tuple[str, int]]:
    """(competency code, statement primary key) of evidence recorded under the member that its
    statement's delivery marked superseded and has not recomputed the record without yet."""
    rows = SkillEvidence.objects.filter(
        target_id=target_id,
        member_id=member_id,
        competency_code__in=codes,
        superseded=True,
        erased_at__isnull=True,
    )
    return list(rows.values_list("competency_code", "statement_id"))


def statement_rows(target_id: int, statement_pks: list[int]) -> list[tuple[str, Evidence, int]]:
    """(competency code, evidence, statement primary key) of the statements' recorded evidence,
    whatever member it is recorded under (one row per statement and competency)."""
    rows = SkillEvidence.objects.filter(
        target_id=target_id, statement_id__in=statement_pks, erased_at__isnull=True, superseded=False
    ).order_by("statement_id", "competency_code", "member_id")
    found = {(row.competency_code, row.statement_id): _evidence(row) for row in reversed(rows)}
    return [(code, item, pk) for (code, pk), item in found.items()]


def _evidence(row: SkillEvidence) -> Evidence:
    return Evidence(
        statement_id=str(row.statement_uuid),
        activity_id=row.activity_id,
        level=row.level,
        timestamp=_stamp(row.timestamp),
        completed=row.completed,
        score=row.score,
        mapping_version=row.mapping_version,
    )


def evidence_of(statement: dict[str, Any], award: CompetencyAward) -> Evidence:
    """The evidence a delivery of the statement would record for the award (``evidence_put``), as
    ``evidence_rows`` would read it back: what reconciliation expects of a statement whose delivery
    never recorded any."""
    return Evidence(
        statement_id=str(uuid.UUID(statement["id"])),
        activity_id=award.evidence["activityId"],
        level=award.level,
        timestamp=_stamp(read_timestamp(statement["timestamp"])),
        completed=learning_completed(statement),
        score=score_0_100((statement.get("result") or {}).get("score")),
        mapping_version=award.mapping_version,
    )


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


UNKNOWN = object()  # what the marketplace holds is not known (a write went unanswered)


@dataclass(frozen=True)
class Held:
    """What we know of one record at the marketplace: the record it last accepted (None: none, or
    deleted; ``UNKNOWN`` when a write since went unanswered), how many writes were started, and
    the write still unanswered ("" none; see ``SkillRecord.writing``); ``aged_out``: retention
    deleted evidence it was computed from since (``SkillRecord.evidence_aged_out``).
    ``computed_from``: the statements (primary keys) whose evidence the delivery read and
    computed the record from, once it has (``aged_out_end``)."""

    record: Any = None
    writes: int = 0
    writing: str = ""
    aged_out: bool = False
    computed_from: frozenset[int] = frozenset()


def held_records(target_id: int, member_id: str, codes: list[str]) -> dict[str, Held]:
    """Per competency: what we know the marketplace holds (``Held``)."""
    rows = SkillRecord.objects.filter(target_id=target_id, member_id=member_id, competency_code__in=codes)
    held: dict[str, Held] = dict.fromkeys(codes, Held())
    fields = ("competency_code", "record", "unconfirmed", "writes", "writing", "evidence_aged_out")
    for code, record, unconfirmed, writes, writing, aged_out in rows.values_list(*fields):
        held[code] = Held(UNKNOWN if unconfirmed else record, writes, writing, aged_out)
    return held


def record_sending(
    target_id: int, member_id: str, code: str, *, number: int, writing: str, lease: str
) -> None:
    """Write ``number`` (``writing``) is about to go out: until it is answered, what the marketplace
    holds is unknown, and a retry of it is the same write. ``DeliveryBusy`` when this delivery no
    longer holds the record's lease (it ran out during a slow send before): it runs again."""
    if not SkillRecord.objects.filter(
        target_id=target_id, member_id=member_id, competency_code=code, lease_token=lease
    ).update(unconfirmed=True, writes=number, writing=writing):
        raise DeliveryBusy(f"the lease on skill record {(member_id, code)} ran out: the delivery runs again")


def record_held(
    target_id: int, member_id: str, code: str, record: dict | None, *, lease: str, seen: Held
) -> None:
    """The marketplace accepted this record (None: the deletion): the write in flight is over.
    Only while this delivery still holds the record's lease (``lease``, from ``exclusive``). One
    whose lease ran out during a slow send may have been overtaken by another delivery's write,
    answered before or after its own: which the marketplace holds last is not known, so the
    record is marked unconfirmed (the next recomputation sends whatever the evidence gives) and
    ``DeliveryBusy`` has the delivery run again, which recomputes it now.

    The record is no longer aged out if the delivery read it so (``seen``, read before the
    evidence) and the evidence it computed the record from is all still there
    (``aged_out_end``). A mark set since, or set again by a later run (it looks the same), may
    rest on evidence this record was computed from: it stays (it no longer matters once the
    evidence gives what the marketplace holds: ``recomputed`` ends it on a later delivery)."""
    key = {"target_id": target_id, "member_id": member_id, "competency_code": code}
    if not SkillRecord.objects.filter(**key, lease_token=lease).update(
        record=record, unconfirmed=False, writing="", updated_at=timezone.now()
    ):
        SkillRecord.objects.filter(**key).update(unconfirmed=True, updated_at=timezone.now())
        raise DeliveryBusy(f"the lease on skill record {(member_id, code)} ran out: the delivery runs again")
    aged_out_end(target_id, member_id, {code: seen}, lease=lease)


def recomputed(target_id: int, member_id: str, unchanged: dict[str, Held], *, lease: str) -> None:
    """These records were recomputed from the live evidence and the marketplace holds them as they
    should be (nothing sent): one retention deleted evidence of (``aged_out``) no longer rests on
    it, so it is no longer aged out (README "Retention": it stands "until a later statement of the
    member recomputes" it) and reconciliation judges it again. A write that lands clears it too
    (``record_held``). No query unless one is aged out."""
    known = {code: held for code, held in unchanged.items() if held.record is not UNKNOWN}
    aged_out_end(target_id, member_id, known, lease=lease)


def aged_out_end(target_id: int, member_id: str, seen: dict[str, Held], *, lease: str) -> None:
    """End the aged-out state of the records the delivery read aged out (``seen``) and now holds
    as computed from live evidence: only where every piece it computed the record from
    (``Held.computed_from``) is still recorded. Retention may delete some of it after the
    delivery read it; its mark is then already set, or set again to the same value, so that the
    delivery read the mark does not tell (a write computed with deleted evidence stays aged out).
    The record's row is locked first: a retention run that deleted evidence committed before
    (its deletions are seen next), or waits to mark the record until this ends (its mark stays).
    Several are locked in the one order (``adapters.models.skills.skill_records_locked``).
    No query unless one is aged out."""
    codes = sorted(code for code, held in seen.items() if held.aged_out)
    if not codes:
        return
    records = SkillRecord.objects.filter(
        target_id=target_id, member_id=member_id, competency_code__in=codes, lease_token=lease
    )
    with transaction.atomic():
        marked = list(
            skill_records_locked(records.filter(evidence_aged_out=True)).values_list(
                "competency_code", flat=True
            )
        )
        if not marked:
            return
        present = set(
            SkillEvidence.objects.filter(
                target_id=target_id, member_id=member_id, competency_code__in=marked
            ).values_list("competency_code", "statement_id")
        )
        ended = [code for code in marked if {(code, pk) for pk in seen[code].computed_from} <= present]
        if ended:
            records.filter(competency_code__in=ended).update(evidence_aged_out=False)


def _row(target_id: int, key: Key) -> None:
    """Make sure the record's row exists (it carries the lease)."""
    if SkillRecord.objects.filter(target_id=target_id, member_id=key[0], competency_code=key[1]).exists():
        return
    try:
        with transaction.atomic():
            SkillRecord.objects.create(target_id=target_id, member_id=key[0], competency_code=key[1])
    except IntegrityError:  # another delivery created it at the same moment
        pass


@contextmanager
def exclusive(target_id: int, keys: list[Key], *, seconds: float) -> Iterator[str]:
    """Hold the leases of these (member, competency) records at this target for at most
    ``seconds`` (longer than the sends can take), or raise ``DeliveryBusy`` at once if another
    delivery holds one; yields the lease's token (``record_held`` checks it)."""
    token = secrets.token_hex(16)
    taken: list[Key] = []
    try:
        for key in sorted(set(keys)):
            _row(target_id, key)
            now = timezone.now()
            won = SkillRecord.objects.filter(
                Q(lease_until__isnull=True) | Q(lease_until__lt=now),
                target_id=target_id,
                member_id=key[0],
                competency_code=key[1],
            ).update(lease_token=token, lease_until=now + timedelta(seconds=seconds))
            if not won:
                raise DeliveryBusy(f"another delivery is changing skill record(s) {keys} at this target")
            taken.append(key)
        yield token
    finally:
        for member_id, code in taken:
            SkillRecord.objects.filter(
                target_id=target_id, member_id=member_id, competency_code=code, lease_token=token
            ).update(lease_token="", lease_until=None)
