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

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from django.db import connection, models


def _columns(model: type[models.Model], attnames: Sequence[str]) -> list[str]:
    by_attname = {field.attname: field.column for field in model._meta.concrete_fields}
    return [by_attname[name] for name in attnames]


def insert_tuples(model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence]) -> None:
    """Insert plain value tuples (attribute names in ``columns``) without building model instances."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create([model(**dict(zip(columns, row, strict=True))) for row in rows])
        return
    quoted = ", ".join(connection.ops.quote_name(column) for column in _columns(model, columns))
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


@dataclass(frozen=True)
class CompanionRows:
    """Rows another app writes together with a batch of statements (see
    ``lrs.signals.statements_storing``): plain value tuples in ``columns`` order (attribute
    names). They go into the same INSERT as the statements, or get their own COPY."""

    model: type[models.Model]
    columns: tuple[str, ...]
    rows: Sequence[Sequence]


AGENT_COLUMNS = ("statement_id", "agent_ifi", "direct", "stored")
ACTIVITY_COLUMNS = ("statement_id", "activity_id", "direct", "stored")
# Up to this many statements go in with one multi-table INSERT (one round trip); more use COPY.
SMALL_BATCH = 10


def insert_statement_rows(
    statements: Sequence[Any],
    agent_rows: Sequence,
    activity_rows: Sequence,
    companions: Sequence[CompanionRows] = (),
) -> None:
    """Statements, their index rows and companion rows: one statement with data-modifying CTEs
    for a small batch (the single-statement POST), COPY per table for a large one."""
    from lrs.models import Statement, StatementActivity, StatementAgent

    if connection.vendor != "postgresql" or len(statements) > SMALL_BATCH:
        insert_rows(Statement, statements)
        insert_tuples(StatementAgent, AGENT_COLUMNS, agent_rows)
        insert_tuples(StatementActivity, ACTIVITY_COLUMNS, activity_rows)
        for companion in companions:
            insert_tuples(companion.model, companion.columns, companion.rows)
        return
    statement_columns = tuple(field.attname for field in Statement._meta.concrete_fields)
    statement_rows = [[getattr(obj, name) for name in statement_columns] for obj in statements]
    tables = [
        (Statement, statement_columns, statement_rows),
        (StatementAgent, AGENT_COLUMNS, agent_rows),
        (StatementActivity, ACTIVITY_COLUMNS, activity_rows),
        *((companion.model, companion.columns, companion.rows) for companion in companions),
    ]
    parts: list[str] = []
    params: list = []
    for model, columns, rows in tables:
        if rows:
            parts.append(_unnest_insert(model, tuple(columns)))
            params.extend(list(column) for column in zip(*rows, strict=True))
    # The statement row goes first: the index rows reference it (foreign keys are checked at
    # the end of the statement, so one statement with CTEs is fine).
    sql = parts[-1]
    if len(parts) > 1:
        ctes = ", ".join(f"w{index} AS ({part})" for index, part in enumerate(parts[:-1]))
        sql = f"WITH {ctes} {sql}"
    _execute_bound(sql, params)


def _execute_bound(sql: str, params: Sequence) -> None:
    """Run with server-side binding: the parameters travel apart from the SQL (no client-side
    quoting of every array element) and psycopg prepares the statement once it has run a few
    times, so PostgreSQL stops planning it on every request. Django's cursors bind client-side,
    and log the query for ``CaptureQueriesContext``: this does the same."""
    connection.ensure_connection()
    started = time.monotonic()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params)
    if connection.queries_logged:
        connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})


@functools.lru_cache(maxsize=64)
def _unnest_insert(model: type[models.Model], attnames: tuple[str, ...]) -> str:
    """``INSERT ... SELECT FROM unnest(...)`` with one array parameter per column: the SQL text is
    the same whatever the number of rows, so it stays short and psycopg reuses its parsed form
    (a VALUES list with one placeholder per value made every request parse a new, long query)."""
    fields = {field.attname: field for field in model._meta.concrete_fields}
    quoted = ", ".join(connection.ops.quote_name(fields[name].column) for name in attnames)
    arrays = ", ".join(f"%s::{fields[name].cast_db_type(connection)}[]" for name in attnames)
    table = connection.ops.quote_name(model._meta.db_table)
    return f"INSERT INTO {table} ({quoted}) SELECT * FROM unnest({arrays})"  # noqa: S608
