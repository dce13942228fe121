"""Activities, Activity Definitions and Interaction Activities (Data 2.4.4.1, Appendix C)."""

from __future__ import annotations

import pytest

from lrs.xapi.activities import validate_activity, validate_activity_definition
from lrs.xapi.errors import XAPIValidationError
from tests.lrs.xapi.examples import assert_rejected, scorm_choice_answered

CMI = "http://adlnet.gov/expapi/activities/cmi.interaction"


def components(*ids: str) -> list[dict]:
    return [{"id": item, "description": {"en-US": item.title()}} for item in ids]


# Appendix C of xAPI-Data.md, one definition per interaction type.
APPENDIX_C = {
    "true-false": {"interactionType": "true-false", "correctResponsesPattern": ["true"]},
    "choice": {
        "interactionType": "choice",
        "correctResponsesPattern": ["golf[,]tetris"],
        "choices": components("golf", "facebook", "tetris", "scrabble"),
    },
    "fill-in": {"interactionType": "fill-in", "correctResponsesPattern": ["Bob's your uncle"]},
    "long-fill-in": {
        "interactionType": "long-fill-in",
        "correctResponsesPattern": [
            "{case_matters=false}{lang=en}To store and provide access to learning experiences."
        ],
    },
    "likert": {
        "interactionType": "likert",
        "correctResponsesPattern": ["likert_3"],
        "scale": components("likert_0", "likert_1", "likert_2", "likert_3"),
    },
    "matching": {
        "interactionType": "matching",
        "correctResponsesPattern": ["ben[.]3[,]chris[.]2[,]troy[.]4[,]freddie[.]1"],
        "source": components("ben", "chris", "troy", "freddie"),
        "target": components("1", "2", "3", "4"),
    },
    "performance": {
        "interactionType": "performance",
        "correctResponsesPattern": ["pong[.]1:[,]dg[.]:10[,]lunch[.]"],
        "steps": components("pong", "dg", "lunch"),
    },
    "sequencing": {
        "interactionType": "sequencing",
        "correctResponsesPattern": ["tim[,]mike[,]ells[,]ben"],
        "choices": components("tim", "ben", "ells", "mike"),
    },
    "numeric": {"interactionType": "numeric", "correctResponsesPattern": ["4[:]"]},
    "other": {"interactionType": "other", "correctResponsesPattern": ["(35.937432,-86.868896)"]},
}


def test_an_activity_needs_only_an_id():
    validate_activity({"id": "http://www.example.com/meetings/occurances/34534"}, path="statement.object")


def test_a_full_activity_definition_is_accepted():
    validate_activity(
        {
            "objectType": "Activity",
            "id": "http://www.example.com/meetings/occurances/34534",
            "definition": {
                "name": {"en-GB": "example meeting", "en-US": "example meeting"},
                "description": {"en-GB": "An example meeting that happened on a specific occasion."},
                "type": "http://adlnet.gov/expapi/activities/meeting",
                "moreInfo": "http://virtualmeeting.example.com/345256",
                "extensions": {
                    "http://example.com/profiles/meetings/activitydefinitionextensions/room": {
                        "name": "Kilby",
                        "id": "http://example.com/rooms/342",
                    }
                },
            },
        },
        path="statement.object",
    )


@pytest.mark.parametrize("interaction_type", sorted(APPENDIX_C))
def test_every_appendix_c_interaction_definition_is_accepted(interaction_type):
    definition = {"type": CMI, "name": {"en-US": interaction_type}, **APPENDIX_C[interaction_type]}
    validate_activity(
        {"id": f"http://example.com/q/{interaction_type}", "definition": definition}, path="s.object"
    )


def test_an_empty_correct_responses_pattern_means_no_correct_answer_and_is_accepted():
    validate_activity_definition({"interactionType": "fill-in", "correctResponsesPattern": []}, path="d")


def test_the_scorm_choice_example_is_accepted():
    validate_activity(scorm_choice_answered()["object"], path="statement.object")


