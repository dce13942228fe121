"""A delivery ending the aged-out state of a member's records (``skills.aged_out_end``), retention
marking the records whose evidence it deletes (``retention.delete_batch``) and an erasure deleting
the mirror rows of an erased member's revoked records (``per_target.forget_revoked_records``) each
lock several skill records in one transaction. Taken in different orders, two of them deadlock
(PostgreSQL detects it and aborts one: a failed retention batch, a delivery run again, an erasure
finished a minute later). All must take them in one order, that of their primary keys.

Which order each takes depends on its query plan (an index scan walks the unique key, a
sequential scan the rows as stored), so a deadlock between the two is not reproducible at will on
a small test table. What is tested is the order each takes its locks in: with the first record in
key order locked elsewhere, each waits for it holding no other. Every other order is made the
reverse of the key order (the competency codes, the evidence, the rows as stored), so that any
plan meets the second record first."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from django.db import OperationalError, connection, connections, transaction

from adapters.marketplace import skills
from adapters.models import SkillEvidence, SkillRecord, Target
from adapters.privacy import per_target, retention
from lrs.statements.models import Statement
from lrs.statements.store import statement_store
from tests.conftest import make_statement
from tests.lrs.concurrency.threads import POSTGRESQL_ONLY

pytestmark = [pytest.mark.django_db(transaction=True), POSTGRESQL_ONLY]
LEASE = "a" * 32
CODES = ("SAFETY-B", "SAFETY-A")  # in key order: the second code first
OUT_OF_ORDER = "it locked the second record in key order while it waited for the first"


@pytest.fixture
def records() -> list[SkillRecord]:
    """Two aged-out records of one member, in key order, each with evidence of one statement:
    the second's code first, its evidence written first, its row stored first."""
    target = Target.objects.create(name="market", adapter="marketplace", config={})
    [statement_id] = statement_store(statements=[make_statement()], credential=None)
    pk = Statement.objects.get(statement_id=statement_id).id
    rows = [
        SkillRecord.objects.create(
            target=target, member_id="E100", competency_code=code, evidence_aged_out=True, lease_token=LEASE
        )
        for code in CODES
    ]
    for code in reversed(CODES):
        SkillEvidence.objects.create(
            target=target,
            member_id="E100",
            competency_code=code,
            statement_id=pk,
            statement_uuid=uuid.UUID(statement_id),
            activity_id="https://lms.example.com/courses/safety-101",
            level=3,
            completed=True,
            timestamp=datetime(2026, 3, 1, tzinfo=UTC),
            mapping_version="2026.1",
        )
    SkillRecord.objects.filter(pk=rows[0].pk).update(writes=1)  # its new version is stored last
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {SkillRecord._meta.db_table} ORDER BY ctid")
        assert [row[0] for row in cursor.fetchall()] == [rows[1].pk, rows[0].pk]
    return rows


def _waiting_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def _locked_elsewhere(pk: int) -> bool:
    try:
        with transaction.atomic():
            list(SkillRecord.objects.select_for_update(nowait=True).filter(pk=pk))
    except OperationalError:
        return True
    return False


def _held_while_waiting_for_the_first(
    first: SkillRecord, second: SkillRecord, call: Callable[[], object]
) -> bool:
    """Whether ``call``, waiting for ``first`` (locked by another transaction), holds ``second``."""
    locked, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def holder() -> None:
        try:
            with transaction.atomic():
                list(SkillRecord.objects.select_for_update().filter(pk=first.pk))
                locked.set()
                release.wait(20)
        finally:
            connections.close_all()

    def worker() -> None:
        try:
            call()
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=holder), threading.Thread(target=worker)]
    threads[0].start()
    try:
        assert locked.wait(10)
        threads[1].start()
        deadline = time.monotonic() + 10
        while not _waiting_for_a_lock():
            assert time.monotonic() < deadline, "the call never waited for the locked record"
            time.sleep(0.05)
        held = _locked_elsewhere(second.pk)
    finally:
        release.set()
        for thread in threads:
            thread.join(20)
    assert not errors, errors
    return held


def test_ending_aged_out_records_locks_them_in_key_order(records):
    first, second = records
    seen = {code: skills.Held(aged_out=True) for code in CODES}
    end = lambda: skills.aged_out_end(first.target_id, "E100", seen, lease=LEASE)  # noqa: E731
    assert not _held_while_waiting_for_the_first(first, second, end), OUT_OF_ORDER


def test_retention_marking_aged_out_records_locks_them_in_key_order(records):
    first, second = records
    pk = SkillEvidence.objects.values_list("statement_id", flat=True).first()
    batch = lambda: retention.delete_batch([pk])  # noqa: E731
    assert not _held_while_waiting_for_the_first(first, second, batch), OUT_OF_ORDER


def test_an_erasure_forgetting_revoked_records_locks_them_in_key_order(records):
    first, second = records
    SkillEvidence.objects.all().delete()  # erased: neither record is evidenced or held any more
    keys = {(first.target_id, "E100", code) for code in CODES}
    forget = lambda: per_target.forget_revoked_records(keys)  # noqa: E731
    assert not _held_while_waiting_for_the_first(first, second, forget), OUT_OF_ORDER
    assert not SkillRecord.objects.exists()  # both forgotten once the first was free
