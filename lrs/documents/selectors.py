"""Reads behind the document resources (State, Activity Profile, Agent Profile).

xAPI 1.0.3 Communication 2.2-2.7:
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#22-document-resources
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from lrs.documents.models import Document
from lrs.xapi.documents import DocumentKind


@dataclass(frozen=True)
class DocumentContext:
    """The documents of one activity and/or agent; ``registration`` None means any registration (State)."""

    kind: DocumentKind
    activity_id: str = ""
    agent_ifi: str = ""
    registration: uuid.UUID | None = None


@dataclass(frozen=True)
class DocumentKey:
    """One document: kind + activity id / agent IFI (+ registration, State only) + stateId/profileId."""

    kind: DocumentKind
    document_id: str
    activity_id: str = ""
    agent_ifi: str = ""
    registration: uuid.UUID | None = None


def document_queryset(key: DocumentKey, queryset: QuerySet[Document] | None = None) -> QuerySet[Document]:
    """The (at most one) row of ``key``; ``registration=None`` matches only documents stored without one."""
    base = Document.objects.all() if queryset is None else queryset
    return base.filter(
        kind=key.kind.value,
        activity_id=key.activity_id,
        agent_ifi=key.agent_ifi,
        registration=key.registration,
        document_id=key.document_id,
    )


def context_queryset(context: DocumentContext) -> QuerySet[Document]:
    """The documents of a context (Communication 2.3 "Multiple Document GET/DELETE": Activity + Agent
    [+ registration if specified])."""
    queryset = Document.objects.filter(
        kind=context.kind.value, activity_id=context.activity_id, agent_ifi=context.agent_ifi
    )
    if context.registration is not None:
        queryset = queryset.filter(registration=context.registration)
    return queryset


def document_get(key: DocumentKey) -> Document | None:
    return document_queryset(key).first()


@dataclass(frozen=True)
class DocumentIds:
    ids: list[str]
    last_modified: datetime | None


def document_ids(context: DocumentContext, *, since: datetime | None = None) -> DocumentIds:
    """The ids stored or updated after ``since`` (exclusive), oldest change first, and the latest change."""
    queryset = context_queryset(context)
    if since is not None:
        queryset = queryset.filter(updated__gt=since)
    rows = list(queryset.order_by("updated", "id").values_list("document_id", "updated"))
    ids = list(dict.fromkeys(document_id for document_id, _updated in rows))
    return DocumentIds(ids=ids, last_modified=max((updated for _id, updated in rows), default=None))
