"""lrs.statements.bulk: the COPY text the large-batch path writes, and the JSON rows of the
small-batch path."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from lrs.statements.bulk import _copy_json, _copy_lines, _copy_text, _copy_value, insert_new_rows
from lrs.statements.models import Statement, StatementAgent
from lrs.statements.selectors import statements_by_pk
from lrs.statements.store import statement_store
from tests.conftest import make_statement

AWKWARD = 'tab\there, new\nline, cr\rhere, back\\slash, quote " and ü'


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "\\N"),
        (True, "t"),
        (False, "f"),
        (42, "42"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC), "2026-01-02T03:04:05.678000+00:00"),
        ("plain", "plain"),
        ("a\tb\nc\rd\\e", "a\\tb\\nc\\rd\\\\e"),
    ],
)
def test_values_are_written_in_copy_text_format(value, text):
    assert _copy_value(value) == text


@pytest.mark.parametrize(
    ("special", "escaped"), [("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")]
)
def test_each_character_copy_text_escapes_is_escaped_alone_anywhere_in_a_long_value(special, escaped):
    payload = '{"a":"' + "x" * 1000 + '"}'
    for at in (0, 500, len(payload)):
        value = payload[:at] + special + payload[at:]
        assert _copy_text(value) == payload[:at] + escaped + payload[at:]
    assert _copy_text(payload) is payload  # nothing to escape: the value itself


def test_copy_lines_write_each_column_by_its_field_type_and_end_with_the_shared_columns():
    columns = ("id", "statement_id", "verb_id", "actor_ifi", "registration", "credential_id", "voided",
               "timestamp")  # fmt: skip
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    rows = [
        (7, uuid.UUID(int=1), "https://v\\erb", None, None, None, False, moment),
        (8, uuid.UUID(int=2), "tab\there", "mailto:a@b", uuid.UUID(int=3), 5, True, moment),
    ]
    text = _copy_lines(Statement, columns)(rows, "\tSHARED\n")
    assert text.splitlines() == [
        "7\t00000000-0000-0000-0000-000000000001\thttps://v\\\\erb\t\\N\t\\N\t\\N\tf\t"
        "2026-01-02T03:04:05+00:00\tSHARED",
        "8\t00000000-0000-0000-0000-000000000002\ttab\\there\tmailto:a@b\t"
        "00000000-0000-0000-0000-000000000003\t5\tt\t2026-01-02T03:04:05+00:00\tSHARED",
    ]


def test_copy_lines_refuse_a_row_with_the_wrong_number_of_values():
    with pytest.raises(ValueError, match="unpack"):
        _copy_lines(StatementAgent, ("statement_id", "agent_ifi", "direct"))([(1, "mailto:a@b")], "\n")


def test_json_columns_are_written_as_compact_json_in_copy_text_format():
    assert _copy_json([1, 2]) == "[1,2]"
    assert _copy_json({"note": "tab\there"}) == '{"note":"tab\\\\there"}'  # JSON's \t, then COPY's
    assert _copy_json(None) == "\\N"


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


def test_a_value_of_an_unknown_type_is_refused_not_guessed():
    with pytest.raises(TypeError, match="float"):
        _copy_value(1.5)


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
