"""Property: following ``more`` returns what the model (tests/lrs/api/query/model.py) says, page by
page, while statements are stored (in batches: many share one ``stored``) and voided between pages,
by two credentials (one with scope ``statements/read/mine``, whose walks see only its own), with
xAPI 1.0.3 and 2.0.0 clients.

Each page must be exactly the model's next page at the time it is fetched: the first ``limit``
matching live statements after the last one of the page before, in order, with ``more`` set if
and only if any are left. Over a whole walk that means no statement returned twice and none
missed that matched from its first page to its last. ``X-Experience-API-Consistent-Through`` is
never earlier than the ``stored`` of a statement served, and ``statementId`` /
``voidedStatementId`` find a statement as it is live or voided. Some stores are given the
``stored`` of the store before them before anything reads them (a coarse clock: ties across
requests).

The model follows chains of StatementRefs to their end, as the spec says; for the
``statements/read/mine`` credential only along its own statements (README, "Pointing an LMS at
the LRS").

``LRS_QUERY_PROPERTY_EXAMPLES`` raises the number of examples (default 30).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrs.statements import store as statement_store_module
from lrs.statements.models import Statement, StatementActivity, StatementAgent
from lrs.statements.single import definition_cache, id_pool
from lrs.xapi.timestamps import format_timestamp, parse_timestamp
from tests.lrs.api.query.model import VOIDED, Query, Spec, Store, Stored, new_ids

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("LRS_QUERY_PROPERTY_EXAMPLES", "30"))
PEOPLE = ("ann", "bob", "cid")
VERBS = ("http://adlnet.gov/expapi/verbs/completed", "http://adlnet.gov/expapi/verbs/passed")
ACTIVITIES = ("http://example.com/act/x", "http://example.com/act/y", "http://example.com/act/z")
REGISTRATIONS = ("6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b", "0b1c2d3e-4f50-4617-8829-3a4b5c6d7e8f")
CREDENTIALS = ("lms", "mine")  # scope all; statements/write and statements/read/mine
POOL = 14  # statement ids a scenario may store or refer to (some never stored)


def mbox(key: str) -> dict:
    return {"mbox": f"mailto:{key}@example.com"}


def agent_param(key: str, clients: dict) -> str:
    """People by mailbox; "lms" and "mine" are the authorities of the two credentials."""
    if key in clients:
        return json.dumps({"account": clients[key].credential.authority["account"]})
    return json.dumps(mbox(key))


def statement_json(spec: Spec, statement_id: str) -> dict:
    kind = spec.obj[0]
    if kind == "activity":
        obj: dict = {"objectType": "Activity", "id": spec.obj[1]}
    elif kind == "agent":
        obj = {"objectType": "Agent", **mbox(spec.obj[1])}
    elif kind == "ref":
        obj = {"objectType": "StatementRef", "id": spec.obj[1]}
    else:
        obj = {
            "objectType": "SubStatement",
            "actor": mbox(spec.obj[1]),
            "verb": {"id": VERBS[0]},
            "object": {"id": spec.obj[2]},
        }
    statement = {"id": statement_id, "actor": mbox(spec.actor), "verb": {"id": spec.verb}, "object": obj}
    context: dict = {}
    if spec.registration:
        context["registration"] = spec.registration
    if spec.parents:
        context["contextActivities"] = {"parent": [{"id": a} for a in spec.parents]}
    if spec.instructor:
        context["instructor"] = mbox(spec.instructor)
    if spec.team:
        context["team"] = {"objectType": "Group", "member": [mbox(m) for m in spec.team]}
    if context:
        statement["context"] = context
    return statement


# Object kinds: an index into the id pool for a StatementRef (resolved when stored).
objects = st.one_of(
    st.tuples(st.just("activity"), st.sampled_from(ACTIVITIES)),
    st.tuples(st.just("agent"), st.sampled_from(PEOPLE)),
    st.tuples(st.just("ref"), st.integers(0, POOL - 1)),
    st.tuples(st.just("ref"), st.integers(0, 5)),  # chains: the first ids are stored first
    st.tuples(st.just("sub"), st.sampled_from(PEOPLE), st.sampled_from(ACTIVITIES)),
)
specs = st.builds(
    Spec,
    actor=st.sampled_from(PEOPLE),
    verb=st.sampled_from(VERBS),
    obj=objects,
    registration=st.none() | st.sampled_from(REGISTRATIONS),
    parents=st.lists(st.sampled_from(ACTIVITIES), max_size=2, unique=True).map(tuple),
    instructor=st.none() | st.sampled_from(PEOPLE),
    team=st.lists(st.sampled_from(PEOPLE), max_size=2, unique=True).map(tuple),
)
# A batch item: a statement, or a voiding statement naming a pool id (stored or not yet).
items = st.one_of(specs, st.tuples(st.just("void"), st.integers(0, POOL - 1)))


def sometimes(values: tuple | st.SearchStrategy) -> st.SearchStrategy:
    """None three times in four: with every filter often there, most walks would find nothing."""
    drawn = values if isinstance(values, st.SearchStrategy) else st.sampled_from(values)
    return st.one_of(st.just(None), st.just(None), st.just(None), drawn)


moments = st.tuples(st.integers(0, 1000), st.sampled_from((-1, 0, 1)))  # (which stored, µs off)
queries = st.fixed_dictionaries(
    {
        "agent": sometimes((*PEOPLE, *CREDENTIALS)),
        "related_agents": st.booleans(),
        "verb": sometimes((*VERBS, VOIDED)),
        "activity": sometimes(ACTIVITIES),
        "related_activities": st.booleans(),
        "registration": sometimes(REGISTRATIONS),
        "since": sometimes(moments),
        "until": sometimes(moments),
        "limit": st.sampled_from((0, 1, 2, 3, 5)),
        "ascending": st.booleans(),
        "format": st.sampled_from(("exact", "ids", "canonical")),
        "version": st.sampled_from(("1.0.3", "2.0.0")),
        "who": st.sampled_from(CREDENTIALS),
    }
)
steps = st.one_of(
    # A store, perhaps given the ``stored`` of the one before (a coarse clock) before anything reads it.
    st.tuples(
        st.just("store"),
        st.tuples(st.lists(items, min_size=1, max_size=6), st.booleans(), st.sampled_from(CREDENTIALS)),
    ),
    st.tuples(st.just("query"), queries),
    st.tuples(st.just("next"), st.integers(0, 10)),
)


@dataclass
class Walk:
    query: Query
    params: dict
    more: str = ""
    after: tuple[datetime, int] | None = None
    version: str = "1.0.3"
    who: str = "lms"
    seen: list[str] = field(default_factory=list)
    live_at_start: set[str] = field(default_factory=set)

    @property
    def headers(self) -> dict:
        return {"X-Experience-API-Version": self.version}


class World:
    def __init__(self, clients: dict) -> None:
        self.clients = clients
        self.xapi = clients["lms"]
        self.pool = new_ids(POOL)
        self.next_pool = 0
        self.model = Store()  # chains of StatementRefs followed to their end, as the spec says
        self.walks: list[Walk] = []
        self.last_batch: list[str] = []
        self.batch_before: list[str] = []

    # Storing -----------------------------------------------------------------------------

    def store(self, drawn: tuple[list, bool, str]) -> None:
        batch, tie, who = drawn
        sent: list[tuple[str, Spec]] = []
        for item in batch:
            if isinstance(item, tuple) and item[0] == "void":
                # Pool statements never use the voided verb: a voiding statement never names a
                # voiding statement (refused, tests/lrs/api/test_statements_voiding.py).
                spec = Spec(actor="bob", verb=VOIDED, obj=("ref", self.pool[item[1]]))
                sent.append((new_ids(1)[0], spec))
            else:
                if self.next_pool >= POOL:
                    continue
                statement_id = self.pool[self.next_pool]
                self.next_pool += 1
                spec = item
                if spec.obj[0] == "ref":
                    spec = Spec(**{**spec.__dict__, "obj": ("ref", self.pool[spec.obj[1]])})
                sent.append((statement_id, spec))
        if not sent:
            return
        body = [statement_json(spec, statement_id) for statement_id, spec in sent]
        response = self.clients[who].post_statements(body if len(body) > 1 else body[0])
        assert response.status_code == 200, response.content
        rows = Statement.objects.filter(statement_id__in=[i for i, _ in sent]).values_list(
            "statement_id", "id", "stored", "voided"
        )
        by_id = {str(sid): (pk, stored) for sid, pk, stored, _voided in rows}
        for statement_id, spec in sent:
            pk, stored = by_id[statement_id]
            self.model.add(Stored(statement_id, spec, pk, stored, by=who))
        self.batch_before, self.last_batch = self.last_batch, [i for i, _ in sent]
        if tie:
            self._tie()
        self._check_voided()

    def _check_voided(self) -> None:
        voided = Statement.objects.filter(voided=True).values_list("statement_id", flat=True)
        voided = {str(statement_id) for statement_id in voided}
        expected = {i for i, s in self.model.by_id.items() if self.model.voided(s)}
        assert voided == expected

    def _tie(self) -> None:
        """The last batch gets the ``stored`` of the batch before it, as a coarse clock would."""
        if not self.last_batch or not self.batch_before:
            return
        stored = self.model.by_id[self.batch_before[0]].stored
        pks = [self.model.by_id[i].pk for i in self.last_batch]
        for pk in pks:
            row = Statement.objects.get(pk=pk)
            old = format_timestamp(row.stored)
            Statement.objects.filter(pk=pk).update(
                stored=stored, payload=row.payload.replace(old, format_timestamp(stored))
            )
        StatementAgent.objects.filter(statement_id__in=pks).update(stored=stored)
        StatementActivity.objects.filter(statement_id__in=pks).update(stored=stored)
        for statement_id in self.last_batch:
            self.model.by_id[statement_id].stored = stored
        self.last_batch = []

    # Querying ----------------------------------------------------------------------------

    def _moment(self, drawn) -> datetime | None:
        if drawn is None or not self.model.by_id:
            return None
        times = sorted({s.stored for s in self.model.by_id.values()})
        which, offset = drawn
        return times[which % len(times)] + timedelta(microseconds=offset)

    def query(self, drawn: dict) -> None:
        since, until = self._moment(drawn["since"]), self._moment(drawn["until"])
        query = Query(
            agent=drawn["agent"],
            related_agents=drawn["related_agents"],
            verb=drawn["verb"],
            activity=drawn["activity"],
            related_activities=drawn["related_activities"],
            registration=drawn["registration"],
            since=since,
            until=until,
            limit=drawn["limit"],
            ascending=drawn["ascending"],
            mine=drawn["who"] if drawn["who"] == "mine" else None,
        )
        params: dict = {"format": drawn["format"]}
        if query.agent is not None:
            params["agent"] = agent_param(query.agent, self.clients)
        for name in ("verb", "activity", "registration"):
            if getattr(query, name) is not None:
                params[name] = getattr(query, name)
        for name in ("related_agents", "related_activities", "ascending"):
            if getattr(query, name):
                params[name] = "true"
        for name, moment in (("since", since), ("until", until)):
            if moment is not None:
                params[name] = format_timestamp(moment)
        if query.limit:
            params["limit"] = str(query.limit)
        walk = Walk(query, params, version=drawn["version"], who=drawn["who"])
        walk.live_at_start = {s.statement_id for s in self.model.listed(query, None)}
        self.walks.append(walk)
        self._page(walk, self.clients[walk.who].get("/xapi/statements", params, headers=walk.headers))

    def next(self, which: int) -> None:
        open_walks = [walk for walk in self.walks if walk.more]
        if open_walks:
            walk = open_walks[which % len(open_walks)]
            self._page(walk, self.clients[walk.who].get(walk.more, headers=walk.headers))

    def _page(self, walk: Walk, response) -> None:
        assert response.status_code == 200, response.content
        expected = self.model.listed(walk.query, walk.after)
        page = expected[: walk.query.page_size]
        body = response.json()
        got = [statement["id"] for statement in body["statements"]]
        where = f"{walk.params} after {walk.after}"
        assert got == [s.statement_id for s in page], where
        assert bool(body["more"]) == (len(expected) > len(page)), where
        through = parse_timestamp(response["X-Experience-API-Consistent-Through"], path="header")
        assert all(s.stored <= through for s in page), where
        if body["more"]:
            kept = parse_qs(urlsplit(body["more"]).query)
            assert {k: v[0] for k, v in kept.items() if k != "cursor"} == walk.params
        walk.seen.extend(got)
        walk.after = page[-1].key if page else walk.after
        walk.more = body["more"]

    def single(self) -> None:
        """``statementId`` finds a stored statement unless it is voided, ``voidedStatementId``
        only when it is (2.1.4), each only by itself; with a filter beside it, 400."""
        for statement_id in self.pool[: self.next_pool + 1]:
            stored = self.model.by_id.get(statement_id)
            voided = stored is not None and self.model.voided(stored)
            live = self.xapi.get_statements(statementId=statement_id)
            dead = self.xapi.get_statements(voidedStatementId=statement_id)
            assert live.status_code == (200 if stored is not None and not voided else 404), statement_id
            assert dead.status_code == (200 if voided else 404), statement_id
            for found in (live, dead):
                if found.status_code == 200:
                    assert found.json()["id"] == statement_id
            own = self.clients["mine"].get_statements(statementId=statement_id)
            mine = stored is not None and stored.by == "mine" and not voided
            assert own.status_code == (200 if mine else 404), statement_id
        filtered = self.xapi.get_statements(voidedStatementId=self.pool[0], verb=VERBS[0])
        assert filtered.status_code == 400

    def finish(self) -> None:
        self.single()
        for walk in self.walks:
            while walk.more:
                self._page(walk, self.clients[walk.who].get(walk.more, headers=walk.headers))
            assert len(walk.seen) == len(set(walk.seen)), f"returned twice: {walk.params}"
            live_at_end = {s.statement_id for s in self.model.listed(walk.query, None)}
            missed = (walk.live_at_start & live_at_end) - set(walk.seen)
            assert not missed, f"missed {missed}: {walk.params}"


def forget_caches() -> None:
    id_pool.forget()
    definition_cache.clear()
    statement_store_module._resending_until.clear()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=st.lists(steps, min_size=1, max_size=14))
def test_following_more_returns_every_match_once_in_order_while_statements_arrive(xapi, xapi_for, plan):
    forget_caches()
    with transaction.atomic():
        # Made in the example's transaction, rolled back with it.
        clients = {"lms": xapi, "mine": xapi_for(["statements/write", "statements/read/mine"])}
        world = World(clients)
        for kind, arg in plan:
            getattr(world, kind)(arg)
        world.finish()
        transaction.set_rollback(True)
    forget_caches()
