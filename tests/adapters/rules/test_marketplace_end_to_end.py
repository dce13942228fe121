"""From a statement as GET /xapi/statements serves it to the marketplace JSON, through the
competency mapping and the repository's mapping CSV; and the rules stay free of Django."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from adapters.rules import (
    CompetencyMapping,
    FieldMapping,
    competencies_for,
    load_field_mapping,
)
from tests.adapters.rules.statements import (
    ADL,
    ASSESSMENT_TYPE,
    COURSE,
    STATEMENT_ID,
    activity,
    make_statement,
)

BADGES = "https://lrs.example.org/xapi/extensions/badges"
CERTIFICATES = "https://lrs.example.org/xapi/extensions/certificates"
COMPETENCIES = CompetencyMapping.from_json(
    {
        "version": "2024-06-01",
        "rules": [
            {"activity_id": COURSE, "codes": ["HS-101"], "level": {"fixed": 3}},
            {
                "activity_type": ASSESSMENT_TYPE,
                "codes": ["ASSESS-1"],
                "level": {"thresholds": [[90, 5], [75, 4], [60, 3], [0, 2]], "no_score": 1},
            },
        ],
    }
)
HRIS = {"employee_id": "E-1234", "department": "Operations"}


@pytest.fixture(scope="module")
def mapping() -> FieldMapping:
    return load_field_mapping()


def deliveries(statement: dict, mapping: FieldMapping) -> list[dict]:
    """One marketplace document per competency the statement evidences."""
    documents = []
    for award in competencies_for(statement, COMPETENCIES):
        sources = mapping.sources_from("xapi", statement)
        sources |= mapping.sources_from("lrs", {"competency": award.to_json()})
        sources |= mapping.sources_from("hris", HRIS)
        documents.append(mapping.apply(sources))
    return documents


def test_course_completion_from_india_becomes_one_marketplace_document(mapping: FieldMapping) -> None:
    statement = make_statement(
        timestamp="2024-05-05T02:00:00.000+05:30",
        context={"extensions": {BADGES: ["Fire warden"]}},
        result={"completion": True, "success": True, "extensions": {CERTIFICATES: "CERT-77"}},
    )
    assert deliveries(statement, mapping) == [
        {
            "memberId": "E-1234",
            "email": "jane.doe@example.com",
            "competencyCode": "HS-101",
            "level": 3,
            "learningCompleted": {"completed": True, "date": "2024-05-04"},
            "score": None,
            "evidence": [{"statementId": STATEMENT_ID, "activityId": COURSE}],
            "badges": ["Fire warden"],
            "certificates": ["CERT-77"],
        }
    ]


def test_scored_assessment_from_california_with_raw_min_max(mapping: FieldMapping) -> None:
    statement = make_statement(
        verb={"id": ADL + "passed"},
        object=activity("https://lms.example.com/assessments/a1", ASSESSMENT_TYPE, name={"de": "Prüfung"}),
        result={"success": True, "score": {"raw": 41, "min": 0, "max": 50}},
        timestamp="2024-05-04T20:15:00-08:00",
        version="2.0.0",
    )
    [document] = deliveries(statement, mapping)
    assert document["competencyCode"] == "ASSESS-1"
    assert document["level"] == 4
    assert document["score"] == 82.0
    assert document["learningCompleted"] == {"completed": True, "date": "2024-05-05"}
    assert "badges" not in document


def test_failed_assessment_is_not_delivered(mapping: FieldMapping) -> None:
    statement = make_statement(
        verb={"id": ADL + "failed"},
        object=activity("https://lms.example.com/assessments/a1", ASSESSMENT_TYPE),
        result={"success": False, "score": {"scaled": 0.4}},
    )
    assert deliveries(statement, mapping) == []


def test_actor_identified_by_account_is_delivered_by_member_id_without_email(mapping: FieldMapping) -> None:
    statement = make_statement(actor={"account": {"homePage": "https://hr.example.com", "name": "E-1234"}})
    [document] = deliveries(statement, mapping)
    assert document["memberId"] == "E-1234" and "email" not in document


def test_group_actor_with_mbox_is_delivered_under_the_groups_address(mapping: FieldMapping) -> None:
    group = {"objectType": "Group", "name": "Team Red", "mbox": "mailto:Team.Red@Example.com", "member": []}
    [document] = deliveries(make_statement(actor=group), mapping)
    assert document["email"] == "team.red@example.com"


def test_sources_from_reads_only_that_systems_rows(mapping: FieldMapping) -> None:
    statement = make_statement()
    assert set(mapping.sources_from("xapi", statement)) == {
        "xapi:actor.mbox",
        "xapi:$",
        "xapi:timestamp",
        "xapi:result.score",
    }
    assert mapping.sources_from("hris", HRIS) == {"hris:employee_id": "E-1234"}


def test_rules_import_no_django() -> None:
    code = (
        "import sys, adapters.rules, adapters.rules.field_mapping;"
        "banned = {'django', 'rest_framework', 'lrs', 'config'};"
        # The rules share the pure spec modules (lrs.xapi: timestamps), nothing else of the LRS.
        "pure = lambda m: m == 'lrs' or m == 'lrs.xapi' or m.startswith('lrs.xapi.');"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in banned and not pure(m));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    root = Path(__file__).resolve().parents[3]
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
