"""PUT/POST /xapi/statements: storing, LRS-owned properties, conflicts, all-or-nothing batches."""

from __future__ import annotations

import uuid

import pytest

from lrs.statements.models import Statement, StatementActivity, StatementAgent
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db


def test_put_stores_the_statement_and_answers_204(xapi):
    statement_id = str(uuid.uuid4())
    response = xapi.put_json("/xapi/statements", make_statement(), query=f"?statementId={statement_id}")
    assert response.status_code == 204
    assert response["X-Experience-API-Version"] == "1.0.3"
    stored = xapi.get_statements(statementId=statement_id).json()
    assert stored["id"] == statement_id
    assert stored["verb"]["id"] == "http://adlnet.gov/expapi/verbs/completed"


def test_lrs_sets_stored_timestamp_authority_and_version(xapi):
    response = xapi.post_statements(make_statement())
    assert response.status_code == 200
    [statement_id] = response.json()
    stored = xapi.get_statements(statementId=statement_id).json()
    assert stored["stored"].endswith("Z")
    assert stored["timestamp"] == stored["stored"]
    assert stored["version"] == "1.0.0"
    assert stored["authority"]["account"]["name"] == xapi.credential.key


def test_authority_sent_by_the_client_is_replaced_by_the_credential(xapi):
    forged = {"objectType": "Agent", "mbox": "mailto:boss@example.com"}
    [statement_id] = xapi.post_statements(make_statement(authority=forged)).json()
    stored = xapi.get_statements(statementId=statement_id).json()
    assert stored["authority"]["account"]["name"] == xapi.credential.key


def test_client_timestamp_is_kept_as_the_same_instant_in_utc_and_version_is_kept(xapi):
    # Data 2.4.7: the LRS may return a timestamp in another time zone if the instant is unchanged.
    statement = make_statement(timestamp="2024-03-01T12:00:00.000+02:00", version="1.0.3")
    [statement_id] = xapi.post_statements(statement).json()
    stored = xapi.get_statements(statementId=statement_id).json()
    assert stored["timestamp"].startswith("2024-03-01T10:00:00.000")
    assert stored["timestamp"].endswith("Z")
    assert stored["version"] == "1.0.3"


def test_post_batch_returns_ids_in_request_order(xapi):
    given = [str(uuid.uuid4()) for _ in range(3)]
    batch = [make_statement(statement_id=given[0]), make_statement(), make_statement(statement_id=given[2])]
    response = xapi.post_statements(batch)
    assert response.status_code == 200
    ids = response.json()
    assert ids[0] == given[0] and ids[2] == given[2]
    assert uuid.UUID(ids[1])
    assert Statement.objects.count() == 3


def test_batch_with_one_invalid_statement_stores_nothing_and_names_the_path(xapi):
    bad = make_statement()
    bad["result"] = {"score": {"scaled": 1.5}}
    response = xapi.post_statements([make_statement(), bad])
    assert response.status_code == 400
    body = response.json()
    assert body["path"].startswith("statements[1].result.score.scaled")
    assert body["rule"]
    assert Statement.objects.count() == 0


def test_identical_statement_sent_again_is_a_noop_success(xapi):
    statement = make_statement(statement_id=str(uuid.uuid4()))
    assert xapi.post_statements([statement]).status_code == 200
    # A client retrying a batch after a timeout sends the same statements again.
    retry = xapi.post_statements([statement, make_statement()])
    assert retry.status_code == 200
    assert Statement.objects.count() == 2
    put = xapi.put_json("/xapi/statements", statement, query=f"?statementId={statement['id']}")
    assert put.status_code == 204


def test_different_statement_with_an_existing_id_is_409_and_nothing_of_the_batch_is_stored(xapi):
    statement_id = str(uuid.uuid4())
    xapi.post_statements(make_statement(statement_id=statement_id))
    conflicting = make_statement(statement_id=statement_id, verb="http://adlnet.gov/expapi/verbs/failed")
    response = xapi.post_statements([make_statement(), conflicting])
    assert response.status_code == 409
    assert response.json()["path"] == "statements[1].id"
    assert Statement.objects.count() == 1


def test_same_id_twice_in_one_batch_is_rejected(xapi):
    statement_id = str(uuid.uuid4())
    batch = [make_statement(statement_id=statement_id), make_statement(statement_id=statement_id)]
    response = xapi.post_statements(batch)
    assert response.status_code == 400
    assert response.json()["path"] == "statements[1].id"
    assert Statement.objects.count() == 0


def test_put_without_statement_id_is_400(xapi):
    response = xapi.put_json("/xapi/statements", make_statement())
    assert response.status_code == 400
    assert response.json()["path"] == "statementId"


