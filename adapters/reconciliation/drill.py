"""The ids behind mismatching days, in bounded memory: both sides are streamed into two temporary
tables, a page at a time, and joins in the database name what is missing, extra or different. A
day of a million statements costs table rows, not Python memory; only the mismatches come back."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from django.db import connection

from adapters.reconciliation.tally import record_hash

CHUNK = 1000
_TABLES = ("lrs_recon_expected", "lrs_recon_found")


def _chunks(rows: Iterable[tuple], size: int = CHUNK) -> Iterator[list[tuple]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _signed(value: int) -> int:  # the 64-bit hash as PostgreSQL's (signed) bigint
    return value - (1 << 64) if value >= 1 << 63 else value


def mismatched_keys(
    expected: Iterable[tuple[str, dict[str, Any] | None, int, int | None]],
    found: Iterable[tuple[str, dict[str, Any], int | None]],
) -> list[tuple[str, str, int | None, int | None, dict | None, dict | None]]:
    """``expected``: (key, content, statement pk, delivery id); ``found``: (key, content, statement
    pk). Returns (kind, key, statement pk, delivery id, expected content, found content) for each
    key missing, extra or different; a key the target holds twice is "extra" with the expected
    content (the repair replaces its records with one).

    The tables are filled statement by statement in autocommit (no transaction held open while the
    target is read back: none of the store's readers or writers waits for it), and the comparison
    is two LEFT JOINs (portable to SQLite older than 3.39, which has no FULL OUTER JOIN)."""
    with connection.cursor() as cursor:
        try:
            for table in _TABLES:
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
            cursor.execute(
                "CREATE TEMPORARY TABLE lrs_recon_expected (key varchar(200) PRIMARY KEY, digest bigint, "
                "statement_pk bigint, delivery_id bigint, content text)"
            )
            cursor.execute(
                "CREATE TEMPORARY TABLE lrs_recon_found (key varchar(200), digest bigint, "
                "statement_pk bigint, content text)"
            )
            for chunk in _chunks(expected):
                cursor.executemany(
                    "INSERT INTO lrs_recon_expected VALUES (%s, %s, %s, %s, %s)",
                    [(k, _signed(record_hash(k, c)), pk, d, json.dumps(c)) for k, c, pk, d in chunk],
                )
            for chunk in _chunks(found):
                cursor.executemany(
                    "INSERT INTO lrs_recon_found VALUES (%s, %s, %s, %s)",
                    [(k, _signed(record_hash(k, c)), pk, json.dumps(c)) for k, c, pk in chunk],
                )
            cursor.execute("CREATE INDEX lrs_recon_found_key ON lrs_recon_found (key)")
            cursor.execute(_COMPARE)
            return [
                (kind, key, pk, delivery_id, _loads(wanted), _loads(held))
                for kind, key, pk, delivery_id, wanted, held in cursor.fetchall()
            ]
        finally:
            for table in _TABLES:
                cursor.execute(f"DROP TABLE IF EXISTS {table}")


# Found grouped per key (a key held twice is extra); then expected LEFT JOIN found (missing,
# different, held twice) and found LEFT JOIN expected (extra).
_COMPARE = """
WITH f AS (
    SELECT key, MIN(digest) AS low, MAX(digest) AS high, COUNT(*) AS held,
           MIN(statement_pk) AS statement_pk, MIN(content) AS content
    FROM lrs_recon_found GROUP BY key
)
SELECT CASE WHEN f.key IS NULL THEN 'missing' WHEN f.held > 1 THEN 'extra' ELSE 'different' END,
       e.key, e.statement_pk, e.delivery_id, e.content, f.content
FROM lrs_recon_expected e LEFT JOIN f ON e.key = f.key
WHERE f.key IS NULL OR f.held > 1 OR e.digest <> f.low OR f.low <> f.high
UNION ALL
SELECT 'extra', f.key, f.statement_pk, NULL, NULL, f.content
FROM f LEFT JOIN lrs_recon_expected e ON e.key = f.key
WHERE e.key IS NULL
ORDER BY 2
"""


def _loads(text: str | None) -> dict | None:
    return json.loads(text) if text else None
