"""The Agents resource GET /xapi/agents?agent= (Communication 2.4; xAPI 2.0 4.1.6.3)."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import urlencode

import pytest

from tests.conftest import make_statement

pytestmark = pytest.mark.django_db

AGENTS = "/xapi/agents"
EMPTY_PERSON = {
    "objectType": "Person",
    "name": [],
    "mbox": [],
    "mbox_sha1sum": [],
    "openid": [],
    "account": [],
}


def get_person(client, agent, **extra):
    return client.get(AGENTS, {"agent": json.dumps(agent) if isinstance(agent, dict) else agent, **extra})


def test_unknown_agent_still_gets_a_person_with_what_the_request_said(xapi):
    response = get_person(
        xapi, {"objectType": "Agent", "name": "Nobody", "mbox": "mailto:nobody@example.com"}
    )
    assert response.status_code == 200
    assert response.json() == {**EMPTY_PERSON, "name": ["Nobody"], "mbox": ["mailto:nobody@example.com"]}
    assert response["Content-Type"].startswith("application/json")


def test_person_lists_every_name_statements_gave_the_agent(xapi):
    first = make_statement(actor_email="ann@example.com")
    first["actor"]["name"] = "Ann"
    second = make_statement(actor_email="ann@example.com")
    second["actor"]["name"] = "Ann Smith"
    other = make_statement(actor_email="bob@example.com")
    other["actor"]["name"] = "Bob"
    for statement in (first, second, other):
        assert xapi.post_statements(statement).status_code == 200
    person = get_person(xapi, {"mbox": "mailto:ann@example.com"}).json()
    assert sorted(person["name"]) == ["Ann", "Ann Smith"]
    assert person["mbox"] == ["mailto:ann@example.com"]


def test_names_given_to_the_agent_as_a_group_member_or_object_are_included(xapi):
    member = {"objectType": "Agent", "name": "Member Name", "mbox": "mailto:member@example.com"}
    group = {"objectType": "Group", "name": "Team", "member": [member]}
    xapi.post_statements(make_statement(actor=group))
    statement = make_statement(
        object={"objectType": "Agent", "name": "As Object", "mbox": "mailto:member@example.com"}
    )
    xapi.post_statements(statement)
    person = get_person(xapi, {"mbox": "mailto:member@example.com"}).json()
    assert sorted(person["name"]) == ["As Object", "Member Name"]


@pytest.mark.parametrize(
    ("agent", "prop", "value"),
    [
        ({"mbox_sha1sum": "a" * 40}, "mbox_sha1sum", "a" * 40),
        ({"openid": "http://openid.example.com/ann"}, "openid", "http://openid.example.com/ann"),
        (
            {"account": {"homePage": "http://lms.example.com", "name": "ann"}},
            "account",
            {"homePage": "http://lms.example.com", "name": "ann"},
        ),
    ],
)
def test_each_identifier_kind_is_returned_as_an_array(xapi, agent, prop, value):
    person = get_person(xapi, agent).json()
    assert person[prop] == [value]
    assert person["objectType"] == "Person"
    assert all(isinstance(person[key], list) for key in EMPTY_PERSON if key != "objectType")


def test_head_returns_no_body(xapi):
    response = xapi.head(AGENTS, {"agent": json.dumps({"mbox": "mailto:a@example.com"})})
    assert response.status_code == 200
    assert response.content == b""


def test_response_has_an_etag_of_the_body(xapi):
    response = get_person(xapi, {"mbox": "mailto:a@example.com"})
    assert response["ETag"] == '"' + hashlib.sha1(response.content).hexdigest() + '"'


@pytest.mark.parametrize(
    "agent",
    [
        "not JSON",
        "true",
        {"objectType": "Agent", "name": "no identifier"},
        {"mbox": "mailto:a@example.com", "openid": "http://openid.example.com/a"},
        {"mbox": "a@example.com"},
        {"objectType": "Group", "mbox": "mailto:team@example.com"},
        {"objectType": "Person", "mbox": ["mailto:a@example.com"]},
    ],
)
def test_agent_that_is_not_an_agent_with_one_identifier_is_400(xapi, agent):
    response = get_person(xapi, agent)
    assert response.status_code == 400
    assert response.json()["path"].startswith("agent")


def test_missing_agent_is_400(xapi):
    response = xapi.get(AGENTS)
    assert response.status_code == 400
    assert response.json()["rule"] == "required"


def test_unknown_parameter_is_400(xapi):
    response = get_person(xapi, {"mbox": "mailto:a@example.com"}, since="2024-01-01T00:00:00Z")
    assert response.status_code == 400
    assert response.json()["rule"] == "unknown-parameter"


@pytest.mark.parametrize("granted", [["statements/read/mine"], ["all/read"], ["state"], ["profile"]])
def test_any_read_scope_may_get_a_person(xapi_for, granted):
    assert get_person(xapi_for(granted), {"mbox": "mailto:a@example.com"}).status_code == 200


@pytest.mark.parametrize("granted", [["statements/write"], ["define"]])
def test_write_only_credentials_cannot_get_a_person(xapi_for, granted):
    assert get_person(xapi_for(granted), {"mbox": "mailto:a@example.com"}).status_code == 403


def test_writes_are_405(xapi):
    query = "?" + urlencode({"agent": json.dumps({"mbox": "mailto:a@example.com"})})
    response = xapi.post_json(AGENTS, {}, query=query)
    assert response.status_code == 405
