"""The Activities resource GET /xapi/activities?activityId= and the canonical definitions behind it.

Communication 2.5 (xAPI 2.0 4.1.6.4); Data 2.4.4.1 and Communication 4.2 (``define`` scope).
"""

from __future__ import annotations

import copy
import json

import pytest

from lrs.activities.definitions import activity_definitions_update
from lrs.activities.models import Activity
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db

ACTIVITIES = "/xapi/activities"
MEETING = "http://example.com/meetings/34534"


def with_activity(activity_id: str = MEETING, **definition) -> dict:
    statement = make_statement(activity=activity_id)
    statement["object"]["definition"] = definition
    return statement


def get_activity(client, activity_id: str = MEETING):
    return client.get(ACTIVITIES, {"activityId": activity_id})


# --- the resource ---------------------------------------------------------------------------------


def test_unknown_activity_is_returned_with_its_id_and_object_type(xapi):
    response = get_activity(xapi, "http://example.com/never-seen")
    assert response.status_code == 200
    assert response.json() == {"objectType": "Activity", "id": "http://example.com/never-seen"}


def test_known_activity_is_returned_with_its_canonical_definition(xapi):
    definition = {
        "type": "http://adlnet.gov/expapi/activities/meeting",
        "name": {"en-US": "example meeting"},
        "moreInfo": "http://virtualmeeting.example.com/345256",
        "extensions": {"http://example.com/ext/location": {"room": 7}},
    }
    activity_definitions_update([with_activity(**definition)], can_define=True)
    response = get_activity(xapi)
    assert response.json() == {"objectType": "Activity", "id": MEETING, "definition": definition}


def test_head_returns_no_body(xapi):
    response = xapi.head(ACTIVITIES, {"activityId": MEETING})
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize(
    "params", [{}, {"activityId": "true"}, {"activityId": "not an iri"}, {"activityId": ""}]
)
def test_missing_or_invalid_activity_id_is_400(xapi, params):
    response = xapi.get(ACTIVITIES, params)
    assert response.status_code == 400
    assert response.json()["path"] == "activityId"


def test_unknown_parameter_is_400(xapi):
    response = xapi.get(ACTIVITIES, {"activityId": MEETING, "activity": MEETING})
    assert response.status_code == 400
    assert response.json()["rule"] == "unknown-parameter"


@pytest.mark.parametrize("granted", [["statements/read/mine"], ["all/read"], ["state"], ["profile"]])
def test_any_read_scope_may_get_an_activity(xapi_for, granted):
    assert get_activity(xapi_for(granted)).status_code == 200


def test_write_only_credential_cannot_get_an_activity(xapi_for):
    assert get_activity(xapi_for(["statements/write"])).status_code == 403


# --- merging definitions --------------------------------------------------------------------------


def test_language_maps_are_merged_across_statements():
    first = with_activity(name={"en-US": "example meeting"}, description={"en-US": "a meeting"})
    second = with_activity(name={"fr-FR": "réunion"})
    activity_definitions_update([first, second], can_define=True)
    assert Activity.objects.get(activity_id=MEETING).definition == {
        "name": {"en-US": "example meeting", "fr-FR": "réunion"},
        "description": {"en-US": "a meeting"},
    }


def test_newer_statements_replace_other_definition_properties_and_language_entries():
    activity_definitions_update(
        [
            with_activity(
                name={"en-US": "old"}, type="http://example.com/type/a", extensions={"http://e/x": 1}
            )
        ],
        can_define=True,
    )
    activity_definitions_update(
        [
            with_activity(
                name={"en-US": "new"}, type="http://example.com/type/b", extensions={"http://e/y": 2}
            )
        ],
        can_define=True,
    )
    assert Activity.objects.get(activity_id=MEETING).definition == {
        "name": {"en-US": "new"},
        "type": "http://example.com/type/b",
        "extensions": {"http://e/y": 2},
    }


def test_a_statement_without_a_definition_keeps_the_known_one():
    activity_definitions_update([with_activity(name={"en-US": "kept"})], can_define=True)
    bare = make_statement(activity=MEETING)
    del bare["object"]["definition"]
    activity_definitions_update([bare], can_define=True)
    assert Activity.objects.get(activity_id=MEETING).definition["name"] == {"en-US": "kept"}