def test_activity_id_is_required():
    assert_rejected(
        lambda: validate_activity({"objectType": "Activity", "definition": {}}, path="statement.object"),
        path="statement.object.id",
        rule="required",
    )


@pytest.mark.parametrize("activity_id", ["ab=c://should.fail.com", "activity-1", "#fragment", "/courses/1"])
def test_activity_id_must_be_an_absolute_iri(activity_id):
    assert_rejected(
        lambda: validate_activity({"id": activity_id}, path="statement.context.contextActivities.parent[0]"),
        path="statement.context.contextActivities.parent[0].id",
        rule="iri",
    )


@pytest.mark.parametrize("activity_id", [12345, {"something": "value"}])
def test_activity_id_must_be_a_string(activity_id):
    assert_rejected(
        lambda: validate_activity({"id": activity_id}, path="s.object"), path="s.object.id", rule="type"
    )


@pytest.mark.parametrize("object_type", ["activity", "Activities", "StatementRef"])
def test_activity_object_type_must_be_exactly_activity(object_type):
    assert_rejected(
        lambda: validate_activity({"objectType": object_type, "id": "http://example.com/a"}, path="s.object"),
        path="s.object.objectType",
        rule="objecttype",
    )


@pytest.mark.parametrize("definition", ["should error", 12345, ["x"]])
def test_definition_must_be_an_object(definition):
    assert_rejected(
        lambda: validate_activity({"id": "http://example.com/a", "definition": definition}, path="s.object"),
        path="s.object.definition",
        rule="type",
    )


@pytest.mark.parametrize("name", ["name", "description"])
@pytest.mark.parametrize("value", [12345, "should error", ["x"]])
def test_name_and_description_must_be_language_maps(name, value):
    assert_rejected(
        lambda: validate_activity_definition({name: value}, path="statement.object.definition"),
        path=f"statement.object.definition.{name}",
        rule="type",
    )


def test_an_invalid_language_tag_in_the_name_is_reported_at_the_tag():
    assert_rejected(
        lambda: validate_activity_definition(
            {"name": {"a12345678": "x"}}, path="statement.object.definition"
        ),
        path='statement.object.definition.name["a12345678"]',
        rule="language-map",
    )


def test_type_must_be_an_iri():
    assert_rejected(
        lambda: validate_activity_definition({"type": "assessment"}, path="statement.object.definition"),
        path="statement.object.definition.type",
        rule="iri",
    )


@pytest.mark.parametrize("more_info", ["should error", "urn:info:1", "ab=c://should.fail.com"])
def test_more_info_must_be_an_irl(more_info):
    assert_rejected(
        lambda: validate_activity_definition({"moreInfo": more_info}, path="statement.object.definition"),
        path="statement.object.definition.moreInfo",
        rule="irl",
    )


def test_more_info_must_be_a_string():
    assert_rejected(
        lambda: validate_activity_definition({"moreInfo": 12}, path="d"), path="d.moreInfo", rule="type"
    )


def test_definition_extension_keys_must_be_iris():
    assert_rejected(
        lambda: validate_activity_definition(
            {"extensions": {"room": "Kilby"}}, path="statement.object.definition"
        ),
        path='statement.object.definition.extensions["room"]',
        rule="iri",
    )


def test_definition_rejects_unknown_properties():
    assert_rejected(
        lambda: validate_activity_definition({"title": {"en": "x"}}, path="statement.object.definition"),
        path="statement.object.definition.title",
        rule="unknown-property",
    )


# -- Interaction Activities ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "interaction_type", ["True-False", "multiple-choice", "", "http://example.com/choice"]
)
def test_interaction_type_must_be_one_of_the_ten_spec_values_exactly(interaction_type):
    assert_rejected(
        lambda: validate_activity_definition(
            {"interactionType": interaction_type}, path="statement.object.definition"
        ),
        path="statement.object.definition.interactionType",
        rule="interaction-type",
    )


