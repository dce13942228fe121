"""Context, contextActivities, and the 2.0 contextAgents/contextGroups (Data 2.4.6; IEEE 9274.1.1 4.2.2.5)."""

from __future__ import annotations

import pytest

from lrs.xapi.context import validate_context, validate_context_for
from lrs.xapi.errors import XAPIValidationError
from tests.lrs.xapi.examples import assert_rejected, cmi5_completed, xapi2_team_game

V1, V2 = "1.0.3", "2.0.0"
ACTIVITY = {"objectType": "Activity", "id": "http://www.example.com/meetings/occurances/34534"}


def test_a_full_1_0_3_context_is_accepted():
    validate_context(cmi5_completed()["context"], path="statement.context", version=V1)


def test_a_context_with_context_agents_and_groups_is_accepted_in_2_0():
    validate_context(xapi2_team_game()["context"], path="statement.context", version=V2)


def test_the_1_0_3_context_is_also_valid_in_2_0():
    validate_context(cmi5_completed()["context"], path="statement.context", version=V2)


@pytest.mark.parametrize("name", ["contextAgents", "contextGroups"])
def test_context_agents_and_groups_are_rejected_in_1_0_3(name):
    context = {name: xapi2_team_game()["context"][name]}
    error = assert_rejected(
        lambda: validate_context(context, path="statement.context", version=V1),
        path=f"statement.context.{name}",
        rule="unknown-property",
    )
    assert "2.0" in error.message


def test_any_1_0_patch_version_rejects_context_agents():
    assert_rejected(
        lambda: validate_context({"contextAgents": []}, path="c", version="1.0.0"),
        path="c.contextAgents",
        rule="unknown-property",
    )


@pytest.mark.parametrize(
    "registration", ["should fail", "ec531277-b57b-4c15-8d91-d292c5b2b8f", 12345, {"k": 1}]
)
def test_registration_must_be_a_uuid(registration):
    assert_rejected(
        lambda: validate_context({"registration": registration}, path="statement.context"),
        path="statement.context.registration",
        rule="type" if not isinstance(registration, str) else "uuid",
    )


def test_instructor_may_be_an_agent_or_a_group():
    validate_context({"instructor": {"mbox": "mailto:teacher@example.com"}}, path="c")
    validate_context(
        {"instructor": {"objectType": "Group", "member": [{"mbox": "mailto:t@example.com"}]}}, path="c"
    )


@pytest.mark.parametrize("instructor", [{"key": "should fail"}, "should fail"])
def test_instructor_must_be_a_valid_agent(instructor):
    with pytest.raises(XAPIValidationError) as caught:  # the rule differs per input, the path does not
        validate_context({"instructor": instructor}, path="statement.context")
    assert caught.value.path.startswith("statement.context.instructor")


def test_team_must_be_a_group_not_an_agent():
    assert_rejected(
        lambda: validate_context({"team": {"objectType": "Agent", "mbox": "mailto:a@example.com"}}, path="c"),
        path="c.team.objectType",
        rule="objecttype",
    )
    assert_rejected(
        lambda: validate_context({"team": {"mbox": "mailto:a@example.com"}}, path="c"),
        path="c.team.objectType",
        rule="required",
    )


def test_context_activities_may_be_single_objects_or_arrays():
    validate_context(
        {
            "contextActivities": {
                "parent": ACTIVITY,
                "grouping": [ACTIVITY],
                "category": [],
                "other": [ACTIVITY],
            }
        },
        path="c",
    )


def test_context_activities_keys_are_limited_to_the_four_types():
    assert_rejected(
        lambda: validate_context(
            {"contextActivities": {"parent": [ACTIVITY], "sibling": [ACTIVITY]}}, path="statement.context"
        ),
        path="statement.context.contextActivities.sibling",
        rule="unknown-property",
    )


@pytest.mark.parametrize("value", ["should fail", 12345, [["http://example.com/a"]]])
def test_context_activities_values_must_be_activities(value):
    with pytest.raises(XAPIValidationError) as caught:
        validate_context({"contextActivities": {"grouping": value}}, path="statement.context")
    assert caught.value.rule == "type"
    assert caught.value.path.startswith("statement.context.contextActivities.grouping")


