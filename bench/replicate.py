"""Topping the big table up in SQL when the ``statement_store`` fill hits its time cap.

Copies existing statement rows (with their agent and activity rows) under new
primary keys and statement ids, shifted to later ``stored`` times, so the copy
has the same shape and value distribution as what ``statement_store`` wrote.
A voiding statement's copy points at the copy of its target. The payload text
gets the new id; its ``stored`` property keeps the original (queries never read
it). Column lists come from the catalogue, so new nullable columns copy as-is.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg
from psycopg import sql

STATEMENT = "lrs_statement"
INDEX_TABLES = ("lrs_statementagent", "lrs_statementactivity", "lrs_statementattachment")
# Columns the copy computes instead of copying.
_STATEMENT_OVERRIDES = {
    "id": "m.new_id",
    "statement_id": "m.new_uuid",
    "payload": "replace(s.payload, s.statement_id::text, m.new_uuid::text)",
    "stored": "s.stored + %(shift)s",
    "object_statement_id": "coalesce(t.new_uuid, s.object_statement_id)",
}
_INDEX_OVERRIDES = {"statement_id": "m.new_id", "stored": "s.stored + %(shift)s"}


def _columns(conn: psycopg.Connection, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = %s ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [str(row[0]) for row in rows]


def _select_list(columns: list[str], overrides: dict[str, str]) -> sql.Composed:
    return sql.SQL(", ").join(
        sql.SQL(overrides[column]) if column in overrides else sql.SQL("s.{}").format(sql.Identifier(column))
        for column in columns
    )


def _copy_round(conn: psycopg.Connection, count: int) -> int:
    span = f"SELECT max(stored) - min(stored) + interval '1 second' FROM {STATEMENT}"
    shift_row = conn.execute(span).fetchone()
    shift = shift_row[0] if shift_row else None
    conn.execute("DROP TABLE IF EXISTS bench_copy_map")
    conn.execute(
        "CREATE TEMP TABLE bench_copy_map AS SELECT id AS old_id, statement_id AS old_uuid, "
        f"nextval(pg_get_serial_sequence('{STATEMENT}', 'id')) AS new_id, gen_random_uuid() AS new_uuid "
        f"FROM {STATEMENT} ORDER BY id LIMIT %s",
        [count],
    )
    conn.execute("CREATE INDEX ON bench_copy_map (old_uuid)")
    conn.execute("ANALYZE bench_copy_map")
    columns = _columns(conn, STATEMENT)
    conn.execute(
        sql.SQL(
            "INSERT INTO {table} ({columns}) SELECT {select} FROM bench_copy_map m "
            "JOIN {table} s ON s.id = m.old_id "
            "LEFT JOIN bench_copy_map t ON t.old_uuid = s.object_statement_id"
        ).format(
            table=sql.Identifier(STATEMENT),
            columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
            select=_select_list(columns, _STATEMENT_OVERRIDES),
        ),
        {"shift": shift},
    )
    for table in INDEX_TABLES:
        columns = [column for column in _columns(conn, table) if column != "id"]
        conn.execute(
            sql.SQL(
                "INSERT INTO {table} ({columns}) SELECT {select} FROM bench_copy_map m "
                "JOIN {table} s ON s.statement_id = m.old_id"
            ).format(
                table=sql.Identifier(table),
                columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
                select=_select_list(columns, _INDEX_OVERRIDES),
            ),
            {"shift": shift},
        )
    conn.execute("DROP TABLE bench_copy_map")
    return count


def replicate_to(url: str, total: int, log: Callable[[str], None]) -> tuple[int, float]:
    """Copy rows until the statement table holds ``total`` rows; return (rows copied, seconds)."""
    began = time.perf_counter()
    copied = 0
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            row = conn.execute(f"SELECT count(*) FROM {STATEMENT}").fetchone()
            present = int(row[0]) if row else 0
            if present == 0 or present >= total:
                break
            with conn.transaction():
                copied += _copy_round(conn, min(total - present, present))
            log(f"  replicated in SQL: {copied:,} rows so far ({time.perf_counter() - began:.0f}s)")
    return copied, time.perf_counter() - began
