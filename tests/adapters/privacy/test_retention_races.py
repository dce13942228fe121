"""Retention against an LMS voiding one of the statements it is deleting, at the same moment, in
two transactions: neither may fail (README "Retention": runs "may overlap safely"; a voiding
statement is accepted whenever it comes, Data 2.3.2)."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone

from adapters.models import Delivery, RetentionRun, Target
from adapters.privacy import retention
from adapters.privacy.retention import Policy, apply_retention
from lrs.statements import signals
from lrs.statements.models import Statement, StatementActivity, StatementAgent
from lrs.statements.store import statement_store
from tests.adapters.helpers import voiding
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db(transaction=True)


def aged(statement_id: str, days: int = 40) -> int:
    """The statement's stored time moved ``days`` back (index rows too); its key."""
    pk = Statement.objects.get(statement_id=statement_id).id
    when = timezone.now() - timedelta(days=days)
    Statement.objects.filter(id=pk).update(stored=when)
    for model in (StatementAgent, StatementActivity):
        model.objects.filter(statement_id=pk).update(stored=when)
    return pk


class Race:
    """Retention (its own thread) and the LMS's voiding statement (another), each stopped at a
    point: retention once it has deleted the statement's deliveries and before the statement;
    the void once it marked the statement voided and wrote the retraction, before it commits."""

    def __init__(self, statement_id: str, pk: int) -> None:
        self.statement_id, self.pk = statement_id, pk
        self.deliveries_gone, self.void_holds_statement = threading.Event(), threading.Event()
        self.retention_goes_on, self.void_commits = threading.Event(), threading.Event()
        self.errors: dict[str, BaseException] = {}
        self.threads: dict[str, threading.Thread] = {}
        self.real_delete = retention.delete_statements

    def delete_statements(self, pks):
        self.deliveries_gone.set()
        self.retention_goes_on.wait(timeout=10)
        return self.real_delete(pks)

    def on_voided(self, sender, statement_pks, **kwargs) -> None:
        if self.pk in statement_pks:
            self.void_holds_statement.set()
            self.void_commits.wait(timeout=10)

    def start(self, name: str) -> None:
        def work() -> None:
            if name == "retention":
                apply_retention(policy=Policy(statement_days=30, attempt_body_days=0))
            else:
                void = voiding(self.statement_id, actor_email="admin@example.com")
                statement_store(statements=[void], credential=None)

        def run() -> None:
            try:
                work()
            except BaseException as exc:
                self.errors[name] = exc
            finally:
                connection.close()

        self.threads[name] = threading.Thread(target=run)
        self.threads[name].start()

    def join(self) -> None:
        for thread in self.threads.values():
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in self.threads.values())


@pytest.mark.parametrize("first", ["retention", "void"])
def test_a_void_of_a_statement_retention_is_deleting_neither_fails_nor_fails_retention(first):
    """Retention deletes an aged statement's delivery (delivered: settled), then the statement,
    while the LMS's voiding statement marks it voided and, in the same transaction, writes the
    retraction of that delivery, whose ``depends_on`` is checked against the delivery when the
    void commits. Each held what the other waited for (the void the statement's row, retention
    the delivery it deleted): a deadlock, and PostgreSQL aborted one, the night's retention batch
    here (or the LMS's request: a 503). Retention now skips (keeps for a later night) a
    statement another transaction holds: a void that came first keeps it (its retraction is open
    by then), one that comes later finds it gone."""
    target = Target.objects.create(name="pms", adapter="pms", config={}, enabled=False)
    [statement_id] = statement_store(
        statements=[make_statement(statement_id=str(uuid.uuid4()))], credential=None
    )
    pk = aged(statement_id)
    Delivery.objects.create(
        target=target,
        statement_id=pk,
        statement_uuid=statement_id,
        status=Delivery.DELIVERED,
        attempts=1,
        idempotency_key=f"{statement_id}:pms:deliver",
        next_attempt_at=timezone.now(),
    )
    race = Race(statement_id, pk)
    signals.statements_voided.connect(race.on_voided, dispatch_uid="test-void-holds")
    try:
        with mock.patch.object(retention, "delete_statements", race.delete_statements):
            if first == "retention":
                race.start("retention")
                assert race.deliveries_gone.wait(timeout=10)
                race.start("void")
                race.void_holds_statement.wait(timeout=2)  # (it waits while retention holds the row)
                race.retention_goes_on.set()
            else:
                race.start("void")
                assert race.void_holds_statement.wait(timeout=10)
                race.start("retention")
                race.deliveries_gone.wait(timeout=2)  # (it waits while the void holds the row)
                race.retention_goes_on.set()
            time.sleep(0.3)  # retention waits for the statement's row first: PostgreSQL aborts it
            race.void_commits.set()
            race.join()
    finally:
        signals.statements_voided.disconnect(dispatch_uid="test-void-holds")

    assert race.errors == {}, {name: repr(exc) for name, exc in race.errors.items()}
    assert RetentionRun.objects.get().error == ""
    assert Statement.objects.filter(is_voiding=True).count() == 1
    # The void first: its retraction is open, the statement kept for it; else it is gone.
    assert Statement.objects.filter(id=pk).exists() == (first == "void")
    orphans = Delivery.objects.exclude(statement_id__in=Statement.objects.values("id"))
    assert not orphans.exists(), list(orphans.values("kind", "status"))