def test_an_invalid_context_activity_is_reported_at_its_index():
    assert_rejected(
        lambda: validate_context(
            {"contextActivities": {"category": [ACTIVITY, {"id": "cmi5"}]}}, path="statements[7].context"
        ),
        path="statements[7].context.contextActivities.category[1].id",
        rule="iri",
    )


def test_context_activities_must_be_an_object():
    assert_rejected(
        lambda: validate_context({"contextActivities": "should fail"}, path="c"),
        path="c.contextActivities",
        rule="type",
    )


@pytest.mark.parametrize("name", ["revision", "platform"])
def test_revision_and_platform_are_allowed_when_the_object_is_an_activity(name):
    validate_context_for({name: "x"}, {"id": "http://example.com/a"}, path="c", version=V1)
    validate_context_for({name: "x"}, ACTIVITY, path="c", version=V1)


@pytest.mark.parametrize("name", ["revision", "platform"])
@pytest.mark.parametrize(
    "statement_object",
    [
        {"objectType": "Agent", "mbox": "mailto:a@example.com"},
        {"objectType": "Group", "member": [{"mbox": "mailto:a@example.com"}]},
        {"objectType": "StatementRef", "id": "8f87ccde-bb56-4c2e-ab83-44982ef22df0"},
        {"objectType": "SubStatement"},
    ],
    ids=["agent", "group", "statementref", "substatement"],
)
def test_revision_and_platform_are_rejected_when_the_object_is_not_an_activity(name, statement_object):
    assert_rejected(
        lambda: validate_context_for(
            {name: "rev_10_3_2"}, statement_object, path="statement.context", version=V1
        ),
        path=f"statement.context.{name}",
        rule="context-revision-platform",
    )


@pytest.mark.parametrize("name", ["revision", "platform"])
def test_revision_and_platform_must_be_strings(name):
    assert_rejected(lambda: validate_context({name: 12345}, path="c"), path=f"c.{name}", rule="type")


@pytest.mark.parametrize("language", ["a12345", "en_US", ""])
def test_language_must_be_an_rfc5646_tag(language):
    assert_rejected(
        lambda: validate_context({"language": language}, path="statement.context"),
        path="statement.context.language",
        rule="language-tag",
    )


def test_statement_must_be_a_statement_ref():
    assert_rejected(
        lambda: validate_context({"statement": {"id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee"}}, path="c"),
        path="c.statement.objectType",
        rule="required",
    )
    assert_rejected(
        lambda: validate_context(
            {"statement": {"objectType": "StatementRef", "id": "should fail"}}, path="c"
        ),
        path="c.statement.id",
        rule="uuid",
    )
    assert_rejected(
        lambda: validate_context(
            {"statement": {"objectType": "SubStatement", "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee"}},
            path="c",
        ),
        path="c.statement.objectType",
        rule="objecttype",
    )


def test_context_extension_keys_must_be_iris():
    assert_rejected(
        lambda: validate_context({"extensions": {"airspeed": "600mph"}}, path="statement.context"),
        path='statement.context.extensions["airspeed"]',
        rule="iri",
    )


def test_context_rejects_unknown_properties_and_nulls():
    assert_rejected(
        lambda: validate_context({"session": "x"}, path="c"), path="c.session", rule="unknown-property"
    )
    assert_rejected(
        lambda: validate_context({"platform": None}, path="c"), path="c.platform", rule="not-null"
    )


# -- 2.0 contextAgents / contextGroups --------------------------------------------------------------


def context_agent(**changes) -> dict:
    entry = {
        "objectType": "contextAgent",
        "agent": {"objectType": "Agent", "mbox": "mailto:player-1@example.com"},
        "relevantTypes": ["https://example.com/xapi/american-football/activity-types/position/quarterback"],
    }
    entry.update(changes)
    return {key: value for key, value in entry.items() if value is not ...}


def context_group(**changes) -> dict:
    entry = {
        "objectType": "contextGroup",
        "group": {"objectType": "Group", "mbox": "mailto:team-1@example.com"},
        "relevantTypes": ["https://example.com/xapi/american-football/activity-types/team/a"],
    }
    entry.update(changes)
    return {key: value for key, value in entry.items() if value is not ...}


def test_relevant_types_are_optional():
    validate_context(
        {
            "contextAgents": [context_agent(relevantTypes=...)],
            "contextGroups": [context_group(relevantTypes=...)],
        },
        path="c",
        version=V2,
    )


