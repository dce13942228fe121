"""Bulk inserts for the statement tables (and the rows other apps write with them).

On PostgreSQL a large batch goes in with binary ``COPY ... FROM STDIN``: one round trip per table,
no SQL quoting, and values in the server's own binary form, which psycopg writes in C
(``write_row`` with the column types set) and PostgreSQL reads without parsing text: a stored
statement's three COPYs cost the server about 37 us in binary against 43 us as COPY text (same rows
from a file, warm, three rounds each; the statement row's timestamps and uuids are most of it),
and the client no more than formatting that text did. A small batch (the usual single-statement
POST) goes in with one multi-table INSERT instead, one round trip, its rows travelling as JSON (see
``_json_insert``). Primary keys of statements are reserved beforehand (``store._prelude``) so
index rows and the fan-out can refer to them. Other databases (the SQLite quickstart) use
``bulk_create``.
https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4 (binary format)
"""

from __future__ import annotations

import functools
import operator
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
from django.db import connection, models
from psycopg import sql as psycopg_sql
from psycopg.types.json import set_json_dumps
from psycopg.types.uuid import UUIDBinaryDumper

from lrs.statements.models import Statement

# Up to this many statements go in with one multi-table INSERT (one round trip); more use COPY.
SMALL_BATCH = 10
# A transaction storing statements says so before it reads its ``stored`` time: its
# ``application_name`` (for the transaction only: ``set_config(..., true)``, reported to
# ``pg_stat_activity`` at once). ``selectors.consistent_through`` waits for those alone, not for any
# other write held open (an erasure, a retention run, a worker's claim).
STORING_APPLICATION_NAME = "lrs: storing statements"
STORING_MARK = f"set_config('application_name', '{STORING_APPLICATION_NAME}', true)"
# How long a transaction storing statements may sit idle between two of its queries: then
# PostgreSQL ends its session, rolling the batch back (its client gets an error and sends it
# again). It never should: its queries run back to back. But ``consistent_through`` waits for it,
# so one left open (a stuck thread of a threaded web worker, a hung call inside it, a frozen host
# whose connection no FIN closes, which TCP keepalive notices after hours) held every backfill
# and every ascending page of the API until it ended. As gunicorn's worker timeout (30 s), which
# no request comes near.
STORING_IDLE_LIMIT = "30s"


def storing_mark() -> str:
    """The mark (``STORING_MARK``) for a transaction about to store statements, with the idle
    limit (``STORING_IDLE_LIMIT``) for that transaction alone (``set_config(..., true)``) when it
    is the outermost one: inside a caller's (tests; no caller in production) the limit would
    outlive the batch, to the caller's commit."""
    if len(connection.atomic_blocks) != 1:
        return STORING_MARK
    limit = f"set_config('idle_in_transaction_session_timeout', '{STORING_IDLE_LIMIT}', true)"
    return f"{STORING_MARK}, {limit}"


@dataclass(frozen=True)
class CompanionRows:
    """Rows another app writes together with a batch of statements (see
    ``lrs.statements.signals.statements_storing``): plain value tuples in ``columns`` order (attribute
    names), plus ``constants``: columns with the same value in every row. They go into the
    same INSERT as the statements, or get their own COPY. ``after_write`` is called once they
    are written, inside the storing transaction (or right after the single SQL statement that
    wrote them committed): the place to register ``transaction.on_commit`` hooks."""

    model: type[models.Model]
    columns: tuple[str, ...]
    rows: Sequence[Sequence]
    constants: Mapping[str, Any] = field(default_factory=dict)
    after_write: Callable[[], None] | None = None


def insert_tuples(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Sequence[Sequence],
    constants: Mapping[str, Any] | None = None,
) -> None:
    """Insert plain value tuples (attribute names in ``columns``, plus ``constants`` for every
    row) without building model instances. Each value is of its column's Python type (a uuid
    column also takes the validated text of one)."""
    if not rows:
        return
    constants = constants or {}
    if connection.vendor != "postgresql":
        objs = [model(**dict(zip(columns, row, strict=True)), **constants) for row in rows]
        model.objects.bulk_create(objs)
        return
    copy = _binary_copy(model, (*columns, *constants))
    shared = tuple(constants.values())
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.adapters.register_dumper(None, _UUIDOrTextBinaryDumper)
        if copy.has_json:
            set_json_dumps(orjson.dumps, cursor)  # C speed; the standard library's otherwise
        with cursor.copy(copy.sql) as writer:
            writer.set_types(copy.type_oids)
            write_row = writer.write_row
            if shared:
                for row in rows:
                    write_row((*row, *shared))
            else:
                for row in rows:
                    write_row(row)


