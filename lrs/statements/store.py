"""Writes to the statement store.

``statement_store`` takes a parsed batch, validates every statement, completes the properties the
LRS owns and inserts the batch in one transaction with bulk inserts: one query before (the prelude:
keys, ``stored``, voiding statements naming the batch, and, when looking up, the batch's ids already
stored: see ``statement_store``), one more when the batch voids anything, one insert per table.
The rules follow xAPI 1.0.3 Data 2.4 and Communication 2.1:
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#21-statement-resource
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from lrs.activities.definitions import KnownActivities, activity_definitions_update
from lrs.attachment_store import attachment_store
from lrs.credentials import scopes
from lrs.credentials.current import CredentialChanged, ensure_current, still_current_params, still_current_sql
from lrs.credentials.models import Credential
from lrs.statements.bulk import (
    execute_planned,
    execute_prepared,
    insert_statement_rows,
    insert_tuples,
    statement_id_sequence,
    storing_mark,
)
from lrs.statements.checks import attachments_check, reject_nul_in_definitions, statements_validate
from lrs.statements.erasure import forget_people_if_erased
from lrs.statements.models import Statement
from lrs.statements.rows import (
    StatementRow,
    companion_rows,
    complete_statement,
    index_tables,
    run_after_write,
    statement_row,
)
from lrs.statements.signals import statements_stored, statements_voided
from lrs.statements.single import Single, definition_cache, id_pool, store_single
from lrs.xapi.activity_definitions import collect_definitions
from lrs.xapi.comparison import statements_equivalent
from lrs.xapi.errors import XAPIConflict, XAPIValidationError
from lrs.xapi.json_fast import parse_fast
from lrs.xapi.multipart import AttachmentPart
from lrs.xapi.statement import statement_path
from lrs.xapi.timestamps import format_timestamp


@dataclass
class _Prelude:
    stored: datetime
    existing: set[uuid.UUID]
    reserved_pks: list[int] | None  # PostgreSQL: primary keys for the new rows
    voided_before: set[uuid.UUID]  # ids a stored voiding statement names (Data 2.3.2)
    activities: KnownActivities | None = None  # PostgreSQL: the batch's activities as stored


def _prelude(
    ids: list[uuid.UUID], activity_ids: list[str], *, look_up_ids: bool, credential: Credential | None = None
) -> _Prelude:
    """One round trip before writing a batch: the ``stored`` time, which ids are already
    stored (on PostgreSQL only if ``look_up_ids``: see ``statement_store``), which a stored
    voiding statement names (a voiding statement may come first: its target is then stored
    voided), (PostgreSQL) primary keys for the rows to insert and the
    canonical definitions of the batch's activities (read without a lock: see
    ``activity_definitions_update``).

    ``stored`` is read from the database clock after the transaction takes its id and its mark
    (``bulk.STORING_MARK``), so ``selectors.consistent_through`` sees it in ``pg_stat_activity``
    and never reports a time later than the ``stored`` of statements not yet committed.

    Prepared (``bulk.execute_prepared``): each look-up probes an index once per id (LATERAL,
    LIMIT 1), best whatever the table's size or statistics. As ``= ANY(array)`` look-ups they
    had to be planned on every call (as costly as running them): a generic plan kept what it
    made of a nearly empty table (a sequential scan per batch), and with no statistics the
    voiding look-up became an AND of bitmaps reading every statement referring to another.
    And whether the ``credential`` (maybe cached) is still as stored: else ``CredentialChanged``."""
    if connection.vendor == "postgresql":
        for_pool = id_pool.wanted()
        _xid, stored, reserved, existing, voided_before, definitions, current = execute_prepared(
            _prelude_sql(statement_id_sequence(), look_up_ids=look_up_ids, mark=storing_mark()),
            [ids, len(ids) + for_pool, activity_ids, *still_current_params(credential)],
        )
        if definitions is not None:
            definitions = parse_fast(definitions) or json.loads(definitions)
        # For the single-statement fast path (lrs.statements.single): keys it may use, definitions it
        # may check against.
        id_pool.add(reserved[len(ids) :])
        definition_cache.remember(definitions or {})
        if not current:
            raise CredentialChanged(credential.key if credential is not None else "")
        activities = KnownActivities(checked=frozenset(activity_ids), definitions=definitions or {})
        reserved_pks, voided = list(reserved[: len(ids)]), set(voided_before)
        return _Prelude(stored, set(existing), reserved_pks, voided, activities)
    ensure_current(credential)
    existing = set(Statement.objects.filter(statement_id__in=ids).values_list("statement_id", flat=True))
    voiding = Statement.objects.filter(is_voiding=True, object_statement_id__in=ids)
    voided_before = set(voiding.values_list("object_statement_id", flat=True))
    return _Prelude(stored=timezone.now(), existing=existing, reserved_pks=None, voided_before=voided_before)


@functools.lru_cache(maxsize=8)
def _prelude_sql(sequence: str, *, look_up_ids: bool, mark: str) -> str:
    """The prelude's SQL; ``sequence``: the statement id sequence's literal; ``mark``: storing_mark()."""
    stored_ids = (
        "ARRAY(SELECT s.statement_id FROM batch CROSS JOIN LATERAL "
        "(SELECT statement_id FROM lrs_statement WHERE statement_id = batch.id LIMIT 1) s)"
        if look_up_ids
        else "ARRAY[]::uuid[]"
    )
    return (
        "WITH batch AS MATERIALIZED (SELECT unnest(%b::uuid[]) AS id) "  # noqa: S608 (the literal is quoted by psycopg)
        f"SELECT ({mark}, pg_current_xact_id()), clock_timestamp(), "
        f"ARRAY(SELECT nextval({sequence}) FROM generate_series(1, %s)), "
        f"{stored_ids}, "
        "ARRAY(SELECT batch.id FROM batch CROSS JOIN LATERAL "
        "(SELECT FROM lrs_statement WHERE is_voiding AND object_statement_id = batch.id LIMIT 1) v), "
        # As text, parsed here at C speed (parse_fast; the standard library when it must):
        # psycopg parses json with the standard library, a few percent of a batch's CPU.
        "(SELECT json_object_agg(a.activity_id, a.definition)::text "
        "FROM unnest(%b::text[]) AS k(id) CROSS JOIN LATERAL "
        "(SELECT activity_id, definition FROM lrs_activity WHERE activity_id = k.id LIMIT 1) a), "
        + still_current_sql()
    )


def _void_targets(
    rows: list[StatementRow],
    new_rows_by_id: dict[uuid.UUID, StatementRow],
    *,
    path_of: Callable[[uuid.UUID], str],
) -> list[int]:
    """Mark the targets of voiding statements voided; return the primary keys voided.

    Data 2.3.2: a voiding statement's object is a StatementRef; a voiding statement
    cannot itself be voided (rejected with 400 here, so nothing of the batch is stored).
    """
    targets = {row.object_statement_id: row for row in rows if row.is_voiding}
    if not targets:
        return []
    pks, voiding_ids = _stored_targets_voided(list(targets))
    for target_id, voiding_row in targets.items():
        in_batch_target = new_rows_by_id.get(target_id)
        if target_id in voiding_ids or (in_batch_target is not None and in_batch_target.is_voiding):
            # Raised inside the storing transaction: the rows just marked voided are restored.
            raise XAPIValidationError(
                f"statement {target_id} is itself a voiding statement and cannot be voided",
                path=f"{path_of(voiding_row.statement_id)}.object.id",
                rule="void-voiding-statement",
            )
    in_batch = [new_rows_by_id[target_id] for target_id in targets if target_id in new_rows_by_id]
    for target in in_batch:
        target.voided = True
    return pks


def void_late_targets(*, stored_since: datetime | None) -> list[int]:
    """Mark voided the statements a stored voiding statement names that are not voided yet, and
    tell the fan-out (``statements_voided``); return their primary keys. Data 2.3.2 holds
    whichever came first, but a statement and its voiding statement stored at the same moment
    each look for the other before it committed, and statements stored before this LRS voided
    late arrivals were left live. ``stored_since``: only voiding statements stored since then
    (the sweep's window, read through the index of statements whose object is a StatementRef);
    None: all of them (``manage.py void_late_targets``, once after upgrading)."""
    voiding = Statement.objects.filter(is_voiding=True, object_statement_id__isnull=False)
    if stored_since is not None:
        voiding = voiding.filter(stored__gte=stored_since)
    late = Statement.objects.filter(
        statement_id__in=voiding.values("object_statement_id"), voided=False, is_voiding=False
    )
    with transaction.atomic():
        pks = list(late.select_for_update().order_by("id").values_list("id", flat=True))
        if pks:
            Statement.objects.filter(id__in=pks).update(voided=True)  # locked above, still live
            statements_voided.send(sender=Statement, statement_pks=pks)
    return pks


def _stored_targets_voided(statement_ids: list[uuid.UUID]) -> tuple[list[int], set[uuid.UUID]]:
    """Mark the stored statements with these ids voided (those not voided yet and not voiding
    themselves); return the primary keys newly voided, and the ids of those that are voiding
    statements. On PostgreSQL one SQL statement (``bulk.execute_planned``): the ORM's read and
    update cost two round trips and, in Python, about a tenth of a batch that voids anything."""
    if connection.vendor != "postgresql":
        columns = ("id", "statement_id", "is_voiding", "voided")
        found = list(Statement.objects.filter(statement_id__in=statement_ids).values_list(*columns))
        pks = [pk for pk, _id, is_voiding, voided in found if not voided and not is_voiding]
        if pks:
            Statement.objects.filter(id__in=pks).update(voided=True)
        return pks, {statement_id for _pk, statement_id, is_voiding, _v in found if is_voiding}
    row = execute_planned(
        "WITH found AS (SELECT id, statement_id, is_voiding, voided FROM lrs_statement "
        "WHERE statement_id = ANY(%b::uuid[])), "
        "marked AS (UPDATE lrs_statement SET voided = true WHERE id IN "
        "(SELECT id FROM found WHERE NOT voided AND NOT is_voiding) RETURNING id) "
        "SELECT ARRAY(SELECT id FROM marked), "
        "ARRAY(SELECT statement_id FROM found WHERE is_voiding)",
        [statement_ids],
    )
    pks, voiding = row if row is not None else ([], [])
    return list(pks), set(voiding)


def statement_store(
    *,
    statements: Sequence[Any],
    credential: Credential | None,
    version: str = "1.0.3",
    attachments: Sequence[AttachmentPart] = (),
    as_array: bool | None = None,
) -> list[str]:
    """Store a batch; return the statement ids in request order.

    A statement whose id is already stored with equivalent content is a no-op
    (a batch retried after a timeout succeeds); with different content the whole
    batch fails with 409 and nothing is stored. ``attachments`` are the raw parts
    of a multipart/mixed request; their bytes are kept in the attachment store. ``as_array``:
    whether the request body was an array (errors then name ``statements[i]``, even for one
    statement); by default, whether there is more than one statement.
    """
    many = as_array if as_array is not None else len(statements) > 1
    forget_people_if_erased()  # what validation remembers of people (lrs.statements.erasure)
    ids = statements_validate(statements, version=version, many=many)
    parts_by_sha2 = attachments_check(statements, attachments, many=many)
    # Activity definitions do not change in completion: collected once, from the request.
    definitions = collect_definitions(list(statements))
    reject_nul_in_definitions(statements, definitions, many=many)
    single = (
        Single.DECLINED
        if len(statements) != 1 or parts_by_sha2
        else store_single(
            statements[0], ids[0], credential=credential, version=version, definitions=definitions
        )
    )
    if single is Single.WRITTEN:
        return [str(ids[0])]
    # Nearly every batch is new, so a first write does not look its ids up: the unique index on
    # statement_id probes them anyway as the rows go in (the look-up was about 8 us of PostgreSQL's
    # CPU per statement, a random probe each). A batch holding a stored id breaks that index and is
    # written again, looking up; its sender's batches look up first for a while (a client
    # re-sending what it synced before would otherwise have each batch written twice), as does a
    # statement whose id the single-statement path found stored.
    sender = credential.id if credential is not None else None
    resending = single is Single.ID_TAKEN or _resending_until.get(sender, 0.0) > time.monotonic()
    look_up_first = connection.vendor != "postgresql" or resending
    for attempt in range(1, _WRITE_ATTEMPTS + 1):
        try:
            return _store(
                statements,
                ids,
                parts_by_sha2,
                definitions,
                credential=credential,
                version=version,
                many=many,
                look_up_ids=look_up_first or attempt > 1,
            )
        except XAPIValidationError:
            # Refused before the write (``_void_targets``): not looking up, this write took a stored
            # voiding statement sent again for a new one, which may then seem to void another
            # (Data 2.3.2 lets either come first). Looked up, it is a no-op; a real error recurs.
            if look_up_first or attempt > 1:
                raise
            continue
        except (DatabaseError, psycopg.Error) as error:
            # Some of these ids were stored already (see above), or another request stored them
            # after this one's prelude looked (a client retrying a batch still being written), or
            # wrote them in another order and one of the two was stopped as a deadlock: the next
            # attempt's prelude finds them and compares (the same: no-op; different: 409).
            if attempt == _WRITE_ATTEMPTS or not _met_a_concurrent_write(error):
                raise
            if attempt == 1 and not look_up_first:
                _resending_until[sender] = time.monotonic() + _RESENDING_SECONDS
    raise AssertionError("unreachable")  # the loop returns or raises


# A first attempt that did not look ids up (PostgreSQL, outside a sender's window), a second that finds
# those stored before, a third those another request stored meanwhile, a fourth an id erased and
# stored again meanwhile.
_WRITE_ATTEMPTS = 4
# Credential id (None: no credential) -> until when (monotonic clock) its batches look ids up first.
_resending_until: dict[int | None, float] = {}
_RESENDING_SECONDS = 300.0
_UNIQUE_VIOLATION, _DEADLOCK_DETECTED = "23505", "40P01"  # SQLSTATE, PostgreSQL Appendix A


def _met_a_concurrent_write(error: Exception) -> bool:
    """Whether the write broke the unique constraint on ``Statement.statement_id`` or was chosen
    to end a deadlock (raised by psycopg itself from the COPY and prepared statements of
    ``bulk``, wrapped by Django from its own cursors)."""
    diag = getattr(error, "diag", None) or getattr(error.__cause__, "diag", None)
    if diag is not None:
        if diag.sqlstate == _DEADLOCK_DETECTED:
            return True
        return (
            diag.sqlstate == _UNIQUE_VIOLATION
            and diag.table_name == Statement._meta.db_table
            and diag.constraint_name != f"{Statement._meta.db_table}_pkey"
        )
    return f"UNIQUE constraint failed: {Statement._meta.db_table}.statement_id" in str(error)  # SQLite


@transaction.atomic
def _store(
    statements: Sequence[Any],
    ids: list[uuid.UUID],
    parts_by_sha2: dict[str, AttachmentPart],
    definitions: dict[str, dict | None],
    *,
    credential: Credential | None,
    version: str,
    many: bool,
    look_up_ids: bool,
) -> list[str]:
    """The general path: any batch, in one transaction."""
    # The credential is checked in the prelude, and again last (lrs.credentials.current).
    prelude = _prelude(ids, sorted(definitions), look_up_ids=look_up_ids, credential=credential)
    stored = prelude.stored
    authority = credential.authority if credential is not None else None
    stored_text = format_timestamp(stored)
    id_texts = [str(statement_id) for statement_id in ids]
    completed = [
        complete_statement(
            statement, statement_id=id_text, stored=stored_text, authority=authority, request_version=version
        )
        for statement, id_text in zip(statements, id_texts, strict=True)
    ]
    stored_before = Statement.objects.filter(statement_id__in=prelude.existing) if prelude.existing else None
    already = dict(stored_before.values_list("statement_id", "payload")) if stored_before is not None else {}
    fresh: list[dict] = []
    fresh_ids: list[uuid.UUID] = []
    for index, statement in enumerate(completed):
        existing_payload = already.get(ids[index])
        if existing_payload is None:
            fresh.append(statement)
            fresh_ids.append(ids[index])
        elif not statements_equivalent(statements[index], json.loads(existing_payload)):
            raise XAPIConflict(
                f"a different statement with id {ids[index]} is already stored",
                path=f"{statement_path(index, many=many)}.id",
                rule="statement-id-conflict",
            )
    if not fresh:
        return id_texts
    rows = [
        statement_row(statement, statement_id, stored=stored, credential=credential)
        for statement, statement_id in zip(fresh, fresh_ids, strict=True)
    ]
    voided_pks = _void_targets(
        rows,
        {row.statement_id: row for row in rows},
        path_of=lambda statement_id: statement_path(ids.index(statement_id), many=many),
    )
    for row in rows:
        # Data 2.3.2: voided if and only if not itself voiding and a stored voiding statement
        # names it, whichever came first.
        if row.statement_id in prelude.voided_before and not row.is_voiding:
            row.voided = True
    attachment_store().put_many(parts_by_sha2.values())
    if prelude.reserved_pks is not None:
        for row, pk in zip(rows, prelude.reserved_pks, strict=False):
            row.id = pk
        tables = [*index_tables(rows, fresh, stored), *companion_rows(rows, fresh)]
        insert_statement_rows(rows, tables, shared={"stored": stored})
    else:  # SQLite: the insert gives the ids the index rows need
        models = Statement.objects.bulk_create([row.as_model() for row in rows])
        for row, model in zip(rows, models, strict=True):
            row.id = model.id
        tables = [*index_tables(rows, fresh, stored), *companion_rows(rows, fresh)]
        for table in tables:
            insert_tuples(table.model, table.columns, table.rows, table.constants)
    run_after_write(tables)
    merged = activity_definitions_update(
        fresh,
        can_define=credential is None or credential.allows(scopes.DEFINE),
        known=prelude.activities,
        found=definitions if len(fresh) == len(statements) else None,
    )
    ensure_current(credential)  # again, last: a revocation committed while this wrote stores nothing
    definition_cache.remember(merged)  # what the single-statement path checks against next
    statements_stored.send(sender=Statement, statement_pks=[row.id for row in rows])
    in_batch_voided = [row.id for row in rows if row.voided]
    if voided_pks or in_batch_voided:
        statements_voided.send(sender=Statement, statement_pks=voided_pks + in_batch_voided)
    return id_texts
