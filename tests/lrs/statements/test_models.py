"""Foreign keys on the ingest path have no database constraint (lrs/statements/models.py says why); the
integrity they gave is kept by the code: rows are written together, deletes cascade in Django."""

from __future__ import annotations

import pytest
from django.db import connection

from adapters.models import Delivery, Target
from lrs.credentials.models import Credential
from lrs.statements.models import Statement, StatementActivity, StatementAgent
from lrs.statements.store import statement_store
from tests.adapters.helpers import expand_outbox
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db

INGEST_FOREIGN_KEYS = {
    ("lrs_statement", "credential_id"),
    ("lrs_statementagent", "statement_id"),
    ("lrs_statementactivity", "statement_id"),
    ("adapters_delivery", "statement_id"),
    ("adapters_delivery", "target_id"),
}


def foreign_key_constraints() -> set[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, a.attname FROM pg_constraint c "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey) "
            "WHERE c.contype = 'f'"
        )
        return set(cursor.fetchall())


def test_the_ingest_path_writes_no_row_that_a_trigger_must_check():
    constraints = foreign_key_constraints()
    assert not INGEST_FOREIGN_KEYS & constraints
    # Off the ingest path the database still checks: an attempt names its delivery.
    assert ("adapters_attempt", "delivery_id") in constraints


def test_deleting_a_statement_deletes_its_index_rows_and_deliveries(monkeypatch):
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "s3cret")
    Target.objects.create(
        name="hook",
        adapter="webhook",
        config={"url": "https://hooks.example.com/x", "secret": {"env": "TEST_WEBHOOK_SECRET"}},
    )
    statement_store(
        statements=[make_statement(), make_statement(actor_email="other@example.com")], credential=None
    )
    first, second = Statement.objects.order_by("id")
    expand_outbox()
    assert Delivery.objects.count() == 2
    first.delete()
    assert set(StatementAgent.objects.values_list("statement_id", flat=True)) == {second.id}
    assert set(StatementActivity.objects.values_list("statement_id", flat=True)) == {second.id}
    assert list(Delivery.objects.values_list("statement_id", flat=True)) == [second.id]


def test_deleting_a_target_deletes_its_deliveries(monkeypatch):
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "s3cret")
    target = Target.objects.create(
        name="hook",
        adapter="webhook",
        config={"url": "https://hooks.example.com/x", "secret": {"env": "TEST_WEBHOOK_SECRET"}},
    )
    statement_store(statements=[make_statement()], credential=None)
    expand_outbox()
    assert Delivery.objects.count() == 1
    target.delete()
    assert Delivery.objects.count() == 0 and Statement.objects.count() == 1


def test_deleting_a_credential_keeps_its_statements_without_it():
    credential = Credential.objects.create(name="lms", key="k", scopes=["all"])
    statement_store(statements=[make_statement()], credential=credential)
    credential.delete()
    assert Statement.objects.get().credential_id is None
