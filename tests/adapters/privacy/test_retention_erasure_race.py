"""Retention deleting a statement (``retention.delete_batch``) while an erasure of its actor is
made (``erasure.erase_subject``), in two transactions at once; the statement past its retention
period and delivered to the marketplace (its evidence recorded, the member's record held).
Neither may fail, and the end must be that of one after the other: retention first (the erasure
finds nothing of the statement: README "Retention"), or the erasure first (retention keeps the
statement for it: ``retention_kept.still_needed``, and the erasure forgets the member's records).

Retention judges a batch in steps: it locks the deliveries, reads which statements an erasure
under way flagged, then locks the statements it may delete (``SKIP LOCKED``), then deletes. It is
stopped at one of those points (``PAUSES``) until the erasure has committed or waits for one of
its locks; then it goes on.

- Before its statement lock (it read the evidence unflagged): the erasure cannot commit there.
  Its retraction depends on the delivery retention holds (a deferred foreign key, checked at the
  commit), so its commit waits for retention; and retention skips the statement the erasure has
  locked, keeping it.
- Once retention holds the statement, or has deleted the evidence: the erasure flagged the
  evidence (or waits to) and wrote its retraction before it locks the statement, so retention
  and the erasure each wait for the other (PostgreSQL aborts one), or retention deletes the
  original delivery the uncommitted retraction depends on (the erasure's commit fails).

The same windows for a void (safe: it locks the statement first) and for reconciliation's repair
of a marketplace record (it must lock the deliveries before the records, as retention does)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, connections
from django.utils import timezone

from adapters.base import DELIVER
from adapters.delivery import queue
from adapters.delivery.drain import delivery_send
from adapters.models import Delivery, ErasureRequest, SkillEvidence, SkillRecord, Target
from adapters.privacy import erasure, retention
from adapters.privacy.erasure import erase_subject, finish_erasures
from adapters.privacy.subjects import subject_for
from adapters.reconciliation.repair import repair_mismatches
from adapters.reconciliation.run import Mismatch
from adapters.registry import adapter_for
from lrs.statements.models import Statement, StatementActivity, StatementAgent
from lrs.statements.store import statement_store
from tests.adapters.helpers import scored_completion, voiding
from tests.lrs.concurrency.threads import POSTGRESQL_ONLY

pytestmark = [pytest.mark.django_db(transaction=True), POSTGRESQL_ONLY]
TIMEOUT = 20  # seconds; a thread still running then is a hang, reported by the test


def _aged(statement_id: str, days: int = 40) -> int:
    """The statement's stored time moved ``days`` back (its index rows too); its key."""
    pk = Statement.objects.get(statement_id=statement_id).id
    when = timezone.now() - timedelta(days=days)
    Statement.objects.filter(id=pk).update(stored=when)
    for model in (StatementAgent, StatementActivity):
        model.objects.filter(statement_id=pk).update(stored=when)
    return pk


def _waiting_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


# Where retention is stopped: before its statement lock (it has locked the deliveries and read
# the flagged evidence); once it has judged the statement free to go, holding its lock, before
# deleting anything; and once it has deleted the deliveries and the evidence, before the statement.
BEFORE_STATEMENT_LOCK, BEFORE_DELETES, BEFORE_STATEMENT_DELETE = (
    "statement lock",
    "deletes",
    "statement delete",
)
PAUSES = (BEFORE_STATEMENT_LOCK, BEFORE_DELETES, BEFORE_STATEMENT_DELETE)


