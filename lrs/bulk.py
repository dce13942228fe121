"""Bulk inserts for the statement tables.

On PostgreSQL, rows go in with ``COPY ... FROM STDIN`` (psycopg 3 ``cursor.copy``):
one round trip per table and no per-value SQL quoting, which is where a
``bulk_create`` of a 100-statement batch spends most of its time. Primary keys of
statements are reserved beforehand (``services._prelude``) so index rows and the
fan-out can refer to them. A small batch (the usual single-statement POST) goes in
with one multi-table INSERT instead: one round trip. Other databases (the SQLite quickstart) use
``bulk_create``.
https://www.psycopg.org/psycopg3/docs/basic/copy.html
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, models


def insert_tuples(model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence]) -> None:
    """Insert plain value tuples (attribute names in ``columns``) without building model instances."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create([model(**dict(zip(columns, row, strict=True))) for row in rows])
        return
    by_attname = {field.attname: field.column for field in model._meta.concrete_fields}
    quoted = ", ".join(connection.ops.quote_name(by_attname[name]) for name in columns)
    statement = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({quoted}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def insert_rows(model: type[models.Model], objs: Sequence[Any]) -> None:
    """Insert objects carrying the model's attribute names (model instances or plain rows, their
    primary keys already set, or left to the database)."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create([obj if isinstance(obj, model) else obj.as_model() for obj in objs])
        return
    with_pk = getattr(objs[0], model._meta.pk.attname) is not None
    fields = [field for field in model._meta.concrete_fields if with_pk or not field.primary_key]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    attnames = [field.attname for field in fields]
    statement = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for obj in objs:
            copy.write_row([getattr(obj, name) for name in attnames])


AGENT_COLUMNS = ("statement_id", "agent_ifi", "direct", "stored")
ACTIVITY_COLUMNS = ("statement_id", "activity_id", "direct", "stored")
# Up to this many statements go in with one multi-table INSERT (one round trip); more use COPY.
SMALL_BATCH = 10


def insert_statement_rows(
    statements: Sequence[models.Model], agent_rows: Sequence, activity_rows: Sequence
) -> None:
    """Statements and their index rows: one statement with data-modifying CTEs for a small
    batch (the single-statement POST), COPY per table for a large one."""
    from lrs.models import Statement, StatementActivity, StatementAgent

    if connection.vendor != "postgresql" or len(statements) > SMALL_BATCH:
        insert_rows(Statement, statements)
        insert_tuples(StatementAgent, AGENT_COLUMNS, agent_rows)
        insert_tuples(StatementActivity, ACTIVITY_COLUMNS, activity_rows)
        return
    fields = Statement._meta.concrete_fields
    parts: list[str] = []
    params: list = []

    def values(table: str, columns: Sequence[str], rows: Sequence[Sequence]) -> None:
        if not rows:
            return
        placeholders = ", ".join("(" + ", ".join(["%s"] * len(columns)) + ")" for _ in rows)
        quoted = ", ".join(connection.ops.quote_name(column) for column in columns)
        table_name = connection.ops.quote_name(table)
        parts.append(f"INSERT INTO {table_name} ({quoted}) VALUES {placeholders}")  # noqa: S608
        for row in rows:
            params.extend(row)

    values(
        Statement._meta.db_table,
        [field.column for field in fields],
        [[getattr(obj, field.attname) for field in fields] for obj in statements],
    )
    values(StatementAgent._meta.db_table, AGENT_COLUMNS, agent_rows)
    values(StatementActivity._meta.db_table, ACTIVITY_COLUMNS, activity_rows)
    # The statement row goes first: the index rows reference it (foreign keys are checked at
    # the end of the statement, so one statement with CTEs is fine).
    sql = (
        "WITH "
        + ", ".join(f"w{index} AS ({part})" for index, part in enumerate(parts[:-1]))
        + " "
        + parts[-1]
    )
    if len(parts) == 1:
        sql = parts[0]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
