"""Errors (issue 19): JSON nested beyond LRS_MAX_JSON_DEPTH is a 400 naming the limit at every
JSON entry point (never a 500), a 401 names the Basic scheme in WWW-Authenticate, and a rejected
request lists every validation error (capped), the first one's fields staying at the top."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from lrs.statements.models import Statement
from lrs.xapi.errors import MAX_ERRORS
from tests.conftest import make_statement
from tests.lrs.api.document_helpers import ACTIVITY_ID, AGENT, STATE, send
from tests.lrs.api.test_statements_attachments import BOUNDARY, post_multipart

pytestmark = pytest.mark.django_db

DEEP = "[" * 5000 + "]" * 5000
EXTENSION = "http://example.com/extensions/deep"


def with_nested_extension(statement: dict[str, Any], nested: str) -> str:
    """The statement's JSON with ``nested`` (JSON text) as a result extension."""
    text = json.dumps({**statement, "result": {"extensions": {EXTENSION: "@@nested@@"}}})
    return text.replace('"@@nested@@"', nested)


def assert_depth_rejected(response: Any, path: str) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"] == "XAPIValidationError"
    assert body["rule"] == "json-depth" and body["path"] == path
    assert "nested deeper than 100 levels (LRS_MAX_JSON_DEPTH)" in body["message"]


# --- nesting ---------------------------------------------------------------------------------------


def test_statements_post_nested_5000_levels_deep_is_a_400_naming_the_limit(xapi):
    response = xapi.post_statements(with_nested_extension(make_statement(), DEEP))
    assert_depth_rejected(response, "statement")
    assert not Statement.objects.exists()


def test_statements_put_nested_5000_levels_deep_is_a_400_naming_the_limit(xapi):
    statement_id = str(uuid.uuid4())
    response = xapi.put_json(
        "/xapi/statements",
        with_nested_extension(make_statement(), DEEP),
        query=f"?statementId={statement_id}",
    )
    assert_depth_rejected(response, "statement")


def test_a_multipart_statements_part_nested_5000_levels_deep_is_a_400_naming_the_limit(xapi):
    body = (
        f"--{BOUNDARY}\r\nContent-Type: application/json\r\n\r\n"
        f"{with_nested_extension(make_statement(), DEEP)}\r\n--{BOUNDARY}--"
    ).encode()
    assert_depth_rejected(post_multipart(xapi, body), "statement")


def test_a_state_post_nested_5000_levels_deep_is_a_400_naming_the_limit(xapi):
    params = {"activityId": ACTIVITY_ID, "agent": AGENT, "stateId": "bookmark"}
    deep_object = '{"a":' * 5000 + "1" + "}" * 5000
    assert_depth_rejected(send(xapi, "post", STATE, params, deep_object), "body")  # no document yet
    assert send(xapi, "put", STATE, params, {"page": 1}).status_code == 204
    assert_depth_rejected(send(xapi, "post", STATE, params, deep_object), "body")  # the JSON merge
    assert send(xapi, "get", STATE, params).json() == {"page": 1}


def test_an_agent_parameter_nested_5000_levels_deep_is_a_400_naming_the_limit(xapi):
    deep_agent = '{"mbox":"mailto:a@example.com","x":' + DEEP + "}"
    assert_depth_rejected(xapi.get_statements(agent=deep_agent), "agent")
    state_params = {"activityId": ACTIVITY_ID, "agent": deep_agent, "stateId": "bookmark"}
    assert_depth_rejected(send(xapi, "get", STATE, state_params), "agent")


def test_nesting_up_to_the_configured_limit_is_accepted_and_one_level_more_is_not(xapi, settings):
    settings.LRS_MAX_JSON_DEPTH = 20
    # statement > result > extensions > value: the value may nest 17 levels
    fits = xapi.post_statements(with_nested_extension(make_statement(), "[" * 17 + "]" * 17))
    assert fits.status_code == 200, fits.content
    too_deep = xapi.post_statements(with_nested_extension(make_statement(), "[" * 18 + "]" * 18))
    assert too_deep.status_code == 400
    assert too_deep.json()["message"] == "statement: JSON nested deeper than 20 levels (LRS_MAX_JSON_DEPTH)"


def test_brackets_inside_strings_do_not_count_as_nesting(xapi):
    text = '"' + "[{" * 3000 + '\\"' + "]}" * 10 + '"'
    response = xapi.post_statements(with_nested_extension(make_statement(), text))
    assert response.status_code == 200, response.content


def test_a_large_batch_of_ordinary_statements_is_not_mistaken_for_deep_json(xapi):
    response = xapi.post_statements([make_statement() for _ in range(200)])
    assert response.status_code == 200, response.content


