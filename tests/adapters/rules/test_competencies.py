"""Competencies evidenced by statements under a versioned JSON mapping."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapters.rules.competencies import (
    CompetencyAward,
    CompetencyMapping,
    CompetencyMappingError,
    CompetencyRule,
    FixedLevel,
    ThresholdLevel,
    competencies_for,
    is_failed,
)
from tests.adapters.rules.statements import (
    ADL,
    ASSESSMENT_TYPE,
    COURSE,
    COURSE_TYPE,
    STATEMENT_ID,
    activity,
    make_statement,
)

QUIZ = "https://lms.example.com/quizzes/fire-safety-quiz"
THRESHOLDS = {"thresholds": [[90, 5], [75, 4], [60, 3], [0, 2]], "no_score": 1}
MAPPING_JSON: dict[str, Any] = {
    "version": "2024-06-01",
    "description": "Health and safety",
    "rules": [
        {"activity_id": COURSE, "codes": ["HS-101", "HS-102"], "level": {"fixed": 3}},
        {"activity_type": COURSE_TYPE, "codes": ["GEN-1"], "level": {"fixed": 1}},
        {"activity_type": ASSESSMENT_TYPE, "codes": ["ASSESS-1"], "level": THRESHOLDS},
        {
            "activity_id": QUIZ,
            "codes": ["QUIZ-1"],
            "level": {"thresholds": [[50, 4]]},
            "award_on_failure": True,
        },
    ],
}


@pytest.fixture
def mapping() -> CompetencyMapping:
    return CompetencyMapping.from_json(MAPPING_JSON)


def assessment(score: dict | None = None, success: bool | None = True, **changes: Any) -> dict:
    result: dict[str, Any] = {"completion": True}
    if score is not None:
        result["score"] = score
    if success is not None:
        result["success"] = success
    changes = {"verb": {"id": ADL + "passed"}, **changes}
    return make_statement(
        object=activity("https://lms.example.com/assessments/a1", ASSESSMENT_TYPE), result=result, **changes
    )


def levels(awards: list[CompetencyAward]) -> list[tuple[str, int]]:
    return [(award.code, award.level) for award in awards]


# --- building from JSON ------------------------------------------------------------------------------


def test_from_json_builds_typed_rules(mapping: CompetencyMapping) -> None:
    assert mapping.version == "2024-06-01"
    assert mapping.rules[0] == CompetencyRule(COURSE, None, ("HS-101", "HS-102"), FixedLevel(3))
    assert mapping.rules[2].level == ThresholdLevel(((90.0, 5), (75.0, 4), (60.0, 3), (0.0, 2)), no_score=1)
    assert mapping.rules[3].award_on_failure is True


def test_from_json_accepts_json_text() -> None:
    assert CompetencyMapping.from_json(json.dumps(MAPPING_JSON)) == CompetencyMapping.from_json(MAPPING_JSON)
    assert CompetencyMapping.from_json(json.dumps(MAPPING_JSON).encode()).version == "2024-06-01"


def test_rules_are_immutable_and_codes_a_tuple() -> None:
    rule = CompetencyRule(COURSE, None, ["A", "B"], FixedLevel(2))  # type: ignore[arg-type]
    assert rule.codes == ("A", "B")
    with pytest.raises(AttributeError):
        rule.codes = ("C",)  # type: ignore[misc]


def test_a_rule_must_name_exactly_one_of_id_and_type() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        CompetencyRule(COURSE, COURSE_TYPE, ("A",), FixedLevel(2))


def with_rule(rule: dict[str, Any], index: int = 2) -> dict[str, Any]:
    """MAPPING_JSON with rules[index] replaced."""
    data = json.loads(json.dumps(MAPPING_JSON))
    data["rules"][index] = rule
    return data


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        (
            with_rule(
                {
                    "activity_type": ASSESSMENT_TYPE,
                    "codes": ["A"],
                    "level": {"thresholds": [[90, 5], [95, 4]]},
                }
            ),
            "rules[2].level.thresholds[1]",
            "must be below the previous one",
        ),
        (
            with_rule(
                {
                    "activity_type": ASSESSMENT_TYPE,
                    "codes": ["A"],
                    "level": {"thresholds": [[90, 3], [50, 4]]},
                }
            ),
            "rules[2].level.thresholds[1]",
            "must not exceed",
        ),
        (
            with_rule(
                {
                    "activity_type": ASSESSMENT_TYPE,
                    "codes": ["A"],
                    "level": {"thresholds": [[90, 5], [50, 6]]},
                }
            ),
            "rules[2].level.thresholds[1]",
            "integer 1-5",
        ),
        (
            with_rule(
                {
                    "activity_type": ASSESSMENT_TYPE,
                    "codes": ["A"],
                    "level": {"thresholds": [[90, 5], [101, 4]]},
                }
            ),
            "rules[2].level.thresholds[1]",
            "number 0-100",
        ),
        (
            with_rule(
                {"activity_type": ASSESSMENT_TYPE, "codes": ["A"], "level": {"thresholds": [[90, 5], [50]]}}
            ),
            "rules[2].level.thresholds[1]",
            "pair",
        ),
        (
            with_rule(
                {"activity_type": ASSESSMENT_TYPE, "codes": ["A"], "level": {"thresholds": [["90", 5]]}}
            ),
            "rules[2].level.thresholds[0]",
            "number 0-100",
        ),
        (
            with_rule({"activity_type": ASSESSMENT_TYPE, "codes": ["A"], "level": {"thresholds": []}}),
            "rules[2].level.thresholds",
            "non-empty",
        ),
        (
            with_rule({"activity_type": ASSESSMENT_TYPE, "codes": ["A"], "level": {"fixed": 0}}),
            "rules[2].level.fixed",
            "integer 1-5",
        ),
        (
            with_rule({"activity_type": ASSESSMENT_TYPE, "codes": ["A"], "level": {"fixed": True}}),
            "rules[2].level.fixed",
            "integer 1-5",
        ),
        (
            with_rule({"activity_type": ASSESSMENT_TYPE, "codes": ["A"], "level": {"fixed": 3.0}}),
            "rules[2].level.fixed",
            "integer 1-5",
        ),
        (
            with_rule(
                {"activity_type": ASSESSMENT_TYPE, "codes": ["A"], "level": {"fixed": 3, "no_score": 1}}
            ),
            "rules[2].level.no_score",
            "only applies to thresholds",
        ),
        (
            with_rule(
                {
                    "activity_type": ASSESSMENT_TYPE,
                    "codes": ["A"],
                    "level": {"fixed": 3, "thresholds": [[0, 1]]},
                }
            ),
            "rules[2].level",
            "exactly one of fixed and thresholds",
        ),
        (
            with_rule(
                {
                    "activity_type": ASSESSMENT_TYPE,
                    "codes": ["A"],
                    "level": {"thresholds": [[0, 2]], "no_score": 9},
                }
            ),
            "rules[2].level.no_score",
            "integer 1-5",
        ),
        (
            with_rule({"activity_type": ASSESSMENT_TYPE, "codes": ["A"], "level": {"fixd": 3}}),
            "rules[2].level.fixd",
            "unknown property",
        ),
        (with_rule({"activity_type": ASSESSMENT_TYPE, "codes": ["A"]}), "rules[2].level", "required"),
        (
            with_rule({"activity_type": ASSESSMENT_TYPE, "codes": [], "level": {"fixed": 3}}),
            "rules[2].codes",
            "non-empty list",
        ),
        (
            with_rule({"activity_type": ASSESSMENT_TYPE, "codes": ["A", ""], "level": {"fixed": 3}}),
            "rules[2].codes[1]",
            "non-empty string",
        ),
        (
            with_rule({"activity_type": ASSESSMENT_TYPE, "codes": ["A", "A"], "level": {"fixed": 3}}),
            "rules[2].codes[1]",
            "duplicate code",
        ),
        (
            with_rule({"codes": ["A"], "level": {"fixed": 3}}),
            "rules[2]",
            "exactly one of activity_id and activity_type",
        ),
        (
            with_rule(
                {"activity_id": COURSE, "activity_type": COURSE_TYPE, "codes": ["A"], "level": {"fixed": 3}}
            ),
            "rules[2]",
            "exactly one of activity_id and activity_type",
        ),
        (
            with_rule({"activity_id": "", "codes": ["A"], "level": {"fixed": 3}}),
            "rules[2].activity_id",
            "non-empty",
        ),
        (
            with_rule(
                {
                    "activity_type": ASSESSMENT_TYPE,
                    "codes": ["A"],
                    "level": {"fixed": 3},
                    "award_on_failur": True,
                }
            ),
            "rules[2].award_on_failur",
            "unknown property",
        ),
        (
            with_rule(
                {
                    "activity_type": ASSESSMENT_TYPE,
                    "codes": ["A"],
                    "level": {"fixed": 3},
                    "award_on_failure": "yes",
                }
            ),
            "rules[2].award_on_failure",
            "true or false",
        ),
        (
            with_rule({"activity_id": COURSE, "codes": ["HS-101"], "level": {"fixed": 4}}),
            "rules[2].codes[0]",
            "already mapped for activity_id",
        ),
        (with_rule("not a rule"), "rules[2]", "must be an object"),
        ({"rules": []}, "version", "required"),
        ({"version": "", "rules": []}, "version", "required"),
        ({"version": "1"}, "rules", "required"),
        ({"version": "1", "rules": {}}, "rules", "required"),
        ({"version": "1", "rules": [], "extra": 1}, "extra", "unknown property"),
    ],
)
def test_validation_errors_name_the_path(data: dict, path: str, message: str) -> None:
    with pytest.raises(CompetencyMappingError) as error:
        CompetencyMapping.from_json(data)
    assert error.value.path == path
    assert message in str(error.value)
    assert f"{path}: " in str(error.value)


def test_every_problem_is_reported_at_once() -> None:
    data = {
        "version": "1",
        "rules": [
            {"activity_id": COURSE, "codes": ["A"], "level": {"fixed": 9}},
            {"activity_type": COURSE_TYPE, "codes": [""], "level": {"thresholds": [[50, 3], [60, 2]]}},
        ],
    }
    with pytest.raises(CompetencyMappingError) as error:
        CompetencyMapping.from_json(data)
    assert [path for path, _ in error.value.problems] == [
        "rules[0].level.fixed",
        "rules[1].codes[0]",
        "rules[1].level.thresholds[1]",
    ]


def test_the_same_code_may_be_mapped_by_id_and_by_type() -> None:
    data = {
        "version": "1",
        "rules": [
            {"activity_id": COURSE, "codes": ["A"], "level": {"fixed": 3}},
            {"activity_type": COURSE_TYPE, "codes": ["A"], "level": {"fixed": 2}},
        ],
    }
    assert len(CompetencyMapping.from_json(data).rules) == 2


@pytest.mark.parametrize("data", ["{not json", "[]", "null", 42])
def test_non_objects_are_rejected_at_the_top_level(data: object) -> None:
    with pytest.raises(CompetencyMappingError) as error:
        CompetencyMapping.from_json(data)  # type: ignore[arg-type]
    assert error.value.path == "(top level)"


def test_mapping_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="invalid competency mapping"):
        CompetencyMapping.from_json({})


# --- awarding ------------------------------------------------------------------------------------------


def test_activity_id_rule_awards_every_code_with_evidence_and_version(mapping: CompetencyMapping) -> None:
    awards = competencies_for(make_statement(), mapping)
    evidence = {"statementId": STATEMENT_ID, "activityId": COURSE}
    assert awards == [
        CompetencyAward("HS-101", 3, evidence, "2024-06-01"),
        CompetencyAward("HS-102", 3, evidence, "2024-06-01"),
    ]


def test_activity_id_rules_beat_activity_type_rules(mapping: CompetencyMapping) -> None:
    codes = [award.code for award in competencies_for(make_statement(), mapping)]
    assert "GEN-1" not in codes


def test_activity_type_rule_applies_when_no_id_rule_matches(mapping: CompetencyMapping) -> None:
    statement = make_statement(object=activity("https://lms.example.com/courses/other", COURSE_TYPE))
    assert levels(competencies_for(statement, mapping)) == [("GEN-1", 1)]


def test_all_matching_id_rules_apply() -> None:
    data = {
        "version": "2",
        "rules": [
            {"activity_id": COURSE, "codes": ["A"], "level": {"fixed": 2}},
            {"activity_id": COURSE, "codes": ["B"], "level": {"thresholds": [[80, 5], [0, 3]]}},
        ],
    }
    statement = make_statement(result={"score": {"scaled": 0.85}})
    assert levels(competencies_for(statement, CompetencyMapping.from_json(data))) == [("A", 2), ("B", 5)]


@pytest.mark.parametrize(
    ("score", "level"),
    [
        ({"scaled": 1.0}, 5),
        ({"scaled": 0.9}, 5),
        ({"scaled": 0.8999}, 4),
        ({"raw": 75, "min": 0, "max": 100}, 4),
        ({"raw": 30, "min": 0, "max": 40}, 4),
        ({"raw": 6, "max": 10}, 3),
        ({"raw": 59.99}, 2),
        ({"scaled": -0.4}, 2),
        ({"raw": 0}, 2),
    ],
)
def test_threshold_levels_by_score(mapping: CompetencyMapping, score: dict, level: int) -> None:
    assert levels(competencies_for(assessment(score), mapping)) == [("ASSESS-1", level)]


def test_no_score_level_when_the_statement_has_no_usable_score(mapping: CompetencyMapping) -> None:
    assert levels(competencies_for(assessment(None), mapping)) == [("ASSESS-1", 1)]
    assert levels(competencies_for(assessment({"raw": 450}), mapping)) == [("ASSESS-1", 1)]


def test_without_no_score_a_statement_without_score_awards_nothing() -> None:
    data = {
        "version": "1",
        "rules": [{"activity_type": ASSESSMENT_TYPE, "codes": ["A"], "level": {"thresholds": [[0, 2]]}}],
    }
    assert competencies_for(assessment(None), CompetencyMapping.from_json(data)) == []


def test_score_below_every_threshold_awards_nothing() -> None:
    data = {
        "version": "1",
        "rules": [{"activity_type": ASSESSMENT_TYPE, "codes": ["A"], "level": {"thresholds": [[60, 3]]}}],
    }
    mapping = CompetencyMapping.from_json(data)
    assert competencies_for(assessment({"scaled": 0.59}), mapping) == []
    assert levels(competencies_for(assessment({"scaled": 0.6}), mapping)) == [("A", 3)]


def test_failed_statement_awards_nothing(mapping: CompetencyMapping) -> None:
    assert competencies_for(assessment({"scaled": 0.95}, success=False), mapping) == []
    failed_course = make_statement(result={"success": False, "completion": True})
    assert competencies_for(failed_course, mapping) == []


def test_failed_verb_counts_as_failure_even_without_success(mapping: CompetencyMapping) -> None:
    statement = assessment({"scaled": 0.95}, success=None, verb={"id": ADL + "failed"})
    assert is_failed(statement)
    assert competencies_for(statement, mapping) == []


def test_award_on_failure_awards_a_failed_statement(mapping: CompetencyMapping) -> None:
    statement = make_statement(
        verb={"id": ADL + "failed"},
        object=activity(QUIZ, None),
        result={"success": False, "score": {"scaled": 0.55}},
    )
    assert levels(competencies_for(statement, mapping)) == [("QUIZ-1", 4)]


def test_success_absent_or_true_is_not_a_failure() -> None:
    assert not is_failed(make_statement(result=None))
    assert not is_failed(make_statement(result={"completion": True}))
    assert not is_failed(make_statement(result={"success": True}))


@pytest.mark.parametrize(
    "obj",
    [
        {"objectType": "Agent", "mbox": "mailto:a@example.com"},
        {"objectType": "StatementRef", "id": STATEMENT_ID},
        {"objectType": "SubStatement", "actor": {}, "verb": {}, "object": {"id": COURSE}},
    ],
)
def test_non_activity_objects_award_nothing(mapping: CompetencyMapping, obj: dict) -> None:
    assert competencies_for(make_statement(object=obj), mapping) == []


def test_activity_without_objecttype_or_definition_matches_by_id(mapping: CompetencyMapping) -> None:
    statement = make_statement(object={"id": COURSE})
    assert [award.code for award in competencies_for(statement, mapping)] == ["HS-101", "HS-102"]


def test_unmapped_activity_awards_nothing(mapping: CompetencyMapping) -> None:
    statement = make_statement(object=activity("https://lms.example.com/other", "http://example.com/type"))
    assert competencies_for(statement, mapping) == []


def test_ids_are_compared_exactly(mapping: CompetencyMapping) -> None:
    statement = make_statement(object=activity(COURSE.upper(), None))
    assert competencies_for(statement, mapping) == []


def test_awarding_statement_without_id_is_an_error(mapping: CompetencyMapping) -> None:
    with pytest.raises(ValueError, match="no id"):
        competencies_for(make_statement(id=None), mapping)


def test_award_to_json() -> None:
    award = CompetencyAward("HS-101", 3, {"statementId": STATEMENT_ID, "activityId": COURSE}, "v1")
    assert award.to_json() == {
        "code": "HS-101",
        "level": 3,
        "evidence": {"statementId": STATEMENT_ID, "activityId": COURSE},
        "mappingVersion": "v1",
    }


def test_xapi_2_statement_is_handled_like_1_0_3(mapping: CompetencyMapping) -> None:
    statement = make_statement(version="2.0.0", timestamp="2024-05-04T22:30:00.000+05:30")
    assert [award.code for award in competencies_for(statement, mapping)] == ["HS-101", "HS-102"]
