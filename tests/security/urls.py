"""Every request the app serves, as one small table: which URL, which method, a body that would
succeed, and which scopes allow it (any one of them). Used by the scope matrix tests."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

AGENT = json.dumps({"objectType": "Agent", "mbox": "mailto:learner@example.com"})
ACTIVITY = "http://example.com/courses/safety-101"
STATE = {"activityId": ACTIVITY, "agent": AGENT, "stateId": "bookmark"}
ACTIVITY_PROFILE = {"activityId": ACTIVITY, "profileId": "notes"}
AGENT_PROFILE = {"agent": AGENT, "profileId": "preferences"}
DOCUMENT = json.dumps({"page": 3})


@dataclass(frozen=True)
class Call:
    """One request, and the scopes of which any one allows it (empty: no credential needed)."""

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    body: Any = None
    allowed_by: frozenset[str] = frozenset()
    public: bool = False

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


def _statement() -> str:
    return json.dumps(
        {
            "actor": {"objectType": "Agent", "mbox": "mailto:learner@example.com"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
            "object": {"objectType": "Activity", "id": ACTIVITY},
        }
    )


STATEMENT_READERS = frozenset({"statements/read/mine", "statements/read", "all/read", "all"})
# GET /agents and /activities: any scope that reads (lrs/api/agents.py READ_SCOPES).
RESOURCE_READERS = frozenset({*STATEMENT_READERS, "state", "profile"})


def calls() -> list[Call]:
    """The table: xAPI resources (Communication 2 and 4.2), the identity and privacy APIs, probes,
    the API description and the admin."""
    writers = frozenset({"statements/write", "all"})
    state_rw, profile_rw = frozenset({"state", "all"}), frozenset({"profile", "all"})
    state_r = frozenset({"state", "all/read", "all"})
    profile_r = frozenset({"profile", "all/read", "all"})
    # Not an xAPI scope, so not in "all" (Communication 4.2: "all" is the xAPI resources).
    identity = frozenset({"identity/write"})
    table = [
        Call("GET", "/xapi/about", public=True),
        Call("GET", "/xapi/", public=True),
        Call("GET", "/xapi/statements", allowed_by=STATEMENT_READERS),
        Call("HEAD", "/xapi/statements", allowed_by=STATEMENT_READERS),
        Call("POST", "/xapi/statements", body=_statement(), allowed_by=writers),
        Call("PUT", "/xapi/statements", {"statementId": str(uuid.uuid4())}, _statement(), allowed_by=writers),
        Call("GET", "/xapi/activities", {"activityId": ACTIVITY}, allowed_by=RESOURCE_READERS),
        Call("GET", "/xapi/agents", {"agent": AGENT}, allowed_by=RESOURCE_READERS),
    ]
    for path, params, read, write in (
        ("/xapi/activities/state", STATE, state_r, state_rw),
        ("/xapi/activities/profile", ACTIVITY_PROFILE, profile_r, profile_rw),
        ("/xapi/agents/profile", AGENT_PROFILE, profile_r, profile_rw),
    ):
        table += [
            Call("GET", path, params, allowed_by=read),
            Call("HEAD", path, params, allowed_by=read),
            Call("PUT", path, params, DOCUMENT, allowed_by=write),
            Call("POST", path, params, DOCUMENT, allowed_by=write),
            Call("DELETE", path, params, allowed_by=write),
        ]
    context = {key: value for key, value in STATE.items() if key != "stateId"}
    table.append(Call("DELETE", "/xapi/activities/state", context, allowed_by=state_rw))
    table += [
        Call("GET", "/api/identity/employees/E1", allowed_by=identity),
        Call("PATCH", "/api/identity/employees/E1", body={"emails": ["e1@example.com"]}, allowed_by=identity),
        Call(
            "DELETE", "/api/identity/employees/E1", body={"emails": ["e1@example.com"]}, allowed_by=identity
        ),
        Call("POST", "/api/identity/hris", {"dry_run": "true"}, body=[], allowed_by=identity),
        Call(
            "POST",
            "/api/privacy/erasures",
            body={"agent": {"mbox": "mailto:gone@example.com"}, "dry_run": True},
            allowed_by=frozenset({"privacy"}),
        ),
        Call("GET", "/api/privacy/erasures/999999", allowed_by=frozenset({"privacy"})),
        Call("GET", "/healthz", public=True),
        Call("GET", "/api/schema/", public=True),
        Call("GET", "/api/docs/", public=True),
    ]
    return table