class _UUIDOrTextBinaryDumper(UUIDBinaryDumper):
    """A uuid column's value from a ``UUID`` or from its validated text (8-4-4-4-12 hex digits,
    either case; ``rows.StatementRow.registration``), which is not parsed into a ``UUID`` first:
    that cost more than the rest of writing the row."""

    def dump(self, obj: uuid.UUID | str) -> bytes:
        if type(obj) is str:
            return bytes.fromhex(obj.replace("-", ""))
        return obj.bytes


@dataclass(frozen=True)
class _BinaryCopy:
    sql: str
    type_oids: tuple[int, ...]
    has_json: bool


_binary_copies: dict[tuple[str, str, tuple[str, ...]], _BinaryCopy] = {}


def _binary_copy(model: type[models.Model], attnames: tuple[str, ...]) -> _BinaryCopy:
    """The ``COPY ... FROM STDIN (FORMAT BINARY)`` of these columns and their types, read from
    the catalogue once per database, table and column list (binary values must be of the
    column's exact type)."""
    key = (connection.settings_dict["NAME"], model._meta.db_table, attnames)
    copy = _binary_copies.get(key)
    if copy is None:
        columns = db_columns(model, attnames)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT a.atttypid, a.atttypid IN ('json'::regtype, 'jsonb'::regtype) "
                "FROM unnest(%s::text[]) WITH ORDINALITY AS c(name, position) "
                "JOIN pg_attribute a ON a.attrelid = %s::regclass AND a.attname = c.name "
                "ORDER BY c.position",
                [columns, model._meta.db_table],
            )
            types = cursor.fetchall()
        if len(types) != len(columns):
            raise ValueError(f"{model._meta.db_table} lacks some of the columns {columns}")
        quote = connection.ops.quote_name
        copy = _binary_copies[key] = _BinaryCopy(
            sql=f"COPY {quote(model._meta.db_table)} ({', '.join(map(quote, columns))}) "
            "FROM STDIN (FORMAT BINARY)",
            type_oids=tuple(oid for oid, _json in types),
            has_json=any(is_json for _oid, is_json in types),
        )
    return copy


def insert_statement_rows(
    statements: Sequence[Any], tables: Sequence[CompanionRows] = (), shared: Mapping[str, Any] | None = None
) -> None:
    """Statements (rows carrying the model's attribute names), then their index rows and the
    rows of other apps: one statement with data-modifying CTEs for a small batch (the
    single-statement POST), COPY per table for a large one. ``shared``: columns with the same
    value in every statement (a batch's ``stored``), written once rather than per row."""
    shared = shared or {}
    statement_columns = _statement_columns(tuple(shared))
    values = operator.attrgetter(*statement_columns)
    statement_rows = [values(obj) for obj in statements]
    tables = [CompanionRows(Statement, statement_columns, statement_rows, shared), *tables]
    if connection.vendor != "postgresql" or len(statements) > SMALL_BATCH:
        for table in tables:
            insert_tuples(table.model, table.columns, table.rows, table.constants)
        return
    parts: list[str] = []
    params: list[str] = []
    for table in tables:
        if table.rows:
            sql, columns_in_db = _json_insert(table.model, (*table.columns, *table.constants))
            parts.append(sql)
            params.append(rows_json(columns_in_db, table.rows, tuple(table.constants.values())))
    # The statement row goes first: the index rows reference it.
    sql = parts[-1]
    if len(parts) > 1:
        ctes = ", ".join(f"w{index} AS ({part})" for index, part in enumerate(parts[:-1]))
        sql = f"WITH {ctes} {sql}"
    execute_prepared(sql, params)


