"""Voiding looks for the voided statements' deliveries through the delivery table's index once
that table has grown, however small it was when the connection first looked (a prepared
statement's generic plan could keep a sequential scan chosen for a small table:
tests/lrs/statements/test_lookup_plans.py)."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection, transaction
from django.utils import timezone

from adapters.models import Delivery, Target
from lrs.statements.bulk import insert_tuples
from lrs.statements.models import Statement
from lrs.statements.store import statement_store
from tests.adapters.helpers import voiding
from tests.conftest import make_statement, prepared_lookups_by_array, seq_scans_in_transaction


def _store(size: int) -> list[str]:
    return statement_store(
        statements=[make_statement(statement_id=str(uuid.uuid4())) for _ in range(size)], credential=None
    )


def _void(statement_ids: list[str]) -> None:
    statement_store(statements=[voiding(statement_id) for statement_id in statement_ids], credential=None)


@pytest.mark.django_db(transaction=True)
def test_voiding_looks_for_deliveries_through_the_index_once_the_table_has_grown():
    connection.close()  # a new session: nothing prepared on it yet
    for _ in range(8):  # more than PostgreSQL's five custom plans, on an empty delivery table
        _void(_store(2))
    # The delivery table grows: 5,000 deliveries of other statements.
    target = Target.objects.create(name="hook", adapter="webhook", config={}, enabled=False)
    stored = _store(1000) + _store(1000) + _store(1000) + _store(1000) + _store(1000)
    pks = dict(Statement.objects.filter(voided=False, is_voiding=False).values_list("statement_id", "id"))
    now = timezone.now()
    insert_tuples(
        Delivery,
        ("target_id", "statement_id", "statement_uuid", "idempotency_key"),
        [(target.id, pks[uuid.UUID(text)], text, f"{text}:hook:deliver") for text in stored],
        {"kind": "deliver", "status": "pending", "attempts": 0, "next_attempt_at": now, "last_error": "",
         "held_key": "", "correlation_id": "", "created_at": now, "updated_at": now},
    )  # fmt: skip
    assert Delivery.objects.count() == 5000

    with transaction.atomic():
        before = seq_scans_in_transaction(Delivery._meta.db_table)
        _void(_store(10))  # statements that went nowhere: the lookup finds no delivery
        assert seq_scans_in_transaction(Delivery._meta.db_table) == before
    # The cause, whenever autovacuum runs: the lookup is planned for its values on every call.
    assert prepared_lookups_by_array() == []