def test_without_define_scope_new_activities_are_recorded_but_known_definitions_do_not_change():
    activity_definitions_update([with_activity(name={"en-US": "first"})], can_define=False)
    assert Activity.objects.get(activity_id=MEETING).definition == {"name": {"en-US": "first"}}
    activity_definitions_update([with_activity(name={"en-US": "changed", "de-DE": "neu"})], can_define=False)
    assert Activity.objects.get(activity_id=MEETING).definition == {"name": {"en-US": "first"}}


def test_context_and_sub_statement_activities_are_recorded():
    statement = make_statement()
    statement["object"] = {
        "objectType": "SubStatement",
        "actor": {"mbox": "mailto:a@example.com"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/planned"},
        "object": {"id": "http://example.com/inner", "definition": {"name": {"en-US": "inner"}}},
    }
    statement["context"] = {
        "contextActivities": {
            "parent": [{"id": "http://example.com/parent", "definition": {"name": {"en-US": "parent"}}}],
            "grouping": {"id": "http://example.com/grouping"},
        }
    }
    activity_definitions_update([statement], can_define=True)
    definitions = dict(Activity.objects.values_list("activity_id", "definition"))
    assert definitions == {
        "http://example.com/inner": {"name": {"en-US": "inner"}},
        "http://example.com/parent": {"name": {"en-US": "parent"}},
        "http://example.com/grouping": {},
    }


def test_interaction_components_keep_older_languages_and_a_new_interaction_type_drops_old_components():
    choice = {
        "interactionType": "choice",
        "correctResponsesPattern": ["golf"],
        "choices": [{"id": "golf", "description": {"en-US": "Golf"}}],
    }
    activity_definitions_update([with_activity(**choice)], can_define=True)
    translated = copy.deepcopy(choice)
    translated["choices"] = [
        {"id": "golf", "description": {"fr-FR": "Le golf"}},
        {"id": "tennis", "description": {"fr-FR": "Le tennis"}},
    ]
    activity_definitions_update([with_activity(**translated)], can_define=True)
    assert Activity.objects.get(activity_id=MEETING).definition["choices"] == [
        {"id": "golf", "description": {"en-US": "Golf", "fr-FR": "Le golf"}},
        {"id": "tennis", "description": {"fr-FR": "Le tennis"}},
    ]
    likert = {"interactionType": "likert", "scale": [{"id": "1", "description": {"en-US": "low"}}]}
    activity_definitions_update([with_activity(**likert)], can_define=True)
    assert Activity.objects.get(activity_id=MEETING).definition == likert


# --- through the Statements resource (needs activity_definitions_update wired into statement_store) --


def test_posted_statements_define_the_activity_and_merge_languages(xapi):
    first = with_activity(
        "http://example.com/verify/complete/1",
        name={"en-US": "example meeting"},
        description={"en-US": "An example meeting"},
    )
    first["object"]["objectType"] = "Activity"
    second = copy.deepcopy(first)
    second["object"]["definition"]["name"] = {"fr-FR": "réunion"}
    assert xapi.post_statements([first, second]).status_code == 200
    activity = get_activity(xapi, "http://example.com/verify/complete/1").json()
    assert activity["definition"]["name"] == {"en-US": "example meeting", "fr-FR": "réunion"}
    assert activity["definition"]["description"] == {"en-US": "An example meeting"}
    assert activity["objectType"] == "Activity"


def test_a_single_statement_activity_is_returned_exactly_as_posted(xapi):
    statement = with_activity(
        "http://example.com/verify/complete/2",
        type="http://adlnet.gov/expapi/activities/meeting",
        name={"en-GB": "example meeting", "en-US": "example meeting"},
        extensions={"http://example.com/ext/reporter": {"name": "Thomas", "id": "http://openid.com/342"}},
    )
    xapi.post_statements(statement)
    assert get_activity(xapi, "http://example.com/verify/complete/2").json() == statement["object"]


def test_statements_stored_without_define_scope_do_not_change_a_known_definition(xapi, xapi_for):
    xapi.post_statements(with_activity(name={"en-US": "canonical"}))
    writer = xapi_for(["statements/write"])
    assert writer.post_statements(with_activity(name={"en-US": "rewritten"})).status_code == 200
    assert get_activity(xapi).json()["definition"]["name"] == {"en-US": "canonical"}


def test_json_of_the_response_is_the_activity_object(xapi):
    response = get_activity(xapi)
    assert json.loads(response.content) == {"objectType": "Activity", "id": MEETING}
