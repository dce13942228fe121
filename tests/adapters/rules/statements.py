"""Statements shaped as ``GET /xapi/statements`` serves them, for the rules tests."""

from __future__ import annotations

import copy
from typing import Any

ADL = "http://adlnet.gov/expapi/verbs/"
COURSE = "https://lms.example.com/courses/fire-safety"
ASSESSMENT_TYPE = "http://adlnet.gov/expapi/activities/assessment"
COURSE_TYPE = "http://adlnet.gov/expapi/activities/course"
STATEMENT_ID = "6690e6c9-3ef0-4ed3-8b37-7f3964730bee"

_BASE: dict[str, Any] = {
    "id": STATEMENT_ID,
    "actor": {"objectType": "Agent", "name": "Jane Doe", "mbox": "mailto:Jane.Doe@Example.com"},
    "verb": {"id": ADL + "completed", "display": {"en-US": "completed"}},
    "object": {
        "objectType": "Activity",
        "id": COURSE,
        "definition": {"name": {"en-US": "Fire safety"}, "type": COURSE_TYPE},
    },
    "result": {"completion": True, "success": True, "score": {"scaled": 0.82}},
    "timestamp": "2024-05-04T17:00:00.123456Z",
    "stored": "2024-05-04T17:00:01.000000Z",
    "authority": {"objectType": "Agent", "account": {"homePage": "https://lrs.example.org", "name": "key"}},
    "version": "1.0.3",
}


def make_statement(**changes: Any) -> dict[str, Any]:
    """A completed-course statement; keyword arguments replace top-level properties (None removes one)."""
    statement = copy.deepcopy(_BASE)
    for key, value in changes.items():
        if value is None:
            statement.pop(key, None)
        else:
            statement[key] = value
    return statement


def activity(activity_id: str = COURSE, activity_type: str | None = COURSE_TYPE, **definition: Any) -> dict:
    """An Activity object with an optional type and further definition properties."""
    body: dict[str, Any] = dict(definition)
    if activity_type is not None:
        body["type"] = activity_type
    return {"objectType": "Activity", "id": activity_id, "definition": body}
