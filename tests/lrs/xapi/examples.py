"""Realistic statements for the pure xAPI rule tests, and an assertion helper.

Every function returns a fresh dict, so tests may mutate what they get.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lrs.xapi.errors import XAPIValidationError

REGISTRATION = "ec531277-b57b-4c15-8d91-d292c5b2b8f7"
COURSE = "https://lms.example.com/courses/algebra-1"
AU = "https://lms.example.com/courses/algebra-1/au/quiz-3"
CMI5_CATEGORY = "https://w3id.org/xapi/cmi5/context/categories/cmi5"
MOVEON_CATEGORY = "https://w3id.org/xapi/cmi5/context/categories/moveon"
SESSION_EXTENSION = "https://w3id.org/xapi/cmi5/context/extensions/sessionid"
SHA2 = "495395e777cd98da653df9615d09c0fd6bb2f8d4788394cd53c56a3bfdcd848a"


def learner() -> dict[str, Any]:
    return {
        "objectType": "Agent",
        "name": "Ada Lovelace",
        "account": {"homePage": "https://lms.example.com", "name": "learner-1625378"},
    }


def cmi5_completed() -> dict[str, Any]:
    """A cmi5 "completed" statement from an AU, using every statement property."""
    return {
        "id": "fd41c918-b88b-4b20-a0a5-a4c32391aaa0",
        "actor": learner(),
        "verb": {
            "id": "http://adlnet.gov/expapi/verbs/completed",
            "display": {"en-US": "completed", "de-DE": "abgeschlossen"},
        },
        "object": {
            "objectType": "Activity",
            "id": AU,
            "definition": {
                "name": {"en-US": "Quiz 3: Linear equations", "fr-FR": "Quiz 3 : équations linéaires"},
                "description": {"en-US": "Ten questions on solving linear equations."},
                "type": "http://adlnet.gov/expapi/activities/assessment",
                "moreInfo": "https://lms.example.com/courses/algebra-1/au/quiz-3/info",
                "extensions": {"https://example.com/xapi/extensions/difficulty": "medium"},
            },
        },
        "result": {
            "score": {"scaled": 0.85, "raw": 85, "min": 0, "max": 100},
            "success": True,
            "completion": True,
            "response": "submitted",
            "duration": "PT12M34.56S",
            "extensions": {"https://w3id.org/xapi/cmi5/result/extensions/progress": 100},
        },
        "context": {
            "registration": REGISTRATION,
            "instructor": {"objectType": "Agent", "name": "Grace Hopper", "mbox": "mailto:grace@example.com"},
            "team": {
                "objectType": "Group",
                "name": "Study group B",
                "member": [
                    {"mbox": "mailto:ada@example.com"},
                    {"mbox_sha1sum": "cd9b00a5611f94eaa7b1661edab976068e364975"},
                ],
            },
            "contextActivities": {
                "parent": [{"objectType": "Activity", "id": COURSE}],
                "grouping": [{"id": "https://lms.example.com/programmes/maths"}],
                "category": [
                    {
                        "id": CMI5_CATEGORY,
                        "definition": {"type": "http://adlnet.gov/expapi/activities/profile"},
                    },
                    {"id": MOVEON_CATEGORY},
                ],
                "other": [{"id": "https://lms.example.com/textbooks/algebra"}],
            },
            "revision": "2024.3",
            "platform": "Example LMS 7",
            "language": "en-US",
            "statement": {"objectType": "StatementRef", "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee"},
            "extensions": {
                SESSION_EXTENSION: "458240298378231",
                "https://example.com/xapi/extensions/empty": None,
            },
        },
        "timestamp": "2024-05-04T12:00:00.123+02:00",
        "stored": "2024-05-04T10:00:01.456Z",
        "authority": {
            "objectType": "Group",
            "member": [
                {"account": {"homePage": "https://lrs.example.com/oauth/token", "name": "consumer-x75db"}},
                {"mbox": "mailto:admin@example.com"},
            ],
        },
        "version": "1.0.0",
        "attachments": [
            {
                "usageType": "http://adlnet.gov/expapi/attachments/certificate",
                "display": {"en-US": "Certificate of completion"},
                "description": {"en-US": "The certificate the learner earned"},
                "contentType": "application/pdf",
                "length": 65432,
                "sha2": SHA2,
                "fileUrl": "https://lms.example.com/certificates/1625378.pdf",
            }
        ],
    }


def scorm_choice_answered() -> dict[str, Any]:
    """A SCORM-style interaction: a multiple-choice question answered."""
    return {
        "id": "a9c4c5f8-0f3c-4b8e-9ad3-6c4b0e8a1f01",
        "actor": {"objectType": "Agent", "mbox": "mailto:learner@example.com", "name": "Learner"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/answered", "display": {"en-US": "answered"}},
        "object": {
            "id": f"{AU}/questions/q1",
            "definition": {
                "name": {"en-US": "Question 1"},
                "description": {"en-US": "Which of these is a prime number?"},
                "type": "http://adlnet.gov/expapi/activities/cmi.interaction",
                "interactionType": "choice",
                "correctResponsesPattern": ["seven[,]eleven", "seven"],
                "choices": [
                    {"id": "four", "description": {"en-US": "4", "fr": "quatre"}},
                    {"id": "seven", "description": {"en-US": "7"}},
                    {"id": "eleven", "description": {"en-US": "11"}},
                ],
            },
        },
        "result": {"success": True, "response": "seven", "duration": "PT20S"},
        "context": {
            "registration": REGISTRATION,
            "contextActivities": {"parent": {"id": AU}},  # a single Activity, as 0.95 allowed
        },
        "timestamp": "2024-05-04T10:00:00Z",
    }


def planned_substatement() -> dict[str, Any]:
    """A statement of intention, "I planned to visit a website", with a SubStatement (Data 2.4.4.3)."""
    return {
        "actor": {"objectType": "Agent", "mbox": "mailto:test@example.com"},
        "verb": {"id": "http://example.com/planned", "display": {"en-US": "planned"}},
        "object": {
            "objectType": "SubStatement",
            "actor": {"objectType": "Agent", "mbox": "mailto:test@example.com"},
            "verb": {"id": "http://example.com/visited", "display": {"en-US": "will visit"}},
            "object": {
                "objectType": "Activity",
                "id": "http://example.com/website",
                "definition": {"name": {"en-US": "Some Awesome Website"}},
            },
            "result": {"completion": False},
            "context": {
                "contextActivities": {"parent": [{"id": "http://example.com/web"}]},
                "platform": "web",
            },
            "timestamp": "2030-01-01T00:00:00Z",
        },
    }


def voiding() -> dict[str, Any]:
    return {
        "actor": {"objectType": "Agent", "name": "Example Admin", "mbox": "mailto:admin@example.adlnet.gov"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/voided", "display": {"en-US": "voided"}},
        "object": {"objectType": "StatementRef", "id": "e05aa883-acaf-40ad-bf54-02c8ce485fb0"},
    }


def xapi2_team_game() -> dict[str, Any]:
    """An xAPI 2.0 statement with contextAgents and contextGroups."""
    return {
        "id": "7b6c5d4e-3f2a-4b1c-8d9e-0f1a2b3c4d5e",
        "actor": {"objectType": "Agent", "mbox": "mailto:player-1@example.com"},
        "verb": {"id": "https://example.com/xapi/verbs/scored", "display": {"en": "scored"}},
        "object": {"id": "https://example.com/xapi/games/42", "objectType": "Activity"},
        "context": {
            "contextAgents": [
                {
                    "objectType": "contextAgent",
                    "agent": {"objectType": "Agent", "mbox": "mailto:coach@example.com"},
                    "relevantTypes": ["https://example.com/xapi/activity-types/personnel/coach"],
                },
                {"objectType": "contextAgent", "agent": {"mbox": "mailto:referee@example.com"}},
            ],
            "contextGroups": [
                {
                    "objectType": "contextGroup",
                    "group": {
                        "objectType": "Group",
                        "mbox": "mailto:team-a@example.com",
                        "member": [{"mbox": "mailto:player-1@example.com"}],
                    },
                    "relevantTypes": ["https://example.com/xapi/activity-types/team/home"],
                },
                {
                    "objectType": "contextGroup",
                    "group": {"objectType": "Group", "member": [{"mbox": "mailto:fan@example.com"}]},
                },
            ],
        },
        "timestamp": "2024-05-04T12:00:00-05:00",
        "version": "2.0.0",
    }


def assert_rejected(call: Callable[[], object], *, path: str, rule: str) -> XAPIValidationError:
    """Run ``call`` and check it raised an XAPIValidationError with exactly this path and rule."""
    with pytest.raises(XAPIValidationError) as caught:
        call()
    error = caught.value
    assert (error.path, error.rule) == (path, rule), error.describe()
    return error