def test_empty_context_agent_and_group_arrays_are_accepted():
    validate_context({"contextAgents": [], "contextGroups": []}, path="c", version=V2)


@pytest.mark.parametrize("object_type", ["Should fail", "contextagent", "Agent", "contextGroup"])
def test_context_agent_object_type_must_be_context_agent(object_type):
    assert_rejected(
        lambda: validate_context(
            {"contextAgents": [context_agent(objectType=object_type)]}, path="statement.context", version=V2
        ),
        path="statement.context.contextAgents[0].objectType",
        rule="objecttype",
    )


@pytest.mark.parametrize("missing", ["objectType", "agent"])
def test_context_agent_requires_object_type_and_agent(missing):
    assert_rejected(
        lambda: validate_context({"contextAgents": [context_agent(**{missing: ...})]}, path="c", version=V2),
        path=f"c.contextAgents[0].{missing}",
        rule="required",
    )


def test_context_agent_agent_must_be_a_valid_agent():
    assert_rejected(
        lambda: validate_context(
            {"contextAgents": [context_agent(agent={"key": "Should fail"})]},
            path="statement.context",
            version=V2,
        ),
        path="statement.context.contextAgents[0].agent.key",
        rule="unknown-property",
    )


def test_context_agent_agent_must_not_be_a_group():
    assert_rejected(
        lambda: validate_context(
            {"contextAgents": [context_agent(agent={"objectType": "Group", "mbox": "mailto:t@example.com"})]},
            path="c",
            version=V2,
        ),
        path="c.contextAgents[0].agent.objectType",
        rule="objecttype",
    )


def test_empty_relevant_types_are_rejected():
    assert_rejected(
        lambda: validate_context({"contextAgents": [context_agent(relevantTypes=[])]}, path="c", version=V2),
        path="c.contextAgents[0].relevantTypes",
        rule="min-items",
    )
    assert_rejected(
        lambda: validate_context({"contextGroups": [context_group(relevantTypes=[])]}, path="c", version=V2),
        path="c.contextGroups[0].relevantTypes",
        rule="min-items",
    )


def test_relevant_types_must_be_iris():
    assert_rejected(
        lambda: validate_context(
            {"contextAgents": [context_agent(), context_agent(relevantTypes=["abc"])]},
            path="statement.context",
            version=V2,
        ),
        path="statement.context.contextAgents[1].relevantTypes[0]",
        rule="iri",
    )


def test_relevant_types_must_be_an_array():
    assert_rejected(
        lambda: validate_context(
            {"contextGroups": [context_group(relevantTypes="https://example.com/t")]}, path="c", version=V2
        ),
        path="c.contextGroups[0].relevantTypes",
        rule="type",
    )


@pytest.mark.parametrize("object_type", ["Should fail", "contextAgent", "Group"])
def test_context_group_object_type_must_be_context_group(object_type):
    assert_rejected(
        lambda: validate_context(
            {"contextGroups": [context_group(objectType=object_type)]}, path="c", version=V2
        ),
        path="c.contextGroups[0].objectType",
        rule="objecttype",
    )


def test_context_group_group_must_be_a_valid_group():
    assert_rejected(
        lambda: validate_context(
            {"contextGroups": [context_group(group={"key": "Should fail"})]}, path="c", version=V2
        ),
        path="c.contextGroups[0].group.key",
        rule="unknown-property",
    )
    assert_rejected(
        lambda: validate_context(
            {"contextGroups": [context_group(group={"objectType": "Agent", "mbox": "mailto:a@example.com"})]},
            path="c",
            version=V2,
        ),
        path="c.contextGroups[0].group.objectType",
        rule="objecttype",
    )


def test_context_group_rejects_properties_of_the_group_at_entry_level():
    # The conformance suite's invalid contextGroup also puts "member" next to "group".
    assert_rejected(
        lambda: validate_context(
            {"contextGroups": [context_group(member=[{"mbox": "mailto:a@example.com"}])]},
            path="c",
            version=V2,
        ),
        path="c.contextGroups[0].member",
        rule="unknown-property",
    )


@pytest.mark.parametrize("value", [context_agent(), "should fail"])
def test_context_agents_must_be_an_array(value):
    assert_rejected(
        lambda: validate_context({"contextAgents": value}, path="c", version=V2),
        path="c.contextAgents",
        rule="type",
    )
