"""Writes to the statement store.

``statement_store`` takes a parsed batch, validates every statement, completes
the properties the LRS owns and inserts the batch in one transaction with bulk
inserts: one query to find already-stored ids, one for voiding targets, one
insert per table. The rules follow xAPI 1.0.3 Data 2.4 and Communication 2.1:
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#21-statement-resource
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql as psycopg_sql

from lrs import scopes
from lrs.attachment_store import attachment_store, check_attachment_sizes
from lrs.bulk import (
    CompanionRows,
    execute_prepared,
    insert_statement_rows,
    insert_tuples,
)
from lrs.indexing import statement_index_entries
from lrs.models import Credential, Statement, StatementActivity, StatementAgent
from lrs.services_documents import KnownActivities, activity_definitions_update
from lrs.signals import statements_stored, statements_storing, statements_voided
from lrs.xapi.activity_definitions import activities_with_paths, collect_definitions
from lrs.xapi.agents import agent_ifi
from lrs.xapi.comparison import statements_equivalent
from lrs.xapi.errors import XAPIConflict, XAPIValidationError
from lrs.xapi.json_types import compact_json
from lrs.xapi.multipart import AttachmentPart, match_attachments
from lrs.xapi.normalise import statement_normalise
from lrs.xapi.signatures import verify_signed_statement
from lrs.xapi.statement import validate_statement
from lrs.xapi.timestamps import format_timestamp

VOIDED_VERB = "http://adlnet.gov/expapi/verbs/voided"


def _is_voiding(statement: dict) -> bool:
    verb = statement.get("verb") or {}
    return verb.get("id") == VOIDED_VERB


def _default_version(request_version: str) -> str:
    # 1.0.3 Data 2.4.10: a statement without version is stored as 1.0.0; 2.0 stores 2.0.0.
    return "2.0.0" if request_version.startswith("2.") else "1.0.0"


@dataclass
class _Prelude:
    stored: datetime
    existing: set[uuid.UUID]
    reserved_pks: list[int] | None  # PostgreSQL: primary keys for the new rows
    activities: KnownActivities | None = None  # PostgreSQL: the batch's activities as stored


_sequence_literals: dict[str, str] = {}


def _statement_id_sequence() -> str:
    """The statement id sequence as a ``regclass`` literal, looked up once per database.

    ``nextval(pg_get_serial_sequence(...))`` looked the sequence up in the catalogue for every id
    reserved: 0.7 ms for a batch of 100 against 0.1 ms with the literal (EXPLAIN ANALYZE).
    """
    name = connection.settings_dict["NAME"]
    literal = _sequence_literals.get(name)
    if literal is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence('lrs_statement', 'id')")
            (sequence,) = cursor.fetchone()
        quoted = psycopg_sql.Literal(sequence).as_string(connection.connection)
        literal = _sequence_literals[name] = f"{quoted}::regclass"
    return literal


def _prelude(ids: list[uuid.UUID], activity_ids: list[str]) -> _Prelude:
    """One round trip before writing a batch: the ``stored`` time, which ids are already
    stored, (PostgreSQL) primary keys for the rows to insert and the canonical definitions of
    the batch's activities (read without a lock: see ``activity_definitions_update``).

    ``stored`` is read from the database clock after the transaction takes its id, so
    from then on ``selectors.consistent_through`` sees the transaction in
    ``pg_stat_activity`` and never reports a time later than the ``stored`` of
    statements not yet committed.
    """
    if connection.vendor == "postgresql":
        _xid, stored, reserved, existing, definitions = execute_prepared(
            "SELECT pg_current_xact_id(), clock_timestamp(), "  # noqa: S608 (the literal is quoted by psycopg)
            f"ARRAY(SELECT nextval({_statement_id_sequence()}) FROM generate_series(1, %s)), "
            "ARRAY(SELECT statement_id FROM lrs_statement WHERE statement_id = ANY(%b::uuid[])), "
            "(SELECT json_object_agg(activity_id, definition) FROM lrs_activity "
            "WHERE activity_id = ANY(%b::text[]))",
            [len(ids), ids, activity_ids],
        )
        if isinstance(definitions, str):
            definitions = json.loads(definitions)
        activities = KnownActivities(checked=frozenset(activity_ids), definitions=definitions or {})
        return _Prelude(
            stored=stored, existing=set(existing), reserved_pks=list(reserved), activities=activities
        )
    existing = set(Statement.objects.filter(statement_id__in=ids).values_list("statement_id", flat=True))
    return _Prelude(stored=timezone.now(), existing=existing, reserved_pks=None)


def _complete(
    statement: dict, *, statement_id: str, stored: datetime, authority: dict | None, request_version: str
) -> dict:
    """The statement as the LRS stores it: id, stored, timestamp, authority and version set."""
    completed = statement_normalise(statement)
    completed["id"] = statement_id
    completed["stored"] = format_timestamp(stored)
    completed.setdefault("timestamp", completed["stored"])
    if authority is not None:
        # Communication 4.1: the LRS SHOULD overwrite authority from the credentials used.
        completed["authority"] = authority
    completed.setdefault("version", _default_version(request_version))
    return completed


@dataclass(slots=True)
class StatementRow:
    """The values of one ``Statement`` row (attribute names as the model's), built without a
    model instance: on the ingest path that construction cost more than the insert."""

    statement_id: uuid.UUID
    payload: str
    stored: datetime
    timestamp: datetime
    version: str
    verb_id: str
    actor_ifi: str | None
    object_type: str
    object_activity_id: str | None
    object_agent_ifi: str | None
    object_statement_id: uuid.UUID | None
    registration: uuid.UUID | None
    authority_ifi: str | None
    credential_id: int | None
    is_voiding: bool
    voided: bool = False
    id: int | None = None

    def as_model(self) -> Statement:
        return Statement(**{name: getattr(self, name) for name in self.__slots__})


def _statement_row(
    statement: dict, statement_id: uuid.UUID, *, stored: datetime, credential: Credential | None
) -> StatementRow:
    obj = statement["object"]
    object_type = obj.get("objectType") or "Activity"
    context = statement.get("context") or {}
    return StatementRow(
        statement_id=statement_id,
        payload=compact_json(statement),
        stored=stored,
        # _complete wrote it in the canonical UTC form, which fromisoformat reads directly.
        timestamp=datetime.fromisoformat(statement["timestamp"]),
        version=statement["version"],
        verb_id=statement["verb"]["id"],
        actor_ifi=agent_ifi(statement["actor"]),
        object_type=object_type,
        object_activity_id=obj.get("id") if object_type == "Activity" else None,
        object_agent_ifi=agent_ifi(obj) if object_type in {"Agent", "Group"} else None,
        object_statement_id=uuid.UUID(obj["id"]) if object_type == "StatementRef" else None,
        registration=uuid.UUID(context["registration"]) if context.get("registration") else None,
        authority_ifi=agent_ifi(statement["authority"]) if statement.get("authority") else None,
        credential_id=credential.id if credential is not None else None,
        is_voiding=_is_voiding(statement),
    )


def _statement_ids(statements: Sequence[dict]) -> list[uuid.UUID]:
    """The id of each statement, a new one where it has none; an id twice in a batch is a 400."""
    ids: list[uuid.UUID] = []
    seen: dict[uuid.UUID, int] = {}
    for index, statement in enumerate(statements):
        text = statement.get("id")
        if text is None:
            ids.append(uuid.uuid4())
            continue
        statement_id = uuid.UUID(text)
        if statement_id in seen:
            raise XAPIValidationError(
                f"statement id {text} appears twice in the batch (also at statements[{seen[statement_id]}])",
                path=f"statements[{index}].id",
                rule="unique-id-in-batch",
            )
        seen[statement_id] = index
        ids.append(statement_id)
    return ids


def statements_validate(statements: Sequence[Any], *, version: str) -> list[uuid.UUID]:
    """Validate a whole batch before anything is written (a failed batch stores nothing); return
    the statement ids (generated where absent)."""
    many = len(statements) > 1
    for index, statement in enumerate(statements):
        validate_statement(statement, version=version, path=f"statements[{index}]" if many else "statement")
    return _statement_ids(statements)


def _void_targets(rows: list[StatementRow], new_rows_by_id: dict[uuid.UUID, StatementRow]) -> list[int]:
    """Mark the targets of voiding statements voided; return the primary keys voided.

    Data 2.3.2: a voiding statement's object is a StatementRef; a voiding statement
    cannot itself be voided (rejected with 400 here, so nothing of the batch is stored).
    """
    targets = {row.object_statement_id: row for row in rows if row.is_voiding}
    if not targets:
        return []
    existing = {
        target.statement_id: target
        for target in Statement.objects.filter(statement_id__in=targets.keys()).only(
            "id", "statement_id", "is_voiding", "voided"
        )
    }
    for target_id, voiding_row in targets.items():
        target = existing.get(target_id) or new_rows_by_id.get(target_id)
        if target is not None and target.is_voiding:
            raise XAPIValidationError(
                f"statement {target_id} is itself a voiding statement and cannot be voided",
                path=f"statements[{rows.index(voiding_row)}].object.id",
                rule="void-voiding-statement",
            )
    pks = [target.id for target_id, target in existing.items() if not target.voided]
    in_batch = [new_rows_by_id[target_id] for target_id in targets if target_id in new_rows_by_id]
    if pks:
        Statement.objects.filter(id__in=pks).update(voided=True)
    for target in in_batch:
        target.voided = True
    return pks


def _attachments_check(
    statements: Sequence[dict], parts: Sequence[AttachmentPart]
) -> dict[str, AttachmentPart]:
    """Match multipart parts to attachment metadata and verify signatures (Data 2.4.11, 2.6)."""
    many = len(statements) > 1
    parts_by_sha2 = match_attachments(
        list(statements), list(parts), path_prefix="statements" if many else "statement"
    )
    for index, statement in enumerate(statements):
        verify_signed_statement(
            statement, parts_by_sha2, path=f"statements[{index}]" if many else "statement"
        )
    check_attachment_sizes(parts_by_sha2.values())
    return parts_by_sha2


@transaction.atomic
def statement_store(
    *,
    statements: Sequence[Any],
    credential: Credential | None,
    version: str = "1.0.3",
    attachments: Sequence[AttachmentPart] = (),
) -> list[str]:
    """Store a batch; return the statement ids in request order.

    A statement whose id is already stored with equivalent content is a no-op
    (a batch retried after a timeout succeeds); with different content the whole
    batch fails with 409 and nothing is stored. ``attachments`` are the raw parts
    of a multipart/mixed request; their bytes are kept in the attachment store.
    """
    ids = statements_validate(statements, version=version)
    parts_by_sha2 = _attachments_check(statements, attachments)
    # Activity definitions do not change in completion: collected once, from the request.
    definitions = collect_definitions(list(statements))
    _reject_nul_in_definitions(statements, definitions)
    prelude = _prelude(ids, sorted(definitions))
    stored = prelude.stored
    authority = credential.authority if credential is not None else None
    completed = [
        _complete(
            statement,
            statement_id=str(statement_id),
            stored=stored,
            authority=authority,
            request_version=version,
        )
        for statement, statement_id in zip(statements, ids, strict=True)
    ]
    already = {}
    if prelude.existing:
        already = dict(
            Statement.objects.filter(statement_id__in=prelude.existing).values_list("statement_id", "payload")
        )
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
                path=f"statements[{index}].id" if len(completed) > 1 else "statement.id",
                rule="statement-id-conflict",
            )
    if not fresh:
        return [str(statement_id) for statement_id in ids]

    rows = [
        _statement_row(statement, statement_id, stored=stored, credential=credential)
        for statement, statement_id in zip(fresh, fresh_ids, strict=True)
    ]
    voided_pks = _void_targets(rows, {row.statement_id: row for row in rows})
    attachment_store().put_many(parts_by_sha2.values())
    if prelude.reserved_pks is not None:
        for row, pk in zip(rows, prelude.reserved_pks, strict=False):
            row.id = pk
        insert_statement_rows(rows, [*_index_tables(rows, fresh, stored), *_companion_rows(rows, fresh)])
    else:  # SQLite: the insert gives the ids the index rows need
        models = Statement.objects.bulk_create([row.as_model() for row in rows])
        for row, model in zip(rows, models, strict=True):
            row.id = model.id
        for table in [*_index_tables(rows, fresh, stored), *_companion_rows(rows, fresh)]:
            insert_tuples(table.model, table.columns, table.rows, table.constants)
    activity_definitions_update(
        fresh,
        can_define=credential is None or credential.allows(scopes.DEFINE),
        known=prelude.activities,
        found=definitions if len(fresh) == len(statements) else None,
    )
    statements_stored.send(sender=Statement, statement_pks=[row.id for row in rows])
    in_batch_voided = [row.id for row in rows if row.voided]
    if voided_pks or in_batch_voided:
        statements_voided.send(sender=Statement, statement_pks=voided_pks + in_batch_voided)
    return [str(statement_id) for statement_id in ids]


def _contains_nul(value: Any) -> bool:
    if type(value) is str:
        return "\x00" in value
    if type(value) is dict:
        return any("\x00" in key or _contains_nul(item) for key, item in value.items())
    if type(value) is list:
        return any(_contains_nul(item) for item in value)
    return False


def _reject_nul_in_definitions(statements: Sequence[dict], definitions: dict[str, dict | None]) -> None:
    """Canonical definitions are kept as PostgreSQL jsonb, which cannot hold U+0000: such a
    definition is bad input (400 naming the statement), not a database failure."""
    if not any(_contains_nul(definition) for definition in definitions.values()):
        return
    for index, statement in enumerate(statements):
        for where, activity in activities_with_paths(statement):
            if _contains_nul(activity.get("definition")):
                prefix = f"statements[{index}]" if len(statements) > 1 else "statement"
                raise XAPIValidationError(
                    f"the definition of activity {activity.get('id')} contains U+0000, which the LRS "
                    "cannot store",
                    path=f"{prefix}.{where}.definition",
                    rule="no-nul",
                )


def _companion_rows(rows: list[StatementRow], statements: list[dict]) -> list[CompanionRows]:
    """What ``statements_storing`` receivers (the fan-out's outbox) write with the statements."""
    responses = statements_storing.send(
        sender=Statement, statement_pks=[row.id for row in rows], statements=statements
    )
    return [companion for _receiver, companions in responses for companion in companions or ()]


def _index_tables(rows: list[StatementRow], statements: list[dict], stored: datetime) -> list[CompanionRows]:
    """The ``StatementAgent`` / ``StatementActivity`` rows of a batch (all share ``stored``)."""
    agent_rows: list[tuple] = []
    activity_rows: list[tuple] = []
    for row, statement in zip(rows, statements, strict=True):
        agents, activities = statement_index_entries(statement)
        pk = row.id
        agent_rows.extend([(pk, ifi, direct) for ifi, direct in agents.items()])
        activity_rows.extend([(pk, activity_id, direct) for activity_id, direct in activities.items()])
    shared = {"stored": stored}
    return [
        CompanionRows(StatementAgent, ("statement_id", "agent_ifi", "direct"), agent_rows, shared),
        CompanionRows(StatementActivity, ("statement_id", "activity_id", "direct"), activity_rows, shared),
    ]