def test_a_truncated_batch_is_reported_as_invalid_json_not_as_too_deep(xapi):
    text = json.dumps([make_statement() for _ in range(50)])
    response = xapi.post_statements(text[: len(text) // 2])
    assert response.status_code == 400 and response.json()["rule"] == "json"


# --- 401 -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization", [None, "Basic bm9ib2R5Ondyb25n", "Bearer abc"], ids=["missing", "wrong", "scheme"]
)
def test_a_401_names_the_basic_scheme_and_realm_in_www_authenticate(xapi, authorization):
    response = xapi.get("/xapi/statements", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Basic realm="lrs"'


def test_answers_other_than_401_carry_no_www_authenticate(xapi):
    response = xapi.post_statements({"actor": {}})
    assert response.status_code == 400 and "WWW-Authenticate" not in response


# --- every error -----------------------------------------------------------------------------------


def group_activity_statement() -> dict[str, Any]:
    """An Open edX statement using the objectType 'GroupActivity' (not xAPI) in three places."""
    statement = make_statement()
    statement["object"]["objectType"] = "GroupActivity"
    statement["context"] = {
        "contextActivities": {
            "parent": [{"id": "http://example.com/course", "objectType": "GroupActivity"}],
            "grouping": [
                {"id": "http://example.com/program", "objectType": "Activity"},
                {"id": "http://example.com/cohort", "objectType": "GroupActivity"},
            ],
        }
    }
    return statement


def test_a_batch_lists_every_error_of_every_statement_with_the_first_at_the_top_as_before(xapi):
    response = xapi.post_statements(
        [group_activity_statement(), make_statement(), group_activity_statement()]
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "XAPIValidationError"
    assert body["path"] == "statements[0].object.objectType" and body["rule"] == "objecttype"
    assert body["message"].startswith("statements[0].object.objectType: objectType must be one of")
    places = (
        "object.objectType",
        "context.contextActivities.parent[0].objectType",
        "context.contextActivities.grouping[1].objectType",
    )
    assert [error["path"] for error in body["errors"]] == [
        f"statements[{index}].{place}" for index in (0, 2) for place in places
    ]
    assert {error["rule"] for error in body["errors"]} == {"objecttype"}
    assert body["errors"][0] == {"path": body["path"], "rule": body["rule"], "message": body["message"]}
    assert not Statement.objects.exists()


def test_one_statement_lists_every_invalid_place_once(xapi):
    statement = make_statement(timestamp="yesterday", id="not-a-uuid", colour="blue")
    statement["actor"] = {"objectType": "Agent"}
    statement["verb"]["id"] = "completed"
    response = xapi.post_statements(statement)
    body = response.json()
    assert (body["path"], body["rule"]) == ("statement.colour", "unknown-property")
    assert [(error["path"], error["rule"]) for error in body["errors"]] == [
        ("statement.colour", "unknown-property"),
        ("statement.id", "uuid"),
        ("statement.actor", "one-ifi"),
        ("statement.verb.id", "iri"),
        ("statement.timestamp", "iso8601"),
    ]


def test_a_statement_put_lists_every_error_too(xapi):
    response = xapi.put_json(
        "/xapi/statements", group_activity_statement(), query=f"?statementId={uuid.uuid4()}"
    )
    assert response.status_code == 400
    assert len(response.json()["errors"]) == 3


def test_the_error_list_is_capped(xapi):
    bad = make_statement()
    bad["object"]["objectType"] = "GroupActivity"
    response = xapi.post_statements([bad] * (MAX_ERRORS + 50))
    body = response.json()
    assert MAX_ERRORS == 100
    assert len(body["errors"]) == MAX_ERRORS
    assert body["errors"][-1]["path"] == f"statements[{MAX_ERRORS - 1}].object.objectType"


def test_a_single_error_is_also_listed(xapi):
    response = xapi.get_statements(limit="many")
    body = response.json()
    assert response.status_code == 400
    assert body["errors"] == [{"path": body["path"], "rule": body["rule"], "message": body["message"]}]


def test_a_batch_error_found_after_validation_is_answered_alone(xapi):
    statement = make_statement(statement_id=str(uuid.uuid4()))
    response = xapi.post_statements([statement, statement])
    body = response.json()
    assert body["rule"] == "unique-id-in-batch"
    assert [error["rule"] for error in body["errors"]] == ["unique-id-in-batch"]


VOIDED_VERB = "http://adlnet.gov/expapi/verbs/voided"


@pytest.mark.parametrize(("as_array", "prefix"), [(False, "statement"), (True, "statements[0]")])
def test_an_error_names_the_statement_as_the_body_holds_it_an_object_or_an_array_of_one(
    xapi, as_array, prefix
):
    # The path leads to the value in the body sent: a one-element array's statement is
    # statements[0], whichever rule refused it (validation, a stored conflict, voiding).
    def post(statement: dict):
        return xapi.post_statements([statement] if as_array else statement)

    invalid = make_statement()
    invalid["actor"] = {"objectType": "Agent"}
    assert post(invalid).json()["path"] == f"{prefix}.actor"

    [stored_id] = xapi.post_statements(make_statement()).json()
    conflicting = make_statement(statement_id=stored_id, verb="http://example.com/verbs/other")
    response = post(conflicting)
    assert (response.status_code, response.json()["path"]) == (409, f"{prefix}.id")

    [voiding_id] = xapi.post_statements(
        make_statement(verb=VOIDED_VERB, object={"objectType": "StatementRef", "id": stored_id})
    ).json()
    response = post(make_statement(verb=VOIDED_VERB, object={"objectType": "StatementRef", "id": voiding_id}))
    assert (response.status_code, response.json()["path"]) == (400, f"{prefix}.object.id")
