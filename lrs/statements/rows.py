"""What a stored statement is made of: the statement as stored (``complete_statement``), its
``Statement`` row (``statement_row``), its index rows (``index_tables``) and the rows other apps
write with it (``companion_rows``). Built in memory, without model instances; ``services`` and
``single`` write them. xAPI 1.0.3 Data 2.4 (the properties the LRS sets):
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#24-statement-properties
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lrs.credentials.models import Credential
from lrs.statements.bulk import CompanionRows
from lrs.statements.indexing import statement_attachment_hashes, statement_index_entries
from lrs.statements.models import Statement, StatementActivity, StatementAgent, StatementAttachment
from lrs.statements.signals import statements_storing
from lrs.xapi.agents import agent_ifi
from lrs.xapi.json_types import compact_json
from lrs.xapi.normalise import statement_normalise

VOIDED_VERB = "http://adlnet.gov/expapi/verbs/voided"


def is_voiding(statement: dict) -> bool:
    verb = statement.get("verb") or {}
    return verb.get("id") == VOIDED_VERB


def default_version(request_version: str) -> str:
    # 1.0.3 Data 2.4.10: a statement without version is stored as 1.0.0; 2.0 stores 2.0.0.
    return "2.0.0" if request_version.startswith("2.") else "1.0.0"


def complete_statement(
    statement: dict, *, statement_id: str, stored: str, authority: dict | None, request_version: str
) -> dict:
    """The statement as the LRS stores it: id, stored (as text), timestamp, authority and version
    set."""
    completed = statement_normalise(statement)
    completed["id"] = statement_id
    completed["stored"] = stored
    completed.setdefault("timestamp", completed["stored"])
    if authority is not None:
        # Communication 4.1: the LRS SHOULD overwrite authority from the credentials used.
        completed["authority"] = authority
    completed.setdefault("version", default_version(request_version))
    return completed


@dataclass(slots=True)
class StatementRow:
    """The values of one ``Statement`` row (attribute names as the model's), built without a
    model instance: on the ingest path that construction cost more than the insert."""

    statement_id: uuid.UUID
    payload: str
    # None until the database writes them (the single-statement path: lrs.statements.single).
    stored: datetime | None
    timestamp: datetime | None
    version: str
    verb_id: str
    actor_ifi: str | None
    object_type: str
    object_activity_id: str | None
    object_agent_ifi: str | None
    object_statement_id: uuid.UUID | None
    # The statement's text (validated: 8-4-4-4-12 hex digits, either case), which the uuid column
    # reads as it is: parsing it here and writing it back out cost 1.5 us a statement.
    registration: uuid.UUID | str | None
    authority_ifi: str | None
    credential_id: int | None
    is_voiding: bool
    voided: bool = False
    id: int | None = None

    def as_model(self) -> Statement:
        return Statement(**{name: getattr(self, name) for name in self.__slots__})


def statement_row(
    statement: dict,
    statement_id: uuid.UUID,
    *,
    stored: datetime | None,
    credential: Credential | None,
    stored_later: str | None = None,
) -> StatementRow:
    """The row of a completed statement. ``stored`` None with ``stored_later``: the placeholder
    that stands for ``stored`` until the database writes it (lrs.statements.single); a ``timestamp``
    equal to it is left None."""
    obj = statement["object"]
    object_type = obj.get("objectType") or "Activity"
    context = statement.get("context") or {}
    return StatementRow(
        statement_id=statement_id,
        payload=compact_json(statement),
        stored=stored,
        # _complete wrote it in the canonical UTC form, which fromisoformat reads directly.
        timestamp=None
        if statement["timestamp"] == stored_later
        else datetime.fromisoformat(statement["timestamp"]),
        version=statement["version"],
        verb_id=statement["verb"]["id"],
        actor_ifi=agent_ifi(statement["actor"]),
        object_type=object_type,
        object_activity_id=obj.get("id") if object_type == "Activity" else None,
        object_agent_ifi=agent_ifi(obj) if object_type in {"Agent", "Group"} else None,
        object_statement_id=uuid.UUID(obj["id"]) if object_type == "StatementRef" else None,
        registration=context.get("registration") or None,
        authority_ifi=agent_ifi(statement["authority"]) if statement.get("authority") else None,
        credential_id=credential.id if credential is not None else None,
        is_voiding=is_voiding(statement),
    )


def companion_rows(rows: list[StatementRow], statements: list[dict]) -> list[CompanionRows]:
    """What ``statements_storing`` receivers (the fan-out's outbox) write with the statements."""
    responses = statements_storing.send(
        sender=Statement, statement_pks=[row.id for row in rows], statements=statements
    )
    return [companion for _receiver, companions in responses for companion in companions or ()]


def index_tables(rows: list[StatementRow], statements: list[dict], stored: Any) -> list[CompanionRows]:
    """The ``StatementAgent`` / ``StatementActivity`` rows of a batch (all share ``stored``: a
    datetime, or ``STORED_IN_DATABASE``) and its ``StatementAttachment`` rows (usually none)."""
    agent_rows: list[tuple] = []
    activity_rows: list[tuple] = []
    attachment_rows: list[tuple] = []
    for row, statement in zip(rows, statements, strict=True):
        agents, activities = statement_index_entries(statement)
        pk = row.id
        agent_rows.extend([(pk, ifi, direct) for ifi, direct in agents.items()])
        activity_rows.extend([(pk, activity_id, direct) for activity_id, direct in activities.items()])
        if "attachments" in statement or statement["object"].get("objectType") == "SubStatement":
            attachment_rows.extend([(pk, sha2) for sha2 in statement_attachment_hashes(statement)])
    shared = {"stored": stored}
    return [
        CompanionRows(StatementAgent, ("statement_id", "agent_ifi", "direct"), agent_rows, shared),
        CompanionRows(StatementActivity, ("statement_id", "activity_id", "direct"), activity_rows, shared),
        CompanionRows(StatementAttachment, ("statement_id", "sha2"), attachment_rows),
    ]


def run_after_write(tables: Sequence[CompanionRows]) -> None:
    """Call the ``after_write`` hooks of rows just written."""
    for table in tables:
        if table.after_write is not None:
            table.after_write()
