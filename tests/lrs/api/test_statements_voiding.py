"""Voiding (xAPI 1.0.3 Data 2.3.2, Communication 2.1.4)."""

from __future__ import annotations

import pytest

from tests.conftest import make_statement

pytestmark = pytest.mark.django_db

VOIDED = "http://adlnet.gov/expapi/verbs/voided"


def voiding(target_id: str) -> dict:
    return make_statement(verb=VOIDED, object={"objectType": "StatementRef", "id": target_id})


def test_voided_statement_leaves_queries_but_stays_reachable_by_voided_statement_id(xapi):
    [target_id] = xapi.post_statements(make_statement()).json()
    [voiding_id] = xapi.post_statements(voiding(target_id)).json()

    assert xapi.get_statements(statementId=target_id).status_code == 404
    voided = xapi.get_statements(voidedStatementId=target_id)
    assert voided.status_code == 200
    assert voided.json()["id"] == target_id
    listed = [s["id"] for s in xapi.get_statements().json()["statements"]]
    assert target_id not in listed
    assert voiding_id in listed


def test_voided_statement_id_of_a_statement_not_voided_is_404(xapi):
    [target_id] = xapi.post_statements(make_statement()).json()
    assert xapi.get_statements(voidedStatementId=target_id).status_code == 404


def test_a_voiding_statement_cannot_be_voided(xapi):
    [target_id] = xapi.post_statements(make_statement()).json()
    [voiding_id] = xapi.post_statements(voiding(target_id)).json()
    response = xapi.post_statements(voiding(voiding_id))
    assert response.status_code == 400
    assert response.json()["rule"] == "void-voiding-statement"
    assert xapi.get_statements(statementId=voiding_id).status_code == 200


def test_a_batch_voiding_a_voiding_statement_stores_nothing_and_voids_nothing(xapi):
    # The batch's other voiding statement marks its target voided before the refusal is found:
    # the whole batch is refused, and that mark goes with it.
    [first, second] = xapi.post_statements([make_statement(), make_statement()]).json()
    [voiding_id] = xapi.post_statements(voiding(first)).json()
    response = xapi.post_statements([voiding(second), voiding(voiding_id)])
    assert response.status_code == 400
    assert response.json()["rule"] == "void-voiding-statement"
    assert response.json()["path"] == "statements[1].object.id"
    assert xapi.get_statements(statementId=second).status_code == 200
    assert xapi.get_statements(statementId=voiding_id).status_code == 200


def test_voiding_statement_is_matched_by_its_targets_filter(xapi):
    [target_id] = xapi.post_statements(make_statement(verb="http://adlnet.gov/expapi/verbs/passed")).json()
    [voiding_id] = xapi.post_statements(voiding(target_id)).json()
    found = xapi.get_statements(verb="http://adlnet.gov/expapi/verbs/passed").json()["statements"]
    assert [s["id"] for s in found] == [voiding_id]


def test_voiding_a_statement_in_the_same_batch(xapi):
    target = make_statement(statement_id="5f6e8bb2-1b56-4f76-9b1e-2b3a5d3f0c11")
    response = xapi.post_statements([target, voiding(target["id"])])
    assert response.status_code == 200
    assert xapi.get_statements(statementId=target["id"]).status_code == 404
    assert xapi.get_statements(voidedStatementId=target["id"]).status_code == 200


def test_statements_referring_to_matches_are_found_and_paged(xapi):
    passed = "http://adlnet.gov/expapi/verbs/passed"
    [target_id] = xapi.post_statements(make_statement(verb=passed)).json()
    other = xapi.post_statements(make_statement()).json()[0]
    refs = [
        xapi.post_statements(
            make_statement(
                verb="http://example.com/verbs/cites", object={"objectType": "StatementRef", "id": ref}
            )
        ).json()[0]
        for ref in [target_id, other, target_id, other, other, target_id]
    ]
    found = [s["id"] for s in xapi.get_statements(verb=passed).json()["statements"]]
    assert found == [refs[5], refs[2], refs[0], target_id]
    page = xapi.get_statements(verb=passed, limit=2).json()
    assert [s["id"] for s in page["statements"]] == [refs[5], refs[2]]
    rest = xapi.get(page["more"]).json()
    assert [s["id"] for s in rest["statements"]] == [refs[0], target_id]
