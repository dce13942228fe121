"""The raw PostgreSQL floor: psycopg ``executemany`` of 100-row batches, one transaction per batch.

The rows are the same statements the HTTP batch test sends (JSON payload plus
the columns a statement row carries), into the plain ``bench_floor_raw`` table.
Several threads, each with its own connection, as many as the HTTP clients.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg

from bench.floor_table import INSERT_COLUMNS, RAW_FLOOR_TABLE

Row = tuple[Any, ...]


def statement_row(statement: dict[str, Any]) -> Row:
    context = statement.get("context") or {}
    now = datetime.now(UTC)
    return (
        statement["id"],
        json.dumps(statement, separators=(",", ":")),
        now,
        statement.get("timestamp") or now,
        statement["verb"]["id"],
        statement["actor"].get("mbox"),
        statement["object"].get("id"),
        context.get("registration"),
    )


def raw_insert_rate(
    conninfo: str, batches: Sequence[Sequence[Row]], *, threads: int, max_seconds: float, max_batches: int
) -> tuple[int, float]:
    """Insert up to ``max_batches`` batches (cycling through ``batches``; the table has no unique key)
    or as many as fit in ``max_seconds``; return (rows, seconds)."""
    placeholders = ", ".join(["%s"] * len(INSERT_COLUMNS))
    query = f"INSERT INTO {RAW_FLOOR_TABLE} ({', '.join(INSERT_COLUMNS)}) VALUES ({placeholders})"
    lock = threading.Lock()
    counter = iter(range(max_batches))
    inserted = [0]
    started = time.perf_counter()
    deadline = started + max_seconds

    def worker() -> None:
        rows = 0
        with psycopg.connect(conninfo) as conn:
            while time.perf_counter() < deadline:
                with lock:
                    index = next(counter, None)
                if index is None:
                    break
                batch = batches[index % len(batches)]
                with conn.transaction(), conn.cursor() as cursor:
                    cursor.executemany(query, batch)
                rows += len(batch)
        with lock:
            inserted[0] += rows

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return inserted[0], time.perf_counter() - started
