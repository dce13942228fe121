"""Statements the golden tests run through every adapter (as GET /xapi/statements serves them)."""

from __future__ import annotations

ADL = "http://adlnet.gov/expapi/verbs/"
COURSE = "https://lms.example.com/courses/safety-101"
QUIZ = "https://lms.example.com/courses/safety-101/quiz"
AUTHORITY = {
    "objectType": "Agent",
    "name": "lms",
    "account": {"homePage": "http://localhost:8000", "name": "k"},
}


def _statement(statement_id: str, **parts) -> dict:
    base = {
        "id": statement_id,
        "actor": {"objectType": "Agent", "name": "Ada Lovelace", "mbox": "mailto:ada@example.com"},
        "verb": {"id": ADL + "completed", "display": {"en-US": "completed"}},
        "object": {
            "objectType": "Activity",
            "id": COURSE,
            "definition": {
                "name": {"en-US": "Safety 101"},
                "type": "http://adlnet.gov/expapi/activities/course",
            },
        },
        "timestamp": "2026-03-01T09:30:00.000000Z",
        "stored": "2026-03-01T09:30:01.000000Z",
        "authority": AUTHORITY,
        "version": "1.0.0",
    }
    base.update(parts)
    return base


CASES: dict[str, dict] = {
    "completed": _statement("0b1c6a8e-8f0e-4c8e-9a41-000000000001", result={"completion": True}),
    "passed_scaled": _statement(
        "0b1c6a8e-8f0e-4c8e-9a41-000000000002",
        verb={"id": ADL + "passed", "display": {"en-US": "passed"}},
        object={"objectType": "Activity", "id": QUIZ, "definition": {"name": {"en-US": "Safety quiz"}}},
        result={"success": True, "completion": True, "score": {"scaled": 0.875}},
    ),
    "failed_raw_min_max": _statement(
        "0b1c6a8e-8f0e-4c8e-9a41-000000000003",
        verb={"id": ADL + "failed", "display": {"en-US": "failed"}},
        object={"objectType": "Activity", "id": QUIZ, "definition": {"name": {"en-US": "Safety quiz"}}},
        result={"success": False, "score": {"raw": 12, "min": 0, "max": 40}},
    ),
    "group_actor": _statement(
        "0b1c6a8e-8f0e-4c8e-9a41-000000000004",
        actor={
            "objectType": "Group",
            "name": "Team Ada",
            "mbox": "mailto:team-ada@example.com",
            "member": [{"mbox": "mailto:ada@example.com"}],
        },
        result={"completion": True},
    ),
    "account_actor": _statement(
        "0b1c6a8e-8f0e-4c8e-9a41-000000000005",
        actor={
            "objectType": "Agent",
            "name": "Grace Hopper",
            "account": {"homePage": "https://hr.example.com", "name": "E200"},
        },
        result={"completion": True, "score": {"raw": 91}},
    ),
    "sub_statement": _statement(
        "0b1c6a8e-8f0e-4c8e-9a41-000000000006",
        verb={"id": ADL + "mastered", "display": {"en-US": "mastered"}},
        object={
            "objectType": "SubStatement",
            "actor": {"objectType": "Agent", "mbox": "mailto:ada@example.com"},
            "verb": {"id": ADL + "completed"},
            "object": {
                "objectType": "Activity",
                "id": COURSE,
                "definition": {"name": {"en-US": "Safety 101"}},
            },
        },
    ),
    "non_english_names": _statement(
        "0b1c6a8e-8f0e-4c8e-9a41-000000000007",
        actor={"objectType": "Agent", "name": "Zoë Ångström", "mbox": "mailto:zoe@example.com"},
        object={
            "objectType": "Activity",
            "id": COURSE,
            "definition": {"name": {"de-DE": "Sicherheit 101", "ja-JP": "安全 101"}},
        },
        result={"completion": True},
    ),
    "timezone_offset": _statement(
        "0b1c6a8e-8f0e-4c8e-9a41-000000000008",
        timestamp="2026-03-01T23:45:00.000+05:30",
        result={"completion": True, "score": {"scaled": 0.5}},
    ),
}
