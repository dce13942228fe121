"""Reads behind the document resources, ``GET /xapi/activities`` and ``GET /xapi/agents``.

xAPI 1.0.3 Communication 2.3-2.7:
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#22-document-resources
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from lrs.models import Statement, StatementAgent
from lrs.models_documents import Activity, Document
from lrs.xapi.activity_definitions import activity_object
from lrs.xapi.agents import IFI_PROPERTIES, agent_ifi
from lrs.xapi.documents import DocumentKind

# How many of an agent's most recent statements GET /agents reads for the names it was given.
PERSON_STATEMENTS_SCANNED = 50


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


def activity_get(activity_id: str) -> dict[str, Any]:
    """The Activity object for ``activity_id``: its canonical definition, or just the id when none is known.

    1.0.3 Communication 2.5: "If an LRS does not have a canonical definition of the
    Activity to return, the LRS SHOULD* still return an Activity Object when queried."
    """
    row = Activity.objects.filter(activity_id=activity_id).only("definition").first()
    return activity_object(activity_id, row.definition if row is not None else None)


def _agents_in(
    value: Any, *, skip: frozenset[str] = frozenset({"extensions", "definition", "result"})
) -> Iterator[dict]:
    """Every object with an IFI property inside a statement (actors, objects, members, context agents)."""
    if isinstance(value, dict):
        if any(name in value for name in IFI_PROPERTIES) and value.get("objectType", "Agent") in {
            "Agent",
            "Group",
        }:
            yield value
        for key, item in value.items():
            if key not in skip:
                yield from _agents_in(item, skip=skip)
    elif isinstance(value, list):
        for item in value:
            yield from _agents_in(item, skip=skip)


def _names_seen(ifi: str) -> list[str]:
    statement_pks = list(
        StatementAgent.objects.filter(agent_ifi=ifi)
        .order_by("-stored", "-statement_id")
        .values_list("statement_id", flat=True)[:PERSON_STATEMENTS_SCANNED]
    )
    names: list[str] = []
    payloads = (
        Statement.objects.filter(id__in=statement_pks)
        .order_by("-stored", "-id")
        .values_list("payload", flat=True)
    )
    for payload in payloads:
        for agent in _agents_in(json.loads(payload)):
            name = agent.get("name")
            if isinstance(name, str) and name not in names and agent_ifi(agent) == ifi:
                names.append(name)
    return names


def person_get(agent: dict[str, Any]) -> dict[str, Any]:
    """The Person object for an Agent (Communication 2.4).

    This LRS knows one identifier per person (it does not link identifiers), so the
    Person carries the queried IFI and every name that statements stored for that
    IFI gave the agent (the query's own name first, then the most recent first).
    "If an LRS does not have any additional information about an Agent to return,
    the LRS MUST still return a Person Object when queried, but that Person Object
    will only include the information associated with the requested Agent." Every
    property is present as an array, empty when nothing is known.
    """
    ifi = agent_ifi(agent)
    names: list[str] = [agent["name"]] if isinstance(agent.get("name"), str) else []
    if ifi is not None:
        names.extend(name for name in _names_seen(ifi) if name not in names)
    person: dict[str, Any] = {"objectType": "Person", "name": names}
    for prop in IFI_PROPERTIES:
        value = agent.get(prop)
        if prop == "account" and isinstance(value, dict):
            value = {"homePage": value.get("homePage"), "name": value.get("name")}
        person[prop] = [value] if value is not None else []
    return person
