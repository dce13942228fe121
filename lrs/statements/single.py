"""One new statement in one round trip (PostgreSQL): the fast path of ``statement_store``.

The general path costs a single-statement POST five round trips to PostgreSQL: Django's
connection health check, ``BEGIN``, the prelude (``stored`` time, ids already stored, primary
keys, canonical activity definitions), the multi-table ``INSERT`` and ``COMMIT``. A round trip
costs the web process more CPU than validating the statement does (bench/README.md), so the
common case is written with ONE SQL statement in autocommit instead; PostgreSQL runs a single
statement as a transaction of its own, so the statement, its index rows and the rows other apps
write with it (``lrs.statements.signals.statements_storing``) still commit or roll back together:
https://www.postgresql.org/docs/current/queries-with.html#QUERIES-WITH-MODIFYING

What the prelude read is known, or checked, without a round trip of its own:

* **Primary keys** come from a per-process pool of ids reserved from the statement sequence,
  refilled by the statement that uses them (and by the general path's prelude).
* **``stored``** is read from the database clock inside the statement, after the transaction has
  taken its id (a ``MATERIALIZED`` CTE calls ``pg_current_xact_id()`` first), which is what keeps
  ``X-Experience-API-Consistent-Through`` honest (``selectors.consistent_through``). The
  statement as stored carries a random placeholder where ``stored`` (and a missing
  ``timestamp``) goes, which the same SQL statement replaces.
* **An id already stored** makes the insert do nothing (``ON CONFLICT DO NOTHING``); the general
  path then compares the statements (same: no-op; different: 409), told to look the id up first
  (``ID_TAKEN``) rather than find it stored by a failed write of its own.
* **Activity definitions**: the fast path applies only when every activity of the statement is
  in this process's cache of canonical definitions and the statement would not change any of
  them (``lrs.activities.definitions.definition_changes``); the statement checks that the cached
  definitions are still the stored ones and writes nothing otherwise.

* **A voiding statement stored before it** (Data 2.3.2: the statement is voided whichever came
  first): the statement checks that none names the id, and writes nothing otherwise.

Everything else goes the general path: batches, attachments, voiding statements, unknown
activities, statements voided before they came, SQLite. A fast attempt that writes nothing costs
one round trip and falls back.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import threading
import uuid
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
from django.db import connection, models, transaction

from lrs.activities.definitions import definition_changes
from lrs.activities.models import Activity
from lrs.credentials import scopes
from lrs.credentials.current import CredentialChanged, still_current_params, still_current_sql
from lrs.credentials.models import Credential
from lrs.statements.bulk import (
    STORING_MARK,
    CompanionRows,
    db_columns,
    execute_prepared,
    json_insert_select,
    rows_json,
    statement_id_sequence,
)
from lrs.statements.models import Statement
from lrs.statements.rows import (
    StatementRow,
    companion_rows,
    complete_statement,
    index_tables,
    is_voiding,
    run_after_write,
    statement_row,
)
from lrs.statements.signals import statements_stored
from lrs.xapi.json_types import compact_json

# Ids taken from the statement sequence per refill, and the level under which a fast write asks
# for the next ones (in its own statement: no extra round trip).
ID_BLOCK = 32
REFILL_BELOW = 8
# Canonical definitions remembered per process; past this the cache starts again empty.
DEFINITIONS_CACHED = 20_000


class StoredInDatabase:
    """Marks a column whose value is the ``stored`` time read inside the SQL statement."""

    def __repr__(self) -> str:
        return "STORED_IN_DATABASE"


STORED_IN_DATABASE = StoredInDatabase()


class _IdPool:
    """Primary keys reserved from the statement sequence, per database, shared by the threads of
    a process (``deque`` appends and pops are atomic)."""

    def __init__(self) -> None:
        self._ids: dict[str, deque[int]] = {}

    def _mine(self) -> deque[int]:
        return self._ids.setdefault(connection.settings_dict["NAME"], deque())

    def take(self) -> int | None:
        try:
            return self._mine().popleft()
        except IndexError:
            return None

    def wanted(self) -> int:
        """How many ids the next statement should reserve for the pool (0: enough left)."""
        return ID_BLOCK if len(self._mine()) < REFILL_BELOW else 0

    def add(self, ids: Sequence[int]) -> None:
        self._mine().extend(ids)

    def forget(self) -> None:
        """Drop the ids held (after an insert refused one, e.g. a sequence reset in tests)."""
        self._mine().clear()


class _DefinitionCache:
    """Canonical activity definitions as last read from the database, per database."""

    def __init__(self) -> None:
        self._by_database: dict[str, dict[str, dict]] = {}
        self._lock = threading.Lock()

    def _mine(self) -> dict[str, dict]:
        return self._by_database.setdefault(connection.settings_dict["NAME"], {})

    def remember(self, definitions: Mapping[str, dict | None]) -> None:
        with self._lock:
            mine = self._mine()
            if len(mine) + len(definitions) > DEFINITIONS_CACHED:
                mine.clear()
            mine.update({activity_id: definition or {} for activity_id, definition in definitions.items()})

    def known(self, activity_ids: Sequence[str]) -> dict[str, dict] | None:
        """The cached definitions of all these activities, or None if one is not cached."""
        mine = self._mine()
        try:
            return {activity_id: mine[activity_id] for activity_id in activity_ids}
        except KeyError:
            return None

    def clear(self) -> None:
        with self._lock:
            self._mine().clear()

    def drop(self, activity_ids: Iterable[str]) -> None:
        with self._lock:
            mine = self._mine()
            for activity_id in activity_ids:
                mine.pop(activity_id, None)


id_pool = _IdPool()
definition_cache = _DefinitionCache()


def stored_placeholder() -> str:
    """A random string that stands for ``stored`` in the statement until the SQL replaces it."""
    return f"@stored:{uuid.uuid4().hex}@"


class Single(enum.Enum):
    """What ``store_single`` did: wrote the statement, or left it to the general path, which then
    looks its id up before writing when the id (or the key drawn for it) was found taken, or
    named by a stored voiding statement."""

    WRITTEN = "written"
    DECLINED = "declined"
    ID_TAKEN = "id taken"


def store_single(
    statement: dict,
    statement_id: uuid.UUID,
    *,
    credential: Credential | None,
    version: str,
    definitions: dict[str, dict | None],
) -> Single:
    """Write one new statement (validated) with one SQL statement, or leave it, unwritten, to the
    general path. ``definitions``: its activities' definitions (``collect_definitions``)."""
    if connection.vendor != "postgresql" or is_voiding(statement):
        return Single.DECLINED
    can_define = credential is None or credential.allows(scopes.DEFINE)
    cached = definition_cache.known(sorted(definitions))
    if cached is None or any(
        definition_changes(cached[activity_id], definition, can_define=can_define)
        for activity_id, definition in definitions.items()
    ):
        return Single.DECLINED
    pk = id_pool.take()
    if pk is None:
        return Single.DECLINED
    placeholder = stored_placeholder()
    completed = complete_statement(
        statement,
        statement_id=str(statement_id),
        stored=placeholder,
        authority=credential.authority if credential is not None else None,
        request_version=version,
    )
    row = statement_row(completed, statement_id, stored=None, credential=credential, stored_later=placeholder)
    row.id = pk
    tables = [*index_tables([row], [completed], STORED_IN_DATABASE), *companion_rows([row], [completed])]
    # Django checks a reused connection before the first query of a request (CONN_HEALTH_CHECKS);
    # the raw cursor below would skip that.
    connection.close_if_health_check_failed()
    # Inside a caller's transaction, a savepoint: a failing statement must not leave it aborted.
    with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
        written = _write(
            row={name: getattr(row, name) for name in StatementRow.__slots__},
            placeholder=placeholder,
            guarded_definitions=cached,
            companions=tables,
            credential=credential,
        )
        if written is not Single.WRITTEN:
            return written
        run_after_write(tables)
        statements_stored.send(sender=Statement, statement_pks=[pk])
    return Single.WRITTEN


