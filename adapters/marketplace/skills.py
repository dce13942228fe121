"""The marketplace's evidence ledger and what we know the marketplace holds, per target.

``SkillEvidence`` rows record which statement evidences which member's competency at what level;
``SkillRecord`` rows the record last accepted by the marketplace. Deliveries that change the same
(member, competency) are serialised by a PostgreSQL advisory lock held while the record is
recomputed, sent and recorded, so two workers never race each other into a stale final state.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection

from adapters.base import DeliveryBusy
from adapters.models import SkillEvidence, SkillRecord
from adapters.rules.competencies import CompetencyAward
from adapters.rules.skills import Evidence
from lrs.statements.selectors import live_statement_pks
from lrs.xapi.timestamps import read_timestamp

Key = tuple[str, str]  # (member id, competency code)


def evidence_add(
    *,
    target_id: int,
    member_id: str,
    statement_pk: int,
    statement: dict[str, Any],
    awards: list[CompetencyAward],
    completed: bool,
    score: float | None,
) -> None:
    """Record what the statement evidences (idempotent: a statement evidences a competency once)."""
    timestamp = read_timestamp(statement["timestamp"])
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
            )
            for award in awards
        ],
        ignore_conflicts=True,
    )


def keys_of_statement(target_id: int, statement_pk: int) -> list[Key]:
    """The (member, competency) pairs a statement was recorded as evidence for."""
    rows = SkillEvidence.objects.filter(target_id=target_id, statement_id=statement_pk)
    return sorted(set(rows.values_list("member_id", "competency_code")))


def live_evidence(target_id: int, member_id: str, codes: list[str]) -> dict[str, list[tuple[Evidence, int]]]:
    """Per competency, the live evidence (statement still stored and not voided, read now) with
    each statement's primary key."""
    rows = list(
        SkillEvidence.objects.filter(target_id=target_id, member_id=member_id, competency_code__in=codes)
    )
    live = live_statement_pks(row.statement_id for row in rows)
    found: dict[str, list[tuple[Evidence, int]]] = {code: [] for code in codes}
    for row in rows:
        if row.statement_id in live:
            found[row.competency_code].append((_evidence(row), row.statement_id))
    return found


def _evidence(row: SkillEvidence) -> Evidence:
    return Evidence(
        statement_id=str(row.statement_uuid),
        activity_id=row.activity_id,
        level=row.level,
        timestamp=row.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        completed=row.completed,
        score=row.score,
        mapping_version=row.mapping_version,
    )


def held_records(target_id: int, member_id: str, codes: list[str]) -> dict[str, dict | None]:
    """The record the marketplace last accepted per competency (None: none, or deleted)."""
    rows = SkillRecord.objects.filter(target_id=target_id, member_id=member_id, competency_code__in=codes)
    held: dict[str, dict | None] = dict.fromkeys(codes)
    held.update(rows.values_list("competency_code", "record"))
    return held


def record_held(target_id: int, member_id: str, code: str, record: dict | None) -> None:
    SkillRecord.objects.update_or_create(
        target_id=target_id, member_id=member_id, competency_code=code, defaults={"record": record}
    )


def _lock_id(target_id: int, key: Key) -> int:
    digest = hashlib.blake2b(f"lrs-skill:{target_id}:{key[0]}:{key[1]}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


_local_locks: dict[int, threading.Lock] = {}
_local_guard = threading.Lock()


@contextmanager
def exclusive(target_id: int, keys: list[Key]) -> Iterator[None]:
    """Hold the right to change these (member, competency) records at this target, or raise
    ``DeliveryBusy`` at once if another delivery holds one. Session advisory locks on PostgreSQL
    (released if the worker dies, as its connection closes); a process lock on SQLite, where the
    quickstart runs every delivery in its one process."""
    ids = sorted({_lock_id(target_id, key) for key in keys})
    taken: list[int] = []
    try:
        for lock_id in ids:
            if not _try_lock(lock_id):
                raise DeliveryBusy(f"another delivery is changing skill record(s) {keys} at this target")
            taken.append(lock_id)
        yield
    finally:
        for lock_id in reversed(taken):
            _unlock(lock_id)


def _try_lock(lock_id: int) -> bool:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock_id])
            return bool(cursor.fetchone()[0])
    with _local_guard:
        lock = _local_locks.setdefault(lock_id, threading.Lock())
    return lock.acquire(blocking=False)


def _unlock(lock_id: int) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [lock_id])
        return
    _local_locks[lock_id].release()
