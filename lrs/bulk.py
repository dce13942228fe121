"""Bulk inserts for the statement tables.

On PostgreSQL, rows go in with ``COPY ... FROM STDIN`` (psycopg 3 ``cursor.copy``):
one round trip per table and no per-value SQL quoting, which is where a
``bulk_create`` of a 100-statement batch spends most of its time. Primary keys of
statements are reserved first (``nextval`` over ``generate_series``) so index rows
and the fan-out can refer to them. Other databases (the SQLite quickstart) use
``bulk_create``.
https://www.psycopg.org/psycopg3/docs/basic/copy.html
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, models


def reserve_ids(model: type[models.Model], count: int) -> list[int]:
    """``count`` fresh primary keys from the model's sequence (PostgreSQL)."""
    if count == 0:
        return []
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, count]
        )
        return [row[0] for row in cursor.fetchall()]


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


def insert_rows(model: type[models.Model], objs: Sequence[models.Model]) -> None:
    """Insert model instances (their primary keys already set, or left to the database)."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs)
        return
    with_pk = objs[0].pk is not None
    fields = [field for field in model._meta.concrete_fields if with_pk or not field.primary_key]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    attnames = [field.attname for field in fields]
    statement = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for obj in objs:
            copy.write_row([getattr(obj, name) for name in attnames])
