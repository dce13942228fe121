"""The checks a batch passes before anything of it is written (a failed batch stores nothing):
the xAPI rules of each statement, ids unique in the batch, attachments matched and signatures
verified, definitions the database can hold.

An error names a statement as the request body holds it: ``statement`` for a body that is one
statement, ``statements[i]`` for an array, even of one (``many``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import orjson

from lrs.attachment_store import check_attachment_sizes
from lrs.xapi.activity_definitions import activities_with_paths
from lrs.xapi.errors import XAPIValidationError
from lrs.xapi.multipart import AttachmentPart, match_attachments
from lrs.xapi.signatures import verify_signed_statement
from lrs.xapi.statement import statement_path, validate_statement


def statements_validate(statements: Sequence[Any], *, version: str, many: bool) -> list[uuid.UUID]:
    """Validate a whole batch before anything is written (a failed batch stores nothing); return
    the statement ids (generated where absent)."""
    for index, statement in enumerate(statements):
        validate_statement(statement, version=version, path=statement_path(index, many=many))
    return _statement_ids(statements)


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


def attachments_check(
    statements: Sequence[dict], parts: Sequence[AttachmentPart], *, many: bool
) -> dict[str, AttachmentPart]:
    """Match multipart parts to attachment metadata and verify signatures (Data 2.4.11, 2.6)."""
    parts_by_sha2 = match_attachments(
        list(statements), list(parts), path_prefix="statements" if many else "statement"
    )
    for index, statement in enumerate(statements):
        verify_signed_statement(statement, parts_by_sha2, path=statement_path(index, many=many))
    check_attachment_sizes(parts_by_sha2.values())
    return parts_by_sha2


def _may_contain_nul(definitions: dict[str, dict | None]) -> bool:
    """False when no definition can hold U+0000: orjson writes it as ``\\u0000`` (a string holding
    that text by itself only sends the batch to the exact check). One C call for the batch's
    definitions, against a Python walk of each."""
    try:
        return b"\\u0000" in orjson.dumps(definitions)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits: the exact check decides
        return True


def _contains_nul(value: Any) -> bool:
    if type(value) is str:
        return "\x00" in value
    if type(value) is dict:
        return any("\x00" in key or _contains_nul(item) for key, item in value.items())
    if type(value) is list:
        return any(_contains_nul(item) for item in value)
    return False


def reject_nul_in_definitions(
    statements: Sequence[dict], definitions: dict[str, dict | None], *, many: bool
) -> None:
    """Canonical definitions are kept as PostgreSQL jsonb, which cannot hold U+0000: such a
    definition is bad input (400 naming the statement), not a database failure."""
    if not _may_contain_nul(definitions) or not any(_contains_nul(d) for d in definitions.values()):
        return
    for index, statement in enumerate(statements):
        for where, activity in activities_with_paths(statement):
            if _contains_nul(activity.get("definition")):
                prefix = statement_path(index, many=many)
                raise XAPIValidationError(
                    f"the definition of activity {activity.get('id')} contains U+0000, which the LRS "
                    "cannot store",
                    path=f"{prefix}.{where}.definition",
                    rule="no-nul",
                )
