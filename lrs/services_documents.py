"""Writes of the document resources and of the canonical Activity definitions.

xAPI 1.0.3 Communication 2.2-2.7 and 3.1 (Concurrency); IEEE 9274.1.1 (xAPI 2.0)
4.1.4 and 4.1.6. The spec rules (ETags, preconditions, the JSON merge) live in
:mod:`lrs.xapi.documents` and :mod:`lrs.xapi.activity_definitions`; this module
applies them to the rows, each write in one transaction with the document row
locked, so that a precondition is checked against the row that is then changed.

Two requests creating the same new document race on the unique constraint; the
loser re-runs its whole write once, now seeing the winner's row (so an
``If-None-Match: *`` PUT that lost answers 412, as it should).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from lrs.models_documents import Activity, Document
from lrs.selectors_documents import DocumentContext, DocumentKey, context_queryset, document_queryset
from lrs.xapi.activity_definitions import collect_definitions, merge_definitions
from lrs.xapi.documents import (
    Preconditions,
    check_preconditions,
    check_put_without_preconditions,
    etag_for,
    is_json,
    merge_json_documents,
    parse_json_document,
)
from lrs.xapi.errors import XAPIPayloadTooLarge, XAPIPreconditionFailed

DEFAULT_MAX_DOCUMENT_BYTES = 10 * 1024 * 1024


def max_document_bytes() -> int:
    return getattr(settings, "LRS_MAX_DOCUMENT_BYTES", DEFAULT_MAX_DOCUMENT_BYTES)


def _check_size(content: bytes) -> None:
    limit = max_document_bytes()
    if len(content) > limit:
        raise XAPIPayloadTooLarge(
            f"the document is {len(content)} bytes; this LRS stores documents of at most {limit} bytes",
            path="body",
            rule="document-size",
        )


def _check_json(content: bytes, content_type: str) -> None:
    """A document declared application/json must be JSON (Communication 3.2: malformed JSON is a 400)."""
    if is_json(content_type):
        parse_json_document(content, path="body")


# Computes (content, content_type) to store from the locked existing row (None: there is none).
_Change = Callable[[Document | None], tuple[bytes, str]]


def _write(key: DocumentKey, change: _Change) -> Document:
    for attempt in range(2):
        try:
            with transaction.atomic():
                existing = document_queryset(key, Document.objects.select_for_update()).first()
                content, content_type = change(existing)
                _check_size(content)
                now = timezone.now()
                if existing is None:
                    return Document.objects.create(
                        kind=key.kind.value,
                        activity_id=key.activity_id,
                        agent_ifi=key.agent_ifi,
                        registration=key.registration,
                        document_id=key.document_id,
                        content=content,
                        content_type=content_type,
                        etag=etag_for(content),
                        updated=now,
                    )
                existing.content = content
                existing.content_type = content_type
                existing.etag = etag_for(content)
                existing.updated = max(now, existing.updated)
                existing.save(update_fields=["content", "content_type", "etag", "updated"])
                return existing
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def document_put(
    *,
    key: DocumentKey,
    content: bytes,
    content_type: str,
    preconditions: Preconditions,
    version: str,
) -> Document:
    """Store ``content`` as the document, replacing any stored one (Communication 2.2 PUT).

    412 when If-Match/If-None-Match fail; 409 (existing document) or, in 1.0.3 for
    the profile resources, 400 (new document) when the PUT sends neither header;
    400 when content declared application/json is not JSON; 413 above the size limit.
    """
    _check_size(content)
    _check_json(content, content_type)

    def change(existing: Document | None) -> tuple[bytes, str]:
        check_preconditions(existing.etag if existing else None, preconditions)
        check_put_without_preconditions(
            kind=key.kind, version=version, exists=existing is not None, preconditions=preconditions
        )
        return content, content_type

    return _write(key, change)


def document_post(
    *, key: DocumentKey, content: bytes, content_type: str, preconditions: Preconditions
) -> Document:
    """Store a new document, or merge a JSON object into the stored JSON object (Communication 2.2).

    Without a stored document a POST is a PUT. With one, both must be
    application/json objects; their top-level properties are merged, else 400 and
    the stored document is unchanged.
    """
    _check_size(content)
    _check_json(content, content_type)

    def change(existing: Document | None) -> tuple[bytes, str]:
        check_preconditions(existing.etag if existing else None, preconditions)
        if existing is None:
            return content, content_type
        merged = merge_json_documents(
            existing=bytes(existing.content),
            existing_content_type=existing.content_type,
            posted=content,
            posted_content_type=content_type,
        )
        return merged, content_type

    return _write(key, change)


@transaction.atomic
def document_delete(*, key: DocumentKey, preconditions: Preconditions) -> bool:
    """Delete one document (no-op when there is none); True when one was deleted. 412 on a failed If-Match."""
    existing = document_queryset(key, Document.objects.select_for_update()).first()
    check_preconditions(existing.etag if existing else None, preconditions)
    if existing is None:
        return False
    existing.delete()
    return True


@transaction.atomic
def documents_delete(*, context: DocumentContext, preconditions: Preconditions | None = None) -> int:
    """Delete every State document of an activity + agent (+ registration); the number deleted.

    Communication 2.3 "Multiple Document DELETE". An If-Match naming entity tags
    cannot hold for a set of documents, so it fails (412); ``If-Match: *`` passes.
    """
    if preconditions is not None and preconditions.if_match_present and preconditions.if_match is not None:
        raise XAPIPreconditionFailed(
            "If-Match with an entity tag applies to one document; send stateId to delete one document",
            path="If-Match",
            rule="precondition",
        )
    deleted, _per_model = context_queryset(context).delete()
    return deleted


@dataclass(frozen=True)
class KnownActivities:
    """Canonical definitions read earlier in the transaction: ``checked`` are the ids looked up,
    ``definitions`` those of them that exist (id -> definition)."""

    checked: frozenset[str]
    definitions: Mapping[str, dict[str, Any] | None]


def activity_definitions_update(
    statements: Sequence[dict[str, Any]],
    *,
    can_define: bool,
    known: KnownActivities | None = None,
    found: Mapping[str, dict[str, Any] | None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Record the Activities of newly stored statements and merge their definitions into ``Activity``.

    Call it inside the statement-storing transaction with the statements as stored
    (repeats of already-stored statements excluded), in batch order, and
    ``can_define`` = whether the credential has the ``define`` scope (``all``
    implies it). Every activity id is saved. With ``define`` the definitions are
    merged into the canonical ones (:func:`lrs.xapi.activity_definitions.merge_definitions`);
    without it only an activity that has no canonical definition yet takes one
    (Communication 4.2: without ``define`` the LRS "SHOULD NOT update its
    canonical representation of any Actors or Activities").

    ``known``: canonical definitions already read in this transaction (the statement store's
    first query reads them); the ids it does not cover are read here. Usually every activity is
    known and no definition changes: then this costs no query and takes no lock. Only rows whose
    definition changes are locked (in id order, so concurrent batches cannot deadlock) and merged
    again under the lock. ``found``: the definitions of ``statements`` when the caller has
    collected them already (``collect_definitions``). Returns the definitions it merged (under the
    lock), by activity id.
    """
    if found is None:
        found = collect_definitions(list(statements))
    if not found:
        return {}
    current: dict[str, dict[str, Any] | None] = {}
    checked: set[str] = set()
    if known is not None:
        checked = set(found) & known.checked
        current = {id_: known.definitions[id_] for id_ in checked if id_ in known.definitions}
    unread = sorted(set(found) - checked)
    if unread:
        rows = Activity.objects.filter(activity_id__in=unread).values_list("activity_id", "definition")
        current.update(rows)
    now = timezone.now()
    new_rows = [
        Activity(activity_id=activity_id, definition=found[activity_id] or {}, updated=now)
        for activity_id in sorted(found)
        if activity_id not in current
    ]
    if new_rows:
        # A concurrent batch may insert the same activity first: its definition stands.
        Activity.objects.bulk_create(new_rows, ignore_conflicts=True)
    to_merge = sorted(
        activity_id
        for activity_id, existing in current.items()
        if definition_changes(existing, found[activity_id], can_define=can_define)
    )
    if not to_merge:
        return {}
    changed: list[Activity] = []
    locked = Activity.objects.select_for_update().filter(activity_id__in=to_merge).order_by("activity_id")
    for row in locked:
        if definition_changes(row.definition, found[row.activity_id], can_define=can_define):
            row.definition = merge_definitions(row.definition or {}, found[row.activity_id] or {})
            row.updated = now
            changed.append(row)
    if changed:
        Activity.objects.bulk_update(changed, ["definition", "updated"])
    return {row.activity_id: row.definition for row in changed}


def definition_changes(
    existing: dict[str, Any] | None, definition: dict[str, Any] | None, *, can_define: bool
) -> bool:
    """Whether ``definition`` would change the canonical ``existing`` one."""
    if not definition or (existing and not can_define):
        return False
    return merge_definitions(existing or {}, definition) != existing
