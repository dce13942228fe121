"""The same-schema floor: COPY of exactly the rows the store wrote, into tables with the same
columns, indexes and constraints, with no Python work between them and PostgreSQL.

Right after the batch-100 POST test, the rows it stored are read back, per statement: the
statement row and its agent and activity index rows (``TABLES``; the main bench configures no
target, so the store writes no outbox row), grouped in batches of 100 statements, kept in
binary COPY format.
Copies of those tables (``CREATE TABLE ... (LIKE ... INCLUDING ALL)``: columns, defaults,
indexes, constraints), holding first the rows the real tables held when the batch test began
(every statement stored before it), receive them again: per batch one transaction with one
``COPY FROM STDIN`` per table, from as many threads (own connections) as the HTTP clients. Each row
is copied once, so unique indexes hold as in the real tables. What the store adds above this floor
is its own overhead (HTTP, validation, Python, round trips), not the schema's.

Why filled first: the store writes into tables that already hold the earlier rows, whose indexes
are deeper and wider; the same COPY into empty copies cost 15-35 % less PostgreSQL CPU per
statement (scratch runs, 2026-12-05, 20,000 statements after 100,000), so a floor measured on
empty tables charged part of the schema's cost to the store.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import psycopg

# (table, column naming the statement): every table a stored statement writes rows into.
TABLES = (
    ("lrs_statement", "id"),
    ("lrs_statementagent", "statement_id"),
    ("lrs_statementactivity", "statement_id"),
)
SHADOW_PREFIX = "bench_copy_"

Batch = list[tuple[str, bytes]]  # (table, binary COPY data) for one batch of statements


def _existing(conn: psycopg.Connection, table: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0]


def last_stored_pks(conninfo: str, statements: int) -> list[int]:
    """The primary keys of the ``statements`` most recently stored statements, oldest first."""
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT id FROM lrs_statement ORDER BY id DESC LIMIT %s", (statements,)
        ).fetchall()
    return [row[0] for row in reversed(rows)]


def capture_rows(conninfo: str, pks: Sequence[int], batch_size: int = 100) -> list[Batch]:
    """The rows of these statements (``pks`` in order), in batches."""
    batches: list[Batch] = []
    with psycopg.connect(conninfo) as conn:
        for start in range(0, len(pks), batch_size):
            chunk = list(pks[start : start + batch_size])
            batch: Batch = []
            for table, column in TABLES:
                buffer = bytearray()
                query = f"COPY (SELECT * FROM {table} WHERE {column} = ANY(%s)) TO STDOUT (FORMAT BINARY)"
                with conn.cursor().copy(query, (chunk,)) as copy:
                    for data in copy:
                        buffer += data
                batch.append((table, bytes(buffer)))
            batches.append(batch)
    return batches


def create_shadow_tables(conninfo: str, *, filled_below: int | None = None) -> None:
    """Same-schema copies of ``TABLES``; with ``filled_below``, holding the rows of every statement
    whose primary key is below it (what the real tables held before the batch test)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for table, column in TABLES:
            if _existing(conn, table):
                conn.execute(f"DROP TABLE IF EXISTS {SHADOW_PREFIX}{table}")
                conn.execute(f"CREATE TABLE {SHADOW_PREFIX}{table} (LIKE {table} INCLUDING ALL)")
                if filled_below is not None:
                    conn.execute(
                        f"INSERT INTO {SHADOW_PREFIX}{table} SELECT * FROM {table} WHERE {column} < %s",
                        (filled_below,),
                    )


def drop_shadow_tables(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for table, _ in TABLES:
            conn.execute(f"DROP TABLE IF EXISTS {SHADOW_PREFIX}{table}")


def copy_rate(conninfo: str, batches: Sequence[Batch], *, threads: int) -> tuple[int, float]:
    """COPY every batch once into the shadow tables; (statements copied, seconds)."""
    with psycopg.connect(conninfo) as conn:
        held_before = conn.execute(f"SELECT count(*) FROM {SHADOW_PREFIX}lrs_statement").fetchone()[0]
    lock = threading.Lock()
    counter = iter(range(len(batches)))

    def worker() -> None:
        with psycopg.connect(conninfo) as conn:
            while True:
                with lock:
                    index = next(counter, None)
                if index is None:
                    break
                with conn.transaction():
                    for table, data in batches[index]:
                        with conn.cursor().copy(
                            f"COPY {SHADOW_PREFIX}{table} FROM STDIN (FORMAT BINARY)"
                        ) as copy:
                            copy.write(data)

    started = time.perf_counter()
    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    seconds = time.perf_counter() - started
    # The last batch may hold fewer statements: count the statement rows copied.
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(f"SELECT count(*) FROM {SHADOW_PREFIX}lrs_statement").fetchone()[0]
    return rows - held_before, seconds
