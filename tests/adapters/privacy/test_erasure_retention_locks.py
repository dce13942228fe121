"""An erasure finishing (``finish_erasures``) while retention deletes the same statement (the
erased person's, also past its retention period), in two transactions at once: neither may fail.

Retention locks the statement's deliveries (``retention_kept.still_needed``), then deletes their
attempts, the deliveries, the marketplace evidence (locking the skill records first) and the
statement. The erasure's finish must take the locks they share in the same order, else each holds
what the other waits for and PostgreSQL aborts one (a failed retention batch, or an erasure left
retracting until the next sweep, its inline call failing).

Retention is stopped, by a pause where it has locked the deliveries and judged the statement,
until the erasure waits for a lock; then it goes on."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import OperationalError, connection, connections, transaction
from django.utils import timezone

from adapters.base import DELIVER, RETRACT
from adapters.models import Attempt, Delivery, ErasureRequest, SkillEvidence, SkillRecord, Target
from adapters.privacy import retention
from adapters.privacy.erasure import finish_erasures
from lrs.statements.models import Statement
from lrs.statements.store import statement_store
from tests.conftest import make_statement
from tests.lrs.concurrency.threads import POSTGRESQL_ONLY

pytestmark = [pytest.mark.django_db(transaction=True), POSTGRESQL_ONLY]


def _erased_statement(mode: str, *, evidence: bool = True) -> tuple[int, ErasureRequest]:
    """A statement of an erased person (E100) whose erasure has retracted everything and is
    ready to finish: its delivery and retraction made (an attempt each); at the marketplace
    (``evidence``), its evidence flagged erased, the record it evidenced revoked there, else at
    the PMS. Stored 40 days ago."""
    adapter = "marketplace" if evidence else "pms"
    target = Target.objects.create(name=adapter, adapter=adapter, config={}, enabled=False)
    statement_id = str(uuid.uuid4())
    statement_store(statements=[make_statement(statement_id=statement_id)], credential=None)
    pk = Statement.objects.get(statement_id=statement_id).id
    aged = timezone.now() - timedelta(days=40)
    Statement.objects.filter(id=pk).update(stored=aged, voided=mode == ErasureRequest.DELETE)
    now = timezone.now()
    for kind in (DELIVER, RETRACT):
        delivery = Delivery.objects.create(
            target=target,
            statement_id=pk,
            statement_uuid=statement_id,
            kind=kind,
            status=Delivery.DELIVERED,
            attempts=1,
            idempotency_key=f"{statement_id}:{adapter}:{kind}",
            next_attempt_at=now,
            # A first try that failed: its error text is the person's data the erasure scrubs.
            last_error="HTTP 503 for learner@example.com" if kind == DELIVER else "",
        )
        Attempt.objects.create(delivery=delivery, number=1, started_at=now, outcome=Attempt.SUCCESS)
    request = ErasureRequest.objects.create(
        requested_by="dpo",
        mode=mode,
        subject_hash="e100",
        statement_pks=[pk],
        status=ErasureRequest.RETRACTING,
    )
    if not evidence:
        return pk, request
    SkillEvidence.objects.create(
        target=target,
        member_id="E100",
        competency_code="SAFETY-A",
        statement_id=pk,
        statement_uuid=uuid.UUID(statement_id),
        activity_id="https://lms.example.com/courses/safety-101",
        level=3,
        completed=True,
        timestamp=datetime(2026, 3, 1, tzinfo=UTC),
        mapping_version="2026.1",
        erased_at=now,
    )
    SkillRecord.objects.create(target=target, member_id="E100", competency_code="SAFETY-A", record=None)
    return pk, request


def _waiting_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.parametrize("mode", [ErasureRequest.DELETE, ErasureRequest.PSEUDONYMISE])
def test_an_erasure_finishing_while_retention_deletes_its_statement_neither_fails(monkeypatch, mode):
    # At the PMS: one with marketplace evidence flagged erased retention keeps for the erasure.
    pk, request = _erased_statement(mode, evidence=False)
    judged, go_on = threading.Event(), threading.Event()
    real_dead_retractions = retention.dead_retractions

    def judged_then_pause(pks: list[int]) -> set[int]:
        judged.set()  # the statement's deliveries are locked, the statement judged free to go
        go_on.wait(20)
        return real_dead_retractions(pks)

    monkeypatch.setattr(retention, "dead_retractions", judged_then_pause)
    errors: dict[str, BaseException] = {}
    done: dict[str, object] = {}

    def run(name: str, call) -> None:
        try:
            done[name] = call()
        except BaseException as exc:  # reported below
            errors[name] = exc
        finally:
            connections.close_all()

    threads = {
        "retention": threading.Thread(target=run, args=("retention", lambda: retention.delete_batch([pk]))),
        "erasure": threading.Thread(target=run, args=("erasure", lambda: finish_erasures())),
    }
    threads["retention"].start()
    try:
        assert judged.wait(10)
        threads["erasure"].start()
        deadline = time.monotonic() + 10
        while not _waiting_for_a_lock() and threads["erasure"].is_alive():
            assert time.monotonic() < deadline, "the erasure never waited for retention's locks"
            time.sleep(0.05)
    finally:
        go_on.set()
        for thread in threads.values():
            thread.join(30)
    assert not any(thread.is_alive() for thread in threads.values())

    assert errors == {}, {name: repr(exc) for name, exc in errors.items()}
    request.refresh_from_db()
    assert request.status == ErasureRequest.DONE
    assert not Statement.objects.filter(id=pk).exists()  # retention's, or the erasure's (delete mode)
    assert not Delivery.objects.exists() and not Attempt.objects.exists()


@pytest.mark.parametrize("mode", [ErasureRequest.DELETE, ErasureRequest.PSEUDONYMISE])
def test_an_erasure_finishing_locks_the_erased_records_before_their_evidence(mode):
    """The one lock order (``models.skills.skill_records_locked``): skill records, then their
    evidence, as retention deleting evidence takes them. With the erased member's record locked
    elsewhere, the finish waits for it holding none of its evidence (in the style of
    ``tests/adapters/marketplace/test_aged_out_lock_order.py``)."""
    pk, request = _erased_statement(mode)
    record = SkillRecord.objects.get()
    locked, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def holder() -> None:
        try:
            with transaction.atomic():
                list(SkillRecord.objects.select_for_update().filter(pk=record.pk))
                locked.set()
                release.wait(20)
        finally:
            connections.close_all()

    def finisher() -> None:
        try:
            finish_erasures()
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=holder), threading.Thread(target=finisher)]
    threads[0].start()
    try:
        assert locked.wait(10)
        threads[1].start()
        deadline = time.monotonic() + 10
        while not _waiting_for_a_lock():
            assert time.monotonic() < deadline, "the finish never waited for the locked record"
            time.sleep(0.05)
        try:
            with transaction.atomic():
                list(SkillEvidence.objects.select_for_update(nowait=True).filter(statement_id=pk))
            evidence_held = False
        except OperationalError:
            evidence_held = True
    finally:
        release.set()
        for thread in threads:
            thread.join(20)
    assert not errors, errors
    assert not evidence_held, "the finish deleted the evidence, then waited for its record"
    request.refresh_from_db()
    assert request.status == ErasureRequest.DONE
    assert not SkillEvidence.objects.exists() and not SkillRecord.objects.exists()


@pytest.mark.parametrize("mode", [ErasureRequest.DELETE, ErasureRequest.PSEUDONYMISE])
def test_retention_between_the_retractions_and_the_finish_leaves_no_record_of_the_erased_member(mode):
    """The erasure's retractions settled; before the sweep finishes it (within a minute),
    retention deletes the statement. The finish finds the records to forget by the erased
    evidence: deleted by retention, the erased member's revoked record stayed for good, its row
    naming them (and marked aged out). An erasure under way keeps its statements from retention:
    it deletes (or pseudonymises) them itself when it finishes."""
    pk, request = _erased_statement(mode)
    retention.delete_batch([pk])
    finish_erasures()

    assert list(SkillRecord.objects.values_list("member_id", flat=True)) == []
    assert not SkillEvidence.objects.exists()
    request.refresh_from_db()
    assert request.status == ErasureRequest.DONE
    # Kept for it, pseudonymised: retention deletes it on a later night, as any other.
    assert Statement.objects.filter(id=pk).exists() == (mode == ErasureRequest.PSEUDONYMISE)
