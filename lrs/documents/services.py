"""Writes of the document resources.

xAPI 1.0.3 Communication 2.2-2.7 and 3.1 (Concurrency); IEEE 9274.1.1 (xAPI 2.0)
4.1.4 and 4.1.6. The spec rules (ETags, preconditions, the JSON merge) live in
:mod:`lrs.xapi.documents`; this module
applies them to the rows, each write in one transaction with the document row
locked, so that a precondition is checked against the row that is then changed.
On PostgreSQL the writes of one context (activity / agent) also run one after the
other (``_lock_context``), so that ``updated`` follows commit order for ``since``.

Two requests creating the same new document then find each other's row; without
that lock (SQLite) they race on the unique constraint, and the loser re-runs its
whole write once, now seeing the winner's row (so an ``If-None-Match: *`` PUT
that lost answers 412, as it should).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from lrs.documents.models import Document
from lrs.documents.selectors import DocumentContext, DocumentKey, context_queryset, document_queryset
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


def _lock_context(key: DocumentKey) -> None:
    """Writes of one context (the documents an id list shows) one after the other, until commit.

    A write reads the clock before it commits; were two writes of a context to overlap, the one
    that read it first could commit last, after a client listed the other and was given its time
    as Last-Modified: polling with that ``since`` (exclusive), the client would never see the
    first. Serialised, a write reads the clock only once the previous one committed, so ``updated``
    follows commit order within the context (Communication 2.3, 2.6, 2.7 ``since``).
    """
    if connection.vendor != "postgresql":
        return  # SQLite runs one write transaction at a time already
    digest = hashlib.blake2b(f"{key.kind.value}\0{key.activity_id}\0{key.agent_ifi}".encode(), digest_size=8)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest.digest(), "big", signed=True)]
        )


_TICK = timedelta(microseconds=1)  # the resolution of a stored timestamp


def _after_context_changes(key: DocumentKey, now: datetime) -> datetime:
    """``now``, or just after the context's latest change if that is later (a clock stepped back,
    or another server's clock ahead of this one's): with the context locked, strictly after every
    change a client may have been given as Last-Modified, so an exclusive ``since`` finds this one
    (Communication 2.3, 2.6, 2.7)."""
    context = DocumentContext(kind=key.kind, activity_id=key.activity_id, agent_ifi=key.agent_ifi)
    latest = context_queryset(context).aggregate(latest=Max("updated"))["latest"]
    return now if latest is None else max(now, latest + _TICK)


# Computes (content, content_type) to store from the locked existing row (None: there is none).
_Change = Callable[[Document | None], tuple[bytes, str]]


def _write(key: DocumentKey, change: _Change) -> Document:
    for attempt in range(2):
        try:
            with transaction.atomic():
                _lock_context(key)
                existing = document_queryset(key, Document.objects.select_for_update()).first()
                content, content_type = change(existing)
                _check_size(content)
                now = _after_context_changes(key, timezone.now())
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
                existing.updated = now
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


def documents_of_agents_delete(*, agent_ifis: list[str]) -> int:
    """Erasure: every state and agent-profile document of these agents (any activity,
    registration or id); returns how many were deleted."""
    return Document.objects.filter(agent_ifi__in=agent_ifis).exclude(agent_ifi="").delete()[0]
