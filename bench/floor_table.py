"""The plain tables the floors insert into, shaped like a statement row (no secondary indexes)."""

from __future__ import annotations

import psycopg

RAW_FLOOR_TABLE = "bench_floor_raw"
HTTP_FLOOR_TABLE = "bench_floor_http"
INSERT_COLUMNS = (
    "statement_id",
    "payload",
    "stored",
    "timestamp",
    "verb_id",
    "actor_ifi",
    "object_id",
    "registration",
)

_DDL = """
CREATE TABLE {table} (
    id bigserial PRIMARY KEY,
    statement_id uuid NOT NULL,
    payload text NOT NULL,
    stored timestamptz NOT NULL,
    timestamp timestamptz NOT NULL,
    verb_id text NOT NULL,
    actor_ifi text,
    object_id text,
    registration uuid
)
"""


def floor_tables_create(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for table in (RAW_FLOOR_TABLE, HTTP_FLOOR_TABLE):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute(_DDL.format(table=table))
