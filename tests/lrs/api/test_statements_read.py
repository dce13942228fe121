"""GET /xapi/statements: filters, paging, formats, HEAD and headers (Communication 2.1.3)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from tests.conftest import make_statement

pytestmark = pytest.mark.django_db

COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
PASSED = "http://adlnet.gov/expapi/verbs/passed"


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [statement["id"] for statement in response.json()["statements"]]


def store(xapi, *statements) -> list[str]:
    response = xapi.post_statements(list(statements))
    assert response.status_code == 200, response.content
    return response.json()


def test_list_is_newest_first_and_ascending_reverses_it(xapi):
    first = store(xapi, make_statement())
    second = store(xapi, make_statement())
    assert ids(xapi.get_statements()) == second + first
    assert ids(xapi.get_statements(ascending="true")) == first + second


def test_agent_filter_matches_actor_or_object_only(xapi):
    [as_actor] = store(xapi, make_statement(actor_email="ann@example.com"))
    [as_object] = store(
        xapi,
        make_statement(
            actor_email="bob@example.com", object={"objectType": "Agent", "mbox": "mailto:ann@example.com"}
        ),
    )
    [as_instructor] = store(
        xapi,
        make_statement(
            actor_email="cid@example.com", context={"instructor": {"mbox": "mailto:ann@example.com"}}
        ),
    )
    agent = json.dumps({"mbox": "mailto:ann@example.com"})
    assert set(ids(xapi.get_statements(agent=agent))) == {as_actor, as_object}
    related = set(ids(xapi.get_statements(agent=agent, related_agents="true")))
    assert related == {as_actor, as_object, as_instructor}


def test_agent_filter_by_account(xapi):
    account_actor = {"objectType": "Agent", "account": {"homePage": "https://hr.example.com", "name": "E123"}}
    [mine] = store(xapi, make_statement(actor=account_actor), make_statement())[:1]
    agent = json.dumps({"account": {"homePage": "https://hr.example.com", "name": "E123"}})
    assert ids(xapi.get_statements(agent=agent)) == [mine]


def test_verb_activity_and_registration_filters(xapi):
    registration = str(uuid.uuid4())
    [completed] = store(xapi, make_statement(context={"registration": registration}))
    [passed] = store(xapi, make_statement(verb=PASSED, activity="http://example.com/quiz"))
    [in_context] = store(
        xapi,
        make_statement(
            activity="http://example.com/other",
            context={"contextActivities": {"parent": [{"id": "http://example.com/quiz"}]}},
        ),
    )
    assert ids(xapi.get_statements(verb=COMPLETED)) == [in_context, completed]
    assert ids(xapi.get_statements(activity="http://example.com/quiz")) == [passed]
    assert ids(xapi.get_statements(activity="http://example.com/quiz", related_activities="true")) == [
        in_context,
        passed,
    ]
    assert ids(xapi.get_statements(registration=registration)) == [completed]
    assert ids(xapi.get_statements(verb=PASSED, activity="http://example.com/other")) == []


@pytest.mark.parametrize("size", [1, 3, 12])  # the single path, one INSERT, COPY
def test_a_registration_in_upper_case_is_the_same_registration_in_lower_case(xapi, size):
    registration = uuid.uuid4()
    statements = [make_statement(context={"registration": str(registration).upper()}) for _ in range(size)]
    stored = store(xapi, *statements)
    for spelling in (str(registration), str(registration).upper()):
        assert set(ids(xapi.get_statements(registration=spelling))) == set(stored)
    # The statement keeps the registration as it was sent (Data 2.2).
    returned = xapi.get_statements(statementId=stored[0]).json()
    assert returned["context"]["registration"] == str(registration).upper()


def test_substatement_activity_counts_only_as_related(xapi):
    sub = {
        "objectType": "SubStatement",
        "actor": {"mbox": "mailto:sub@example.com"},
        "verb": {"id": "http://example.com/verbs/will-complete"},
        "object": {"id": "http://example.com/planned"},
    }
    [statement_id] = store(xapi, make_statement(object=sub, verb="http://example.com/verbs/planned"))
    assert ids(xapi.get_statements(activity="http://example.com/planned")) == []
    assert ids(xapi.get_statements(activity="http://example.com/planned", related_activities="true")) == [
        statement_id
    ]


def test_since_is_exclusive_and_until_inclusive(xapi):
    [first] = store(xapi, make_statement())
    first_stored = xapi.get_statements(statementId=first).json()["stored"]
    [second] = store(xapi, make_statement())
    assert ids(xapi.get_statements(since=first_stored)) == [second]
    assert ids(xapi.get_statements(until=first_stored)) == [first]


def test_limit_and_more_page_through_everything_while_new_statements_arrive(xapi):
    stored = [store(xapi, make_statement())[0] for _ in range(5)]
    page = xapi.get_statements(limit=2).json()
    seen = [s["id"] for s in page["statements"]]
    store(xapi, make_statement())  # arrives during paging: must not shift the pages
    while page["more"]:
        assert page["more"].startswith("/xapi/statements?")
        page = xapi.get(page["more"]).json()
        seen.extend(s["id"] for s in page["statements"])
    assert seen == list(reversed(stored))


def test_more_is_empty_when_everything_fits(xapi):
    store(xapi, make_statement())
    assert xapi.get_statements(limit=5).json()["more"] == ""


def test_format_ids_reduces_agents_and_activities(xapi):
    [statement_id] = store(xapi, make_statement())
    statement = xapi.get_statements(statementId=statement_id, format="ids").json()
    assert statement["actor"] == {"objectType": "Agent", "mbox": "mailto:learner@example.com"}
    assert "definition" not in statement["object"]


def test_format_canonical_keeps_one_language(xapi):
    [statement_id] = store(xapi, make_statement())
    response = xapi.get(
        "/xapi/statements",
        {"statementId": statement_id, "format": "canonical"},
        headers={"Accept-Language": "de-DE"},
    )
    assert response.json()["object"]["definition"]["name"] == {"de-DE": "Sicherheit 101"}


def test_invalid_parameters_are_400_naming_them(xapi):
    cases = {
        "agent": "{not json",
        "verb": "not an iri",
        "registration": "123",
        "since": "yesterday",
        "limit": "-1",
        "format": "full",
        "ascending": "maybe",
        "foo": "bar",
    }
    for name, value in cases.items():
        response = xapi.get_statements(**{name: value})
        assert response.status_code == 400, name
        assert response.json()["path"] == name


def test_statement_id_with_a_filter_is_400(xapi):
    [statement_id] = store(xapi, make_statement())
    response = xapi.get_statements(statementId=statement_id, verb=COMPLETED)
    assert response.status_code == 400


def test_unknown_statement_id_is_404(xapi):
    assert xapi.get_statements(statementId=str(uuid.uuid4())).status_code == 404


def test_head_answers_headers_without_a_body(xapi):
    [statement_id] = store(xapi, make_statement())
    response = xapi.head("/xapi/statements", {"statementId": statement_id})
    assert response.status_code == 200
    assert response.content == b""
    assert response["X-Experience-API-Version"] == "1.0.3"
    assert "X-Experience-API-Consistent-Through" in response


def test_get_sends_consistent_through_and_last_modified(xapi):
    [statement_id] = store(xapi, make_statement())
    stored = xapi.get_statements(statementId=statement_id).json()["stored"]
    listing = xapi.get_statements()
    through = datetime.fromisoformat(listing["X-Experience-API-Consistent-Through"].replace("Z", "+00:00"))
    assert through >= datetime.fromisoformat(stored.replace("Z", "+00:00"))
    assert through <= datetime.now(UTC)
    assert "Last-Modified" in xapi.get_statements(statementId=statement_id)


def test_agent_filter_matches_a_group_actor_the_agent_is_a_member_of(xapi):
    """Communication 2.1.3, ``agent``: "For the purposes of this filter, Groups that have members
    which match the specified Agent based on their Inverse Functional Identifier as described above
    are considered a match"."""
    group = {"objectType": "Group", "member": [{"mbox": "mailto:ann@example.com"}]}
    [by_group] = store(xapi, make_statement(actor=group))
    agent = json.dumps({"mbox": "mailto:ann@example.com"})
    assert ids(xapi.get_statements(agent=agent)) == [by_group]


@pytest.mark.xfail(
    strict=True,
    reason="the account key joins homePage and name with '::' (lrs.xapi.agents.agent_ifi), so the agent "
    "filter matches another account. Communication 2.1.3 (agent): 'Agents or Identified Groups are equal "
    "when the same Inverse Functional Identifier is used in each Object compared and those Inverse "
    "Functional Identifiers have equal values' (tests/lrs/xapi/test_agent_ifi.py has the unit case)",
)
def test_the_agent_filter_does_not_match_an_account_on_another_home_page(xapi):
    owner = {"account": {"homePage": "http://example.com/a::b", "name": "c"}}
    stranger = {"account": {"homePage": "http://example.com/a", "name": "b::c"}}
    statement = make_statement()
    statement["actor"] = owner
    assert xapi.post_statements(statement).status_code == 200
    response = xapi.get("/xapi/statements", {"agent": json.dumps(stranger)})
    assert response.status_code == 200
    assert response.json()["statements"] == []