@functools.lru_cache(maxsize=8)
def _statement_columns(shared: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(field.attname for field in Statement._meta.concrete_fields if field.attname not in shared)


def db_columns(model: type[models.Model], attnames: Sequence[str]) -> list[str]:
    """The database column names of these model attributes."""
    by_attname = {field.attname: field.column for field in model._meta.concrete_fields}
    return [by_attname[name] for name in attnames]


def rows_json(columns: Sequence[str], rows: Sequence[Sequence], constants: tuple) -> str:
    """Rows (plus the same ``constants`` appended to each) as a JSON array of objects keyed by
    ``columns``: the parameter ``json_to_recordset`` reads."""
    records = [dict(zip(columns, (*row, *constants), strict=True)) for row in rows]
    return orjson.dumps(records).decode()  # it writes datetimes (RFC 3339) and UUIDs itself


def insert_new_rows(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Sequence[Sequence],
    constants: Mapping[str, Any] | None = None,
) -> list[Any]:
    """PostgreSQL only: insert plain value tuples in one statement, leaving out any row that
    would break a unique constraint (``ON CONFLICT DO NOTHING``); returns the primary keys of
    the rows it inserted (Django's ``bulk_create(ignore_conflicts=True)`` returns none)."""
    if not rows:
        return []
    constants = constants or {}
    sql, columns_in_db = _json_insert(model, (*columns, *constants))
    pk = connection.ops.quote_name(model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"{sql} ON CONFLICT DO NOTHING RETURNING {pk}",
            [rows_json(columns_in_db, rows, tuple(constants.values()))],
        )
        return [row[0] for row in cursor.fetchall()]


def execute_prepared(sql: str, params: Sequence) -> tuple | None:
    """Run on the ingest path's hot queries: a prepared statement with server-side binding (the
    values travel apart from the SQL, no client-side quoting), so PostgreSQL parses and plans it
    once per connection instead of on every request (unless ``LRS_DB_PREPARED_STATEMENTS`` is
    off). Django's cursors bind client-side and prepare nothing; like them, this logs the query
    for ``CaptureQueriesContext``. Returns the first row, if the statement returns rows."""
    return _execute(sql, params, prepare=True)


def execute_planned(sql: str, params: Sequence) -> tuple | None:
    """Like ``execute_prepared`` (server-side binding, logged, the first row), but planned on
    every call for its values: for lookups by ``= ANY(array)``, whose best plan depends on the
    array's length and on the table's size.

    A prepared statement's generic plan assumes ten elements and keeps the table size PostgreSQL
    saw when it made the plan. Made on a new LRS's empty statement table, the batch's id lookup
    stayed a sequential scan of the whole table for every batch, for the connection's life
    (``CONN_MAX_AGE``, 60 s) unless the table was vacuumed or analyzed meanwhile (this bench
    host runs PostgreSQL with autovacuum off): in the bench, nearly 40 % of the machine's CPU
    during batch ingest. Planning anew costs a few microseconds per statement of a batch.
    https://www.postgresql.org/docs/current/sql-prepare.html#SQL-PREPARE-NOTES"""
    return _execute(sql, params, prepare=False)


def _execute(sql: str, params: Sequence, *, prepare: bool) -> tuple | None:
    connection.ensure_connection()
    started = time.monotonic()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=prepare)
        # Not ``cursor.description``: it builds a column object per column on every call.
        returned_rows = (
            cursor.pgresult is not None and cursor.pgresult.status == psycopg.pq.ExecStatus.TUPLES_OK
        )
        row = cursor.fetchone() if returned_rows else None
    if connection.queries_logged:
        connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return row


@functools.lru_cache(maxsize=64)
def _json_insert(model: type[models.Model], attnames: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """``INSERT ... SELECT FROM json_to_recordset(%s)``: the rows of a table travel as one JSON
    parameter. The SQL text is the same whatever the number of rows and has one parameter per
    table, so psycopg keeps its parsed form (it re-parses any query over 50 parameters or 4 kB,
    which a VALUES list with one placeholder per value was) and PostgreSQL plans it once per
    connection. Returns the SQL and the column names the JSON objects carry."""
    return json_insert_select(model, attnames), tuple(db_columns(model, attnames))


def json_insert_select(
    model: type[models.Model],
    travelling: Sequence[str],
    computed: Mapping[str, str] | None = None,
    *,
    also_from: str = "",
    where: str = "",
) -> str:
    """``INSERT ... SELECT`` of the rows in one JSON parameter (``json_to_recordset``, alias ``r``;
    ``travelling``: the attributes its objects carry), with ``computed`` columns (attname -> SQL
    expression) in place of travelling ones or added, and optionally more FROM items and a
    WHERE condition."""
    computed = computed or {}
    quote = connection.ops.quote_name
    fields = {field.attname: field for field in model._meta.concrete_fields}
    names = [*travelling, *(name for name in computed if name not in travelling)]
    columns = ", ".join(quote(fields[name].column) for name in names)
    values = ", ".join(computed.get(name, f"r.{quote(fields[name].column)}") for name in names)
    record = ", ".join(
        f"{quote(fields[name].column)} {fields[name].cast_db_type(connection)}" for name in travelling
    )
    sources = f"{also_from + ', ' if also_from else ''}json_to_recordset(%s::json) AS r({record})"
    return (
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) SELECT {values} "  # noqa: S608 (names from the models)
        f"FROM {sources}{' WHERE ' + where if where else ''}"
    )


_sequence_literals: dict[str, str] = {}


def statement_id_sequence() -> str:
    """The statement id sequence as a ``regclass`` literal, looked up once per database.

    ``nextval(pg_get_serial_sequence(...))`` looked the sequence up in the catalogue for every id
    reserved: 0.7 ms for a batch of 100 against 0.1 ms with the literal (EXPLAIN ANALYZE).
    """
    name = connection.settings_dict["NAME"]
    literal = _sequence_literals.get(name)
    if literal is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence('lrs_statement', 'id')")
            (sequence,) = cursor.fetchone()
        quoted = psycopg_sql.Literal(sequence).as_string(connection.connection)
        literal = _sequence_literals[name] = f"{quoted}::regclass"
    return literal