def test_put_with_a_body_id_different_from_the_parameter_is_400(xapi):
    statement = make_statement(statement_id=str(uuid.uuid4()))
    response = xapi.put_json("/xapi/statements", statement, query=f"?statementId={uuid.uuid4()}")
    assert response.status_code == 400
    assert response.json()["rule"] == "id-matches-parameter"


def test_body_that_is_not_json_is_400(xapi):
    response = xapi.post_statements("{not json")
    assert response.status_code == 400
    assert response.json()["rule"] == "json"


def test_wrong_content_type_is_400(xapi):
    response = xapi.client.post("/xapi/statements", "x", content_type="text/plain", headers=xapi.headers)
    assert response.status_code == 400
    assert response.json()["path"] == "Content-Type"


def test_unknown_query_parameter_on_post_is_400(xapi):
    response = xapi.post_statements(make_statement(), query="?foo=bar")
    assert response.status_code == 400
    assert response.json()["rule"] == "unknown-parameter"


def test_index_rows_cover_actor_object_context_and_substatement(xapi):
    statement = make_statement(
        context={
            "instructor": {"mbox": "mailto:teacher@example.com"},
            "contextActivities": {"parent": [{"id": "http://example.com/programme"}]},
        }
    )
    [statement_id] = xapi.post_statements(statement).json()
    row = Statement.objects.get(statement_id=statement_id)
    agents = {(a.agent_ifi, a.direct) for a in StatementAgent.objects.filter(statement=row)}
    activities = {(a.activity_id, a.direct) for a in StatementActivity.objects.filter(statement=row)}
    assert ("mbox::mailto:learner@example.com", True) in agents
    assert ("mbox::mailto:teacher@example.com", False) in agents
    assert ("http://example.com/courses/safety-101", True) in activities
    assert ("http://example.com/programme", False) in activities


def test_a_batch_is_written_with_a_constant_number_of_queries(xapi):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_for(size: int) -> int:
        batch = [make_statement(activity=f"http://example.com/a/{uuid.uuid4()}") for _ in range(size)]
        with CaptureQueriesContext(connection) as captured:
            assert xapi.post_statements(batch).status_code == 200
        return len(captured)

    # No per-statement queries in a loop: the count does not grow with the batch size, on the
    # small-batch path (one multi-table INSERT) or the large one (COPY, which Django does not count).
    queries_for(1)  # warm: the credential is cached from the first request on
    # And the large path: a process's first COPY reads the tables' column types, once
    # (lrs/statements/bulk.py); run first in its process, this test counted that read.
    queries_for(20)
    assert queries_for(1) == queries_for(2) == queries_for(10) <= 8
    assert queries_for(20) == queries_for(50) <= 8
    assert Statement.objects.count() == 1 + 20 + 1 + 2 + 10 + 20 + 50


@pytest.mark.parametrize("size", [1, 3])
def test_an_activity_definition_with_u0000_is_400_and_nothing_is_stored(xapi, size):
    # Canonical definitions are PostgreSQL jsonb, which cannot hold U+0000.
    statements = [make_statement(activity=f"http://example.com/nul/{index}") for index in range(size)]
    parent = {"id": "http://example.com/p", "definition": {"name": {"en": "a\x00"}}}
    statements[-1]["context"] = {"contextActivities": {"parent": [parent]}}
    response = xapi.post_statements(statements if size > 1 else statements[0])
    assert response.status_code == 400, response.content
    where = f"statements[{size - 1}]" if size > 1 else "statement"
    assert response.json()["path"] == f"{where}.context.contextActivities.parent[0].definition"
    assert response.json()["rule"] == "no-nul"
    assert Statement.objects.count() == 0


def test_a_literal_backslash_u0000_text_in_a_definition_is_fine(xapi):
    statement = make_statement()
    statement["object"]["definition"]["description"] = {"en": "the escape \\u0000 as text"}
    assert xapi.post_statements(statement).status_code == 200


def test_u0000_in_a_substatement_activity_definition_is_400_with_its_path(xapi):
    inner = make_statement()
    del inner["object"]["definition"]["name"]
    inner["object"]["definition"]["description"] = {"en": "x\x00"}
    statement = make_statement()
    statement["object"] = {"objectType": "SubStatement", **{k: inner[k] for k in ("actor", "verb", "object")}}
    response = xapi.post_statements(statement)
    assert response.status_code == 400, response.content
    assert response.json()["path"] == "statement.object.object.definition"


def test_a_put_of_an_array_is_a_400_saying_put_takes_one_statement(xapi):
    """PUT stores the one statement its statementId names (Communication 2.1.1); an array is a
    400 naming the body, not ``statements[0]``, as if it were a batch."""
    statement = make_statement()
    statement_id = str(uuid.uuid4())
    response = xapi.put_json("/xapi/statements", [statement], query=f"?statementId={statement_id}")
    assert response.status_code == 400
    body = response.json()
    assert (body["path"], body["rule"]) == ("statement", "type"), body
    assert "one statement" in body["message"]
