"""The ids behind mismatching days, in bounded memory: both sides are streamed into two temporary
tables, a page at a time, and one outer join in the database names what is missing, extra or
different. A day of a million statements costs table rows, not Python memory; only the mismatches
come back."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from django.db import connection, transaction

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
) -> Iterator[tuple[str, str, int | None, int | None, dict | None, dict | None]]:
    """``expected``: (key, content, statement pk, delivery id); ``found``: (key, content, statement
    pk). Yields (kind, key, statement pk, delivery id, expected content, found content)."""
    with transaction.atomic(), connection.cursor() as cursor:
        for table in _TABLES:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(
            "CREATE TEMPORARY TABLE lrs_recon_expected (key varchar(200) PRIMARY KEY, digest bigint, "
            "statement_pk bigint, delivery_id bigint, content text)"
        )
        cursor.execute(
            "CREATE TEMPORARY TABLE lrs_recon_found (key varchar(200) PRIMARY KEY, digest bigint, "
            "statement_pk bigint, content text)"
        )
        for chunk in _chunks(expected):
            cursor.executemany(
                "INSERT INTO lrs_recon_expected VALUES (%s, %s, %s, %s, %s)",
                [(k, _signed(record_hash(k, c)), pk, d, json.dumps(c)) for k, c, pk, d in chunk],
            )
        for chunk in _chunks(found):
            cursor.executemany(
                "INSERT INTO lrs_recon_found VALUES (%s, %s, %s, %s) ON CONFLICT (key) DO NOTHING",
                [(k, _signed(record_hash(k, c)), pk, json.dumps(c)) for k, c, pk in chunk],
            )
        cursor.execute(
            "SELECT CASE WHEN f.key IS NULL THEN 'missing' WHEN e.key IS NULL THEN 'extra'"
            " ELSE 'different' END, COALESCE(e.key, f.key), COALESCE(e.statement_pk, f.statement_pk),"
            " e.delivery_id, e.content, f.content"
            " FROM lrs_recon_expected e FULL OUTER JOIN lrs_recon_found f ON e.key = f.key"
            " WHERE e.key IS NULL OR f.key IS NULL OR e.digest <> f.digest ORDER BY 2"
        )
        for kind, key, pk, delivery_id, wanted, held in cursor:
            yield kind, key, pk, delivery_id, _loads(wanted), _loads(held)
        for table in _TABLES:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")


def _loads(text: str | None) -> dict | None:
    return json.loads(text) if text else None
