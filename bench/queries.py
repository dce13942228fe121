"""The ``GET /xapi/statements`` query types the bench times, and timing them over HTTP.

Every repetition draws fresh parameter values (another agent, verb, window …)
from the statement universe, so the figures are not one cached answer.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from bench.loadgen import Target, percentile, timed_gets
from bench.statements import VERBS, Universe, agent_param, verb_id

Params = dict[str, str]
P95_AIM_MS = 50.0
PAGE_CHAIN = 20  # pages followed through ``more`` before starting again at the first page


@dataclass(frozen=True)
class StoredRange:
    first: datetime
    last: datetime


@dataclass(frozen=True)
class QueryType:
    name: str
    make: Callable[[random.Random], Params]
    follows_more: bool = False


def _agent(agent: dict[str, Any]) -> str:
    return json.dumps(agent_param(agent), separators=(",", ":"))


def query_types(universe: Universe, stored: StoredRange) -> list[QueryType]:
    verbs = [verb_id(name) for name, _ in VERBS]
    span = (stored.last - stored.first).total_seconds()

    def window(rng: random.Random) -> Params:
        # A window of 1% of the stored range, somewhere inside it.
        start = stored.first + timedelta(seconds=rng.uniform(0, span * 0.99))
        end = start + timedelta(seconds=span * 0.01)
        return {"since": start.isoformat(), "until": end.isoformat()}

    return [
        QueryType("no_filter", lambda rng: {}),
        QueryType("verb", lambda rng: {"verb": rng.choice(verbs)}),
        QueryType("agent", lambda rng: {"agent": _agent(rng.choice(universe.actors))}),
        QueryType("activity", lambda rng: {"activity": rng.choice(universe.modules)}),
        QueryType("registration", lambda rng: {"registration": rng.choice(universe.registrations)}),
        QueryType(
            "related_agents",
            lambda rng: {"agent": _agent(rng.choice(universe.instructors)), "related_agents": "true"},
        ),
        QueryType(
            "related_activities",
            lambda rng: {"activity": rng.choice(universe.courses), "related_activities": "true"},
        ),
        QueryType("since_until", window),
        QueryType(
            "verb_agent",
            lambda rng: {"verb": rng.choice(verbs), "agent": _agent(rng.choice(universe.actors))},
        ),
        QueryType("paging_no_filter", lambda rng: {}, follows_more=True),
        QueryType(
            "paging_agent", lambda rng: {"agent": _agent(rng.choice(universe.actors))}, follows_more=True
        ),
    ]


def statements_path(params: Params) -> str:
    return "/xapi/statements" + (f"?{urlencode(params)}" if params else "")


def more_of(body: bytes | None) -> str:
    if not body:
        return ""
    try:
        return str(json.loads(body).get("more") or "")
    except ValueError:
        return ""


def params_of(path: str) -> Params:
    return dict(parse_qsl(urlsplit(path).query))


@dataclass
class QueryTiming:
    name: str
    latencies: list[float]
    statements_per_page: float
    first_error: str
    sample_params: Params

    def summary(self) -> dict[str, Any]:
        p95 = percentile(self.latencies, 0.95) * 1000
        return {
            "requests": len(self.latencies),
            "p50_ms": round(percentile(self.latencies, 0.50) * 1000, 2),
            "p95_ms": round(p95, 2),
            "max_ms": round(max(self.latencies, default=0.0) * 1000, 2),
            "statements_per_page": round(self.statements_per_page, 1),
            "over_p95_aim": p95 > P95_AIM_MS,
            "first_error": self.first_error,
            "sample_params": self.sample_params,
        }


def time_query(target: Target, query: QueryType, *, repetitions: int, warmup: int, seed: int) -> QueryTiming:
    rng = random.Random(seed)
    sample: dict[str, Params] = {}

    def path_for(index: int, previous: bytes | None) -> str:
        if query.follows_more and index % PAGE_CHAIN and more_of(previous):
            path = more_of(previous)
            if index % PAGE_CHAIN == PAGE_CHAIN // 2:
                sample.setdefault("params", params_of(path))  # a page deep in the chain, for EXPLAIN
            return path
        params = query.make(rng)
        sample.setdefault("first" if query.follows_more else "params", params)
        return statements_path(params)

    latencies, bodies, first_error = timed_gets(target, path_for, warmup + repetitions)
    counted = bodies[warmup:]
    sizes = [len(json.loads(body).get("statements", [])) for body in counted if body.startswith(b"{")]
    return QueryTiming(
        name=query.name,
        latencies=latencies[warmup:],
        statements_per_page=sum(sizes) / len(sizes) if sizes else 0.0,
        first_error=first_error,
        sample_params=sample.get("params") or sample.get("first") or {},
    )