def _write(
    *,
    row: Mapping[str, Any],
    placeholder: str,
    guarded_definitions: Mapping[str, dict],
    companions: Sequence[CompanionRows],
    credential: Credential | None,
) -> Single:
    """Insert one statement row (``row``: the ``Statement`` columns by attribute name; ``stored``
    is ignored, ``timestamp`` None takes ``stored``) with its companion rows in one SQL statement,
    if the canonical definitions in the database are still ``guarded_definitions``, no stored
    voiding statement names the statement's id, and its id and primary key are new; and the
    ``credential`` (maybe cached by this process) is still stored unchanged and active, else
    nothing is written and ``CredentialChanged`` raised (``lrs.credentials.current``)."""
    tables = [table for table in companions if table.rows]
    sql = _single_insert_sql(tuple((table.model, _shape(table)) for table in tables), statement_id_sequence())
    params: list[Any] = [
        len(guarded_definitions),
        compact_json(guarded_definitions),  # orjson alone refuses integers beyond 64 bits
        row["statement_id"],
        *still_current_params(credential),
        placeholder,
        orjson.dumps([{column: row[column] for column in _statement_json_columns()}]).decode(),
        *(_companion_json(table) for table in tables),
        id_pool.wanted(),
    ]
    inserted, definitions_held, voided_before, credential_current, reserved = execute_prepared(sql, params)
    id_pool.add(reserved)
    if not credential_current:
        raise CredentialChanged(row["credential_id"])
    if inserted:
        return Single.WRITTEN
    if voided_before:  # a voiding statement names it: it may have come first, or be sent again
        return Single.ID_TAKEN
    if definitions_held:
        id_pool.forget()  # the id or the key exists: the pool may hold used keys
        return Single.ID_TAKEN
    definition_cache.drop(guarded_definitions)  # changed since: the general path reads them
    return Single.DECLINED