@pytest.mark.parametrize("interaction_type", [12345, {"something": "value"}, ["choice"]])
def test_interaction_type_must_be_a_string(interaction_type):
    assert_rejected(
        lambda: validate_activity_definition({"interactionType": interaction_type}, path="d"),
        path="d.interactionType",
        rule="type",
    )


@pytest.mark.parametrize("used", ["choices", "correctResponsesPattern", "steps"])
def test_interaction_properties_without_an_interaction_type_are_rejected(used):
    value = ["a"] if used == "correctResponsesPattern" else components("a")
    assert_rejected(
        lambda: validate_activity_definition({used: value}, path="statement.object.definition"),
        path="statement.object.definition.interactionType",
        rule="required",
    )


@pytest.mark.parametrize(
    ("interaction_type", "component_list"),
    [
        ("true-false", "choices"),
        ("fill-in", "choices"),
        ("long-fill-in", "steps"),
        ("numeric", "scale"),
        ("other", "source"),
        ("choice", "scale"),
        ("sequencing", "source"),
        ("likert", "choices"),
        ("matching", "choices"),
        ("matching", "steps"),
        ("performance", "target"),
    ],
)
def test_component_lists_not_supported_by_the_interaction_type_are_rejected(interaction_type, component_list):
    assert_rejected(
        lambda: validate_activity_definition(
            {"interactionType": interaction_type, component_list: components("a", "b")},
            path="statement.object.definition",
        ),
        path=f"statement.object.definition.{component_list}",
        rule="interaction-components",
    )


def test_component_ids_must_be_distinct_within_a_list():
    assert_rejected(
        lambda: validate_activity_definition(
            {"interactionType": "choice", "choices": components("golf", "tetris", "golf")},
            path="statement.object.definition",
        ),
        path="statement.object.definition.choices[2].id",
        rule="interaction-components",
    )


def test_the_same_id_may_appear_in_source_and_target():
    validate_activity_definition(
        {"interactionType": "matching", "source": components("1", "2"), "target": components("1", "2")},
        path="d",
    )


def test_a_component_requires_an_id():
    assert_rejected(
        lambda: validate_activity_definition(
            {"interactionType": "likert", "scale": [{"description": {"en-US": "Agree"}}]}, path="d"
        ),
        path="d.scale[0].id",
        rule="required",
    )


def test_component_description_must_be_a_language_map():
    assert_rejected(
        lambda: validate_activity_definition(
            {"interactionType": "likert", "scale": [{"id": "1", "description": {"a12345": "Agree"}}]},
            path="d",
        ),
        path='d.scale[0].description["a12345"]',
        rule="language-map",
    )


def test_component_rejects_unknown_properties():
    assert_rejected(
        lambda: validate_activity_definition(
            {"interactionType": "performance", "steps": [{"id": "1", "name": {"en": "Step"}}]}, path="d"
        ),
        path="d.steps[0].name",
        rule="unknown-property",
    )


@pytest.mark.parametrize("value", ["golf", {"id": "golf"}, [["golf"]]])
def test_component_list_must_be_an_array_of_objects(value):
    with pytest.raises(XAPIValidationError) as caught:
        validate_activity_definition({"interactionType": "choice", "choices": value}, path="d")
    assert caught.value.rule == "type"
    assert caught.value.path.startswith("d.choices")


def test_correct_responses_pattern_must_be_an_array_of_strings():
    assert_rejected(
        lambda: validate_activity_definition(
            {"interactionType": "true-false", "correctResponsesPattern": "true"}, path="d"
        ),
        path="d.correctResponsesPattern",
        rule="type",
    )
    assert_rejected(
        lambda: validate_activity_definition(
            {"interactionType": "numeric", "correctResponsesPattern": ["4[:]", 4]}, path="d"
        ),
        path="d.correctResponsesPattern[1]",
        rule="type",
    )
