"""lrs.statements.bulk: the binary COPY the large-batch path writes, and the JSON rows of the
small-batch path."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from django.db import transaction

from lrs.statements.bulk import insert_new_rows, insert_tuples
from lrs.statements.models import Statement, StatementAgent
from lrs.statements.selectors import statements_by_pk
from lrs.statements.store import statement_store
from tests.conftest import make_statement

AWKWARD = 'tab\there, new\nline, cr\rhere, back\\slash, quote " and ü'


def _statement_values(**overrides) -> dict:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    values = {"statement_id": uuid.uuid4(), "payload": AWKWARD, "timestamp": moment,
              "version": "1.0.3", "verb_id": "https://v\\erb", "actor_ifi": None, "object_type": "Activity",
              "object_activity_id": "https://a", "object_agent_ifi": None, "object_statement_id": None,
              "registration": None, "authority_ifi": None, "credential_id": None, "is_voiding": False,
              "voided": True}  # fmt: skip
    return {**values, **overrides}


@pytest.mark.django_db
def test_binary_copy_writes_each_value_as_its_column_type_and_the_shared_columns_in_every_row():
    stored = datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC)
    registration = uuid.uuid4()
    first = _statement_values(registration=registration, credential_id=5, object_statement_id=uuid.uuid4())
    # A uuid column also takes the statement's validated text, in either case, as it came.
    second = _statement_values(registration=str(registration).upper(), actor_ifi="mailto:a@b", voided=False)
    columns = tuple(first)
    insert_tuples(Statement, columns, [tuple(first.values()), tuple(second.values())], {"stored": stored})
    for values in (first, second):
        row = Statement.objects.get(statement_id=values["statement_id"])
        expected = {**values, "registration": registration, "stored": stored}
        assert {name: getattr(row, name) for name in expected} == expected


@pytest.mark.django_db
def test_binary_copy_writes_json_columns_as_compact_json():
    from adapters.models.deliveries import OutboxBatch

    created = datetime(2026, 1, 2, tzinfo=UTC)
    columns = ("id", "statement_pks", "last_statement_pk", "target_ids")
    insert_tuples(
        OutboxBatch,
        columns,
        [(7, [1, 2], 2, [{"note": AWKWARD}])],
        {"correlation_id": "", "created_at": created},
    )
    batch = OutboxBatch.objects.get(id=7)
    assert (batch.statement_pks, batch.target_ids, batch.created_at) == ([1, 2], [{"note": AWKWARD}], created)


@pytest.mark.django_db
def test_binary_copy_refuses_a_row_with_the_wrong_number_of_values_and_a_value_of_another_type():
    with pytest.raises(psycopg.DataError), transaction.atomic():
        insert_tuples(StatementAgent, ("statement_id", "agent_ifi", "direct"), [(1, "mailto:a@b")])
    with pytest.raises((TypeError, psycopg.DataError)), transaction.atomic():
        insert_tuples(StatementAgent, ("statement_id", "agent_ifi", "direct"), [("one", "mailto:a@b", True)])
    assert not StatementAgent.objects.exists()


@pytest.mark.django_db
def test_insert_new_rows_leaves_out_rows_a_unique_constraint_refuses_and_returns_the_new_keys():
    from django.utils import timezone

    from adapters.models import Delivery, Target

    target = Target.objects.create(name="hook", adapter="webhook", config={})
    [first, second] = statement_store(statements=[make_statement(), make_statement()], credential=None)
    pks = dict(Statement.objects.values_list("statement_id", "id"))
    now = timezone.now()
    constants = {"kind": "deliver", "status": "pending", "attempts": 0, "next_attempt_at": now,
                 "last_error": "", "held_key": "", "correlation_id": "",
                 "created_at": now, "updated_at": now}  # fmt: skip
    columns = ("target_id", "statement_id", "statement_uuid", "idempotency_key")

    def row(statement_id: str) -> tuple:
        return (target.id, pks[uuid.UUID(statement_id)], statement_id, f"{statement_id}:hook:deliver")

    [existing] = insert_new_rows(Delivery, columns, [row(first)], constants)
    new = insert_new_rows(Delivery, columns, [row(first), row(second)], constants)
    assert len(new) == 1 and new[0] != existing
    assert sorted(Delivery.objects.values_list("id", flat=True)) == sorted([existing, *new])


@pytest.mark.django_db
@pytest.mark.parametrize("size", [1, 25], ids=["small batch (json)", "large batch (copy)"])
def test_awkward_characters_survive_both_insert_paths(size):
    statements = []
    for _ in range(size):
        statement = make_statement(actor_email="o'brien@example.com")
        statement["actor"]["name"] = AWKWARD
        statement["object"]["definition"]["description"] = {"en-US": AWKWARD}
        statements.append(statement)
    ids = statement_store(statements=statements, credential=None)
    pks = list(Statement.objects.filter(statement_id__in=ids).values_list("id", flat=True))
    for stored in statements_by_pk(pks):
        assert stored["actor"]["name"] == AWKWARD
        assert stored["object"]["definition"]["description"]["en-US"] == AWKWARD
        assert stored["actor"]["mbox"] == "mailto:o'brien@example.com"


@pytest.mark.django_db
def test_a_small_batch_is_one_prepared_insert_whatever_its_row_counts():
    from django.db import connection

    # Rows travel as one JSON parameter per table, so batches of different sizes share one
    # statement text, which PostgreSQL plans once per connection.
    for size in (1, 3, 7):
        statement_store(statements=[make_statement() for _ in range(size)], credential=None)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), sum(generic_plans + custom_plans) FROM pg_prepared_statements "
            "WHERE statement LIKE 'WITH w0 AS (INSERT INTO \"lrs_statement\"%%'"
        )
        statements, executions = cursor.fetchone()
    assert statements == 1 and executions == 3
