"""The Person object behind ``GET /xapi/agents`` (xAPI 1.0.3 Communication 2.4), from the
statements stored about an agent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from lrs.statements.models import Statement, StatementAgent
from lrs.xapi.agents import IFI_PROPERTIES, agent_ifi

# How many of an agent's most recent statements GET /agents reads for the names it was given.
PERSON_STATEMENTS_SCANNED = 50


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


def _names_seen(ifi: str, credential_id: int | None) -> list[str]:
    rows = StatementAgent.objects.filter(agent_ifi=ifi)
    if credential_id is not None:
        rows = rows.filter(statement__credential_id=credential_id)
    statement_pks = list(
        rows.order_by("-stored", "-statement_id").values_list("statement_id", flat=True)[
            :PERSON_STATEMENTS_SCANNED
        ]
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


def person_get(
    agent: dict[str, Any], *, from_statements: bool = True, credential_id: int | None = None
) -> dict[str, Any]:
    """The Person object for an Agent (Communication 2.4).

    This LRS knows one identifier per person (it does not link identifiers), so the
    Person carries the queried IFI and every name that statements stored for that
    IFI gave the agent (the query's own name first, then the most recent first).
    "If an LRS does not have any additional information about an Agent to return,
    the LRS MUST still return a Person Object when queried, but that Person Object
    will only include the information associated with the requested Agent." Every
    property is present as an array, empty when nothing is known.

    Names come only from statements the asker may read: none with ``from_statements=False`` (a
    credential that reads no statements), only those stored with ``credential_id`` when given
    (statements/read/mine), so no credential learns the name behind an identifier from
    statements it could not read itself.
    """
    ifi = agent_ifi(agent)
    names: list[str] = [agent["name"]] if isinstance(agent.get("name"), str) else []
    if ifi is not None and from_statements:
        names.extend(name for name in _names_seen(ifi, credential_id) if name not in names)
    person: dict[str, Any] = {"objectType": "Person", "name": names}
    for prop in IFI_PROPERTIES:
        value = agent.get(prop)
        if prop == "account" and isinstance(value, dict):
            value = {"homePage": value.get("homePage"), "name": value.get("name")}
        person[prop] = [value] if value is not None else []
    return person