def _shape(table: CompanionRows) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Columns that travel as JSON, and those that take the database's ``stored``."""
    from_database = tuple(name for name, value in table.constants.items() if value is STORED_IN_DATABASE)
    travelling = (*table.columns, *(name for name in table.constants if name not in from_database))
    return travelling, from_database


def _companion_json(table: CompanionRows) -> str:
    travelling, _from_database = _shape(table)
    constants = tuple(value for value in table.constants.values() if value is not STORED_IN_DATABASE)
    return rows_json(db_columns(table.model, travelling), table.rows, constants)


@functools.cache
def _statement_json_columns() -> tuple[str, ...]:
    return tuple(field.attname for field in Statement._meta.concrete_fields if field.attname != "stored")


# ``stored`` as text, the form ``lrs.xapi.timestamps.format_timestamp`` writes.
_STORED_TEXT = """to_char(t.stored AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


@functools.lru_cache(maxsize=32)
def _single_insert_sql(
    tables: tuple[tuple[type[models.Model], tuple[tuple[str, ...], tuple[str, ...]]], ...], sequence: str
) -> str:
    """The one SQL statement. Its parameters, in order: the number of guarded definitions, the
    guarded definitions (JSON object), the statement id, the credential's (``still_current_params``),
    the ``stored`` placeholder, the statement row (JSON), each companion table's rows (JSON), how
    many ids to reserve for the pool."""
    quote = connection.ops.quote_name
    activity = Activity._meta
    statement_insert = json_insert_select(
        Statement,
        _statement_json_columns(),
        {
            "payload": f"replace(r.payload, %s, {_STORED_TEXT})",
            "stored": "t.stored",
            "timestamp": "coalesce(r.timestamp, t.stored)",
        },
        also_from="t, g, v, k",
        where="g.ok AND NOT v.found AND k.ok",
    )
    parts = [
        # The mark and transaction id first, then the clock (see selectors.consistent_through): t reads x,
        # and both are materialized, so PostgreSQL cannot evaluate them the other way round.
        f"x AS MATERIALIZED (SELECT {STORING_MARK}, pg_current_xact_id())",
        "t AS MATERIALIZED (SELECT clock_timestamp() AS stored FROM x)",
        # The cached definitions are still the stored ones (and every activity exists).
        f"g AS MATERIALIZED (SELECT count(*) = %s AS ok FROM {quote(activity.db_table)} a "  # noqa: S608
        "JOIN json_each_text(%s::json) c "
        f"ON a.{quote(activity.get_field('activity_id').column)} = c.key "
        f"AND a.{quote(activity.get_field('definition').column)} = c.value::jsonb)",
        # A stored voiding statement names this id (it came first): the general path stores the
        # statement voided.
        f"v AS MATERIALIZED (SELECT EXISTS (SELECT FROM {quote(Statement._meta.db_table)} "  # noqa: S608
        "WHERE is_voiding AND object_statement_id = %s::uuid) AS found)",
        # The credential as this process authenticated it (maybe from its cache) is still stored,
        # unchanged and active: one revoked elsewhere writes nothing (lrs.credentials.current).
        f"k AS MATERIALIZED (SELECT {still_current_sql()} AS ok)",
        # Any unique key taken (id stored already, primary key used): nothing is written.
        f"s AS ({statement_insert} ON CONFLICT DO NOTHING RETURNING 1)",
    ]
    for index, (model, (travelling, from_database)) in enumerate(tables):
        computed = {name: "t.stored" for name in from_database}
        insert = json_insert_select(
            model, travelling, computed, also_from="t", where="EXISTS (SELECT FROM s)"
        )
        parts.append(f"w{index} AS ({insert})")
    return (
        f"WITH {', '.join(parts)} "  # noqa: S608 (names from the models, values as parameters)
        "SELECT EXISTS (SELECT FROM s), (SELECT ok FROM g), (SELECT found FROM v), (SELECT ok FROM k), "
        f"ARRAY(SELECT nextval({sequence}) FROM generate_series(1, %s)) FROM t"
    )
