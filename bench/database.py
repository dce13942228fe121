"""The bench's own throwaway PostgreSQL database: which one, and (re)creating it.

``BENCH_DATABASE_URL`` names it outright; otherwise the server of ``DATABASE_URL``
(or the local default) is used with the database ``lrs_bench``. A database whose
name does not contain ``bench`` is never dropped.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/lrs_bench"
DEFAULT_NAME = "lrs_bench"


def bench_database_url(default_name: str = DEFAULT_NAME) -> str:
    explicit = os.environ.get("BENCH_DATABASE_URL")
    if explicit:
        url = explicit
    elif os.environ.get("DATABASE_URL"):
        url = _with_database(os.environ["DATABASE_URL"], default_name)
    else:
        url = _with_database(DEFAULT_URL, default_name)
    name = database_name(url)
    if "bench" not in name:
        raise SystemExit(f"refusing to drop and recreate database {name!r}: its name must contain 'bench'")
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("the bench needs PostgreSQL (a postgres:// URL)")
    return url


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def database_recreate(url: str) -> None:
    name = database_name(url)
    maintenance = _with_database(url, "postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def server_version(url: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def vacuum_analyze(url: str, tables: tuple[str, ...]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for table in tables:
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