class Race:
    """Retention's batch in a thread of its own, stopped at ``pause`` (if any) until ``go`` is
    set, and the other party in another thread."""

    def __init__(self, pk: int, pause: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pk, self.pause = pk, pause
        self.reached, self.go = threading.Event(), threading.Event()
        self.errors: dict[str, BaseException] = {}
        self.threads: dict[str, threading.Thread] = {}
        self.retention_counts: Counter[str] = Counter()
        if pause == BEFORE_DELETES:
            monkeypatch.setattr(
                retention,
                "voiding_statements_holding_targets",
                self._after(retention.voiding_statements_holding_targets),
            )
        elif pause == BEFORE_STATEMENT_DELETE:
            monkeypatch.setattr(retention, "delete_statements", self._before(retention.delete_statements))

    def _stop(self) -> None:
        if threading.current_thread() is self.threads["retention"] and not self.reached.is_set():
            self.reached.set()
            self.go.wait(TIMEOUT)

    def _before(self, call: Callable[..., Any]) -> Callable[..., Any]:
        def stopped_first(*args: Any, **kwargs: Any) -> Any:
            self._stop()
            return call(*args, **kwargs)

        return stopped_first

    def _after(self, call: Callable[..., Any]) -> Callable[..., Any]:
        def stopped_after(*args: Any, **kwargs: Any) -> Any:
            result = call(*args, **kwargs)
            self._stop()
            return result

        return stopped_after

    def _statement_lock(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        if "SKIP LOCKED" in sql:  # the statements' lock (``retention_kept.still_needed``)
            self._stop()
        return execute(sql, params, many, context)

    def _retention(self) -> None:
        if self.pause == BEFORE_STATEMENT_LOCK:
            with connection.execute_wrapper(self._statement_lock):
                self.retention_counts = retention.delete_batch([self.pk])
        else:
            self.retention_counts = retention.delete_batch([self.pk])

    def start(self, name: str, call: Callable[[], object]) -> None:
        def run() -> None:
            try:
                call()
            except BaseException as exc:  # reported by the test
                self.errors[name] = exc
            finally:
                connections.close_all()

        self.threads[name] = threading.Thread(target=run)
        self.threads[name].start()

    def run(self, name: str, call: Callable[[], object]) -> dict[str, BaseException]:
        """Retention until it stops; ``call`` until it ends or waits for a lock; then both on."""
        self.start("retention", self._retention)
        try:
            assert self.reached.wait(TIMEOUT), f"retention never came to its {self.pause}"
            self.start(name, call)
            deadline = time.monotonic() + TIMEOUT
            while self.threads[name].is_alive() and not _waiting_for_a_lock():
                assert time.monotonic() < deadline, f"the {name} neither ended nor waited for retention"
                time.sleep(0.05)
        finally:
            self.go.set()
            for thread in self.threads.values():
                thread.join(TIMEOUT)
        assert not any(thread.is_alive() for thread in self.threads.values()), "a thread hung"
        return self.errors


@pytest.mark.parametrize("pause", PAUSES)
@pytest.mark.parametrize("mode", [ErasureRequest.DELETE, ErasureRequest.PSEUDONYMISE])
def test_an_erasure_made_while_retention_deletes_its_statement_ends_as_one_after_the_other(
    market_target, mode, pause, monkeypatch
):
    [statement_id] = statement_store(statements=[scored_completion(0.95)], credential=None)
    held = market_target.skills()
    assert set(held) == {("E100", "SAFETY-BASICS")}
    pk = _aged(statement_id)

    erase = lambda: erase_subject(subject_for(employee_id="E100"), mode=mode, requested_by="dpo")  # noqa: E731
    race = Race(pk, pause, monkeypatch)
    errors = race.run("erasure", erase)
    finish_erasures()  # the sweep's, a minute later

    assert errors == {}, {name: repr(exc) for name, exc in errors.items()}
    assert list(ErasureRequest.objects.values_list("status", flat=True)) == [ErasureRequest.DONE]
    assert not SkillEvidence.objects.exists()
    assert not Delivery.objects.exclude(status__in=[Delivery.DELIVERED, Delivery.CANCELLED]).exists()
    if race.retention_counts["statements_deleted"]:
        # Retention first: the erasure found nothing of the statement, but the record it left at
        # the marketplace (aged out) by its mirror row, and revoked it at its finish
        # (``per_target.revoke_unevidenced``), forgetting the row.
        assert market_target.skills() == {}
        assert list(SkillRecord.objects.values_list("member_id", flat=True)) == []
    else:
        # The erasure first: retention kept the statement for it (flagged evidence, or locked by
        # it), and the erasure retracted the record and forgot its mirror row.
        assert race.retention_counts["statements_kept_open"] == 1
        assert market_target.skills() == {}
        assert list(SkillRecord.objects.values_list("member_id", flat=True)) == []
        assert Statement.objects.filter(id=pk).exists() == (mode == ErasureRequest.PSEUDONYMISE)


@pytest.mark.parametrize("mode", [ErasureRequest.DELETE, ErasureRequest.PSEUDONYMISE])
def test_retention_waiting_for_an_erasure_s_delivery_locks_keeps_the_statement_for_its_retraction(
    pms_target, mode, monkeypatch
):
    """The other way round, at the PMS (no evidence to flag): the erasure holds the statement's
    deliveries and has written its retraction when retention's batch comes to them; retention
    waits for it to commit. The retraction is a row retention's wait did not show it (new since
    its query began): retention must still see it, keep the statement, and leave the retraction
    to take the PMS's event away."""
    [statement_id] = statement_store(statements=[scored_completion(0.95)], credential=None)
    assert len(pms_target.events()) == 1
    pk = _aged(statement_id)
    due: list[int] = []  # the retraction, queued as a broker would, run after the race
    monkeypatch.setattr(queue, "after_commit", lambda ids: due.extend(ids))
    written, commit = threading.Event(), threading.Event()
    real_entries = erasure._target_entries

    def entries_then_wait(*args: Any) -> Any:  # its last step before the commit
        written.set()
        commit.wait(TIMEOUT)
        return real_entries(*args)

    monkeypatch.setattr(erasure, "_target_entries", entries_then_wait)
    race = Race(pk, None, monkeypatch)  # retention not stopped: the erasure is
    erase = lambda: erase_subject(subject_for(employee_id="E100"), mode=mode, requested_by="dpo")  # noqa: E731
    race.start("erasure", erase)
    try:
        assert written.wait(TIMEOUT), "the erasure never wrote its retraction"
        race.start("retention", lambda: race.retention_counts.update(retention.delete_batch([pk])))
        deadline = time.monotonic() + TIMEOUT
        while not _waiting_for_a_lock():
            assert time.monotonic() < deadline, "retention never waited for the erasure's locks"
            time.sleep(0.05)
    finally:
        commit.set()
        for thread in race.threads.values():
            thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in race.threads.values()), "a thread hung"
    for delivery_id in due:
        delivery_send(delivery_id)
    finish_erasures()  # the sweep's

    assert race.errors == {}, {name: repr(exc) for name, exc in race.errors.items()}
    assert race.retention_counts["statements_kept_open"] == 1
    assert pms_target.events() == {}
    assert list(ErasureRequest.objects.values_list("status", flat=True)) == [ErasureRequest.DONE]


@pytest.mark.parametrize("pause", PAUSES)
def test_a_void_stored_while_retention_deletes_its_target_ends_as_one_after_the_other(
    pms_target, pause, monkeypatch
):
    """The same window for a void (no erasure): the LMS voids the statement, delivered to the
    PMS, while retention judges it. A void locks the statement it voids before it writes the
    retraction, and the retraction's commit waits for the original's lock (a deferred foreign
    key): it is safe at every point, without the erasure's delivery lock."""
    [statement_id] = statement_store(statements=[scored_completion(0.95)], credential=None)
    assert len(pms_target.events()) == 1
    pk = _aged(statement_id)
    void = lambda: statement_store(statements=[voiding(statement_id)], credential=None)  # noqa: E731
    race = Race(pk, pause, monkeypatch)
    errors = race.run("void", void)

    assert errors == {}, {name: repr(exc) for name, exc in errors.items()}
    assert not Delivery.objects.exclude(status__in=[Delivery.DELIVERED, Delivery.CANCELLED]).exists()
    if race.retention_counts["statements_deleted"]:
        # Retention first: the void reaches no target (README "Retention").
        assert len(pms_target.events()) == 1
    else:
        assert race.retention_counts["statements_kept_open"] == 1
        assert pms_target.events() == {}


def test_a_marketplace_repair_of_a_record_retention_is_deleting_evidence_of_fails_neither(
    market_target, monkeypatch
):
    """Reconciliation's repair of the member's record (``repair._rewrite_records``: what we
    believe the marketplace holds forgotten, the statement's delivery run again) while retention
    deletes that statement, stopped once it holds the statement's deliveries and the statement.
    The repair must take its locks in the one order (``models.skills.skill_records_locked``:
    deliveries, then records), as retention does, or each waits for the other."""
    [statement_id] = statement_store(statements=[scored_completion(0.95)], credential=None)
    pk = _aged(statement_id)
    target = Target.objects.get(name="market")
    mismatch = Mismatch(kind="different", key="E100/SAFETY-BASICS", statement_pk=pk, repair_kind=DELIVER)
    monkeypatch.setattr(queue, "after_commit", lambda ids: None)  # the run's sends are not the point
    repair = lambda: repair_mismatches(target, adapter_for(target.adapter, target.config), [mismatch], 1)  # noqa: E731
    race = Race(pk, BEFORE_DELETES, monkeypatch)
    errors = race.run("repair", repair)

    assert errors == {}, {name: repr(exc) for name, exc in errors.items()}
    assert race.retention_counts["statements_deleted"] == 1  # retention first: it held the locks
