"""A plain model of what ``GET /xapi/statements`` must answer (xAPI 1.0.3 Communication 2.1.3,
2.1.4), written from the spec and independent of ``lrs.statements``:

- ``agent`` matches the Actor or Object (by IFI); ``related_agents`` also Authority, Instructor,
  Team (and its members) and those inside a SubStatement;
- ``activity`` matches an Activity Object; ``related_activities`` also the context activities and
  the SubStatement's Object;
- ``verb`` and ``registration`` match the statement's own;
- a statement whose Object is a StatementRef also matches the non-time filters when the statement
  it targets does, recursively ("a targets b which targets c"), voided targets included; for a
  ``statements/read/mine`` credential the chain goes only through statements it stored itself (one
  it may not read ends it: the LRS's rule, README "Pointing an LMS at the LRS");
- ``since`` is exclusive and ``until`` inclusive, on the returned statement's own ``stored``;
- voided statements are never listed (a voiding statement is listed and matches as above);
- newest first by ``stored`` unless ``ascending``, ties in one order (the primary key here);
- a page continues after the last statement of the page before it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

VOIDED = "http://adlnet.gov/expapi/verbs/voided"


@dataclass(frozen=True)
class Spec:
    """A drawn statement. ``obj``: ("activity", id) | ("agent", key) | ("ref", statement id) |
    ("sub", agent key, activity id)."""

    actor: str
    verb: str
    obj: tuple
    registration: str | None = None
    parents: tuple[str, ...] = ()
    instructor: str | None = None
    team: tuple[str, ...] = ()


@dataclass
class Stored:
    statement_id: str
    spec: Spec
    pk: int
    stored: datetime
    by: str = "lms"  # the credential that stored it: its authority, and whose "mine" it is

    @property
    def key(self) -> tuple[datetime, int]:
        return (self.stored, self.pk)

    @property
    def target(self) -> str | None:
        return self.spec.obj[1] if self.spec.obj[0] == "ref" else None


@dataclass(frozen=True)
class Query:
    agent: str | None = None
    related_agents: bool = False
    verb: str | None = None
    activity: str | None = None
    related_activities: bool = False
    registration: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 0
    ascending: bool = False
    mine: str | None = None  # statements/read/mine: only what this credential stored

    @property
    def page_size(self) -> int:
        return self.limit or 100  # LRS_STATEMENTS_PAGE_SIZE

    @property
    def content(self) -> bool:
        return any(v is not None for v in (self.agent, self.verb, self.activity, self.registration))


def agents_of(spec: Spec, *, related: bool, by: str) -> set[str]:
    found = {spec.actor}
    if spec.obj[0] == "agent":
        found.add(spec.obj[1])
    if related:
        found.add(by)  # the authority: the credential's own agent
        found.update(a for a in (spec.instructor, *spec.team) if a is not None)
        if spec.obj[0] == "sub":
            found.add(spec.obj[1])
    return found


def activities_of(spec: Spec, *, related: bool) -> set[str]:
    found = {spec.obj[1]} if spec.obj[0] == "activity" else set()
    if related:
        found.update(spec.parents)
        if spec.obj[0] == "sub":
            found.add(spec.obj[2])
    return found


def matches_itself(statement: Stored, query: Query) -> bool:
    spec = statement.spec
    if query.verb is not None and spec.verb != query.verb:
        return False
    if query.registration is not None and spec.registration != query.registration:
        return False
    if query.agent is not None and query.agent not in agents_of(
        spec, related=query.related_agents, by=statement.by
    ):
        return False
    return query.activity is None or query.activity in activities_of(spec, related=query.related_activities)


@dataclass
class Store:
    """The statements stored so far, by id, and which are voided (Data 2.3.2: a statement is
    voided when a voiding statement names it, whichever came first, unless it voids itself)."""

    by_id: dict[str, Stored] = field(default_factory=dict)
    # How many StatementRefs a match may follow: None as the spec says (any number).
    ref_depth: int | None = None

    def add(self, stored: Stored) -> None:
        self.by_id[stored.statement_id] = stored

    def voided(self, statement: Stored) -> bool:
        if statement.spec.verb == VOIDED:
            return False
        return any(
            other.spec.verb == VOIDED and other.target == statement.statement_id
            for other in self.by_id.values()
        )

    def matches(self, statement: Stored, query: Query) -> bool:
        """The content filters, on the statement or (StatementRef) on the chain it targets."""
        if not query.content:
            return True
        seen: set[str] = set()
        current: Stored | None = statement
        while current is not None and current.statement_id not in seen:
            # statements/read/mine: a statement it may not read ends the chain. Neither whether it
            # matches nor what it refers to may decide the answer, or the answer would tell what
            # that statement holds (tests/security/test_read_mine.py, review/test_read_mine_chains.py).
            if query.mine not in (None, current.by):
                return False
            if matches_itself(current, query):
                return True
            seen.add(current.statement_id)
            if self.ref_depth is not None and len(seen) > self.ref_depth:
                return False
            target = current.target
            current = self.by_id.get(target) if target is not None else None
        return False

    def listed(self, query: Query, after: tuple[datetime, int] | None) -> list[Stored]:
        """Everything a walk of ``query`` still has to return after ``after``, in order."""
        found = []
        for statement in self.by_id.values():
            if self.voided(statement) or query.mine not in (None, statement.by):
                continue
            if query.since is not None and not statement.stored > query.since:
                continue
            if query.until is not None and not statement.stored <= query.until:
                continue
            if after is not None and not (
                statement.key > after if query.ascending else statement.key < after
            ):
                continue
            if self.matches(statement, query):
                found.append(statement)
        return sorted(found, key=lambda s: s.key, reverse=not query.ascending)


def new_ids(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]
