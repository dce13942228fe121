"""``statements/read/mine`` (xAPI 1.0.3 Communication 4.2: "read Statements written by 'you',
specifically only Statements where the 'authority' is this client"): whatever way a statement or
its bytes are reached, a credential with that scope sees only what it stored itself, and no
answer depends on the content of a statement it may not read."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.conftest import make_statement
from tests.lrs.api.test_statements_attachments import BOUNDARY, attachment_meta, multipart, post_multipart

pytestmark = pytest.mark.django_db

OTHER = "mailto:other.person@example.com"
SECRET_PDF = b"%PDF-1.4 another person's medical certificate"


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [statement["id"] for statement in response.json()["statements"]]


def test_statement_id_and_voided_statement_id_of_another_credential_are_404(xapi, mine):
    theirs = str(uuid.uuid4())
    voided = str(uuid.uuid4())
    xapi.post_statements([make_statement(statement_id=theirs), make_statement(statement_id=voided)])
    voiding = make_statement(
        verb="http://adlnet.gov/expapi/verbs/voided", object={"objectType": "StatementRef", "id": voided}
    )
    assert xapi.post_statements(voiding).status_code == 200
    assert mine.get_statements(statementId=theirs).status_code == 404
    assert mine.get_statements(voidedStatementId=voided).status_code == 404
    assert xapi.get_statements(voidedStatementId=voided).status_code == 200


def test_more_links_walk_only_the_credentials_own_statements(xapi, mine):
    own = set()
    for index in range(3):
        xapi.post_statements(make_statement())
        [statement_id] = mine.post_statements(make_statement(activity=f"http://example.com/a/{index}")).json()
        own.add(statement_id)
    seen: list[str] = []
    response = mine.get_statements(limit="1")
    while True:
        seen += ids(response)
        more = response.json()["more"]
        if not more:
            break
        response = mine.get(more)
    assert sorted(seen) == sorted(own)
    # A more link that an all-reading credential got is walked as the one following it.
    everyone = xapi.get_statements(limit="1").json()["more"]
    assert set(ids(mine.get(everyone))) <= own


def test_a_statement_ref_filter_does_not_reveal_the_target_it_may_not_read(xapi, mine):
    """2.1.3 "Filter Conditions for StatementRefs": a referring statement matches a filter that
    its target matches. When the target is not the credential's, answering by its content would
    tell the credential the target's actor (an oracle over statements it may not read); the
    answer must be the same whatever the target holds."""
    target = str(uuid.uuid4())
    xapi.post_statements(make_statement(actor_email="other.person@example.com", statement_id=target))
    [referring] = mine.post_statements(
        make_statement(
            actor_email="content@example.com",
            verb="http://adlnet.gov/expapi/verbs/experienced",
            object={"objectType": "StatementRef", "id": target},
        )
    ).json()
    matching = ids(mine.get_statements(agent=json.dumps({"mbox": OTHER})))
    not_matching = ids(mine.get_statements(agent=json.dumps({"mbox": "mailto:nobody@example.com"})))
    assert referring not in matching
    assert matching == not_matching == []
    # With statements/read the filter follows the reference (the spec's rule) as before.
    assert referring in ids(xapi.get_statements(agent=json.dumps({"mbox": OTHER})))


def test_attachments_true_serves_no_bytes_another_credential_sent(xapi, mine):
    """An attachment is kept once by its hash. A statement of this credential naming another
    statement's hash with a fileUrl (no part needed) must not fetch the other's bytes back."""
    meta = attachment_meta(SECRET_PDF)
    assert (
        post_multipart(
            xapi, multipart([make_statement(attachments=[meta])], [(SECRET_PDF, "application/pdf")])
        ).status_code
        == 200
    )
    pointed = {**meta, "fileUrl": "https://files.example.com/whatever.pdf"}
    [own] = mine.post_statements(make_statement(attachments=[pointed])).json()
    single = mine.get_statements(statementId=own, attachments="true")
    listing = mine.get_statements(attachments="true")
    for response in (single, listing):
        assert response.status_code == 200
        assert SECRET_PDF not in response.content
    # Its own bytes, sent as a part, still come back.
    own_pdf = b"%PDF-1.4 the content's own certificate"
    sent = multipart([make_statement(attachments=[attachment_meta(own_pdf)])], [(own_pdf, "application/pdf")])
    assert post_multipart(mine, sent).status_code == 200
    assert own_pdf in mine.get_statements(attachments="true").content


def test_a_part_less_statement_naming_a_stored_hash_does_not_adopt_those_bytes(xapi, mine):
    meta = attachment_meta(SECRET_PDF)
    post_multipart(xapi, multipart([make_statement(attachments=[meta])], [(SECRET_PDF, "application/pdf")]))
    response = mine.client.post(
        "/xapi/statements",
        multipart([make_statement(attachments=[meta])], []),
        content_type=f"multipart/mixed; boundary={BOUNDARY}",
        headers=mine.headers,
    )
    # Communication 1.5.2: an attachment without fileUrl needs its part; a hash alone is no proof.
    assert response.status_code == 400
    assert response.json()["path"].endswith(".sha2")


def test_agents_resource_names_only_what_the_credential_may_read(xapi, xapi_for):
    """GET /agents answers a Person with the names statements gave the agent (Communication 2.4).
    A credential that may not read another credential's statements must not learn from them the
    name behind an e-mail address (privacy by default: only what it may read)."""
    xapi.post_statements(
        make_statement(actor_email="other.person@example.com")
        | {"actor": {"name": "Jane Roe", "mbox": OTHER}}
    )
    agent = json.dumps({"mbox": OTHER})
    for scopes in (["statements/read/mine"], ["state"], ["profile"]):
        person = xapi_for(scopes).get("/xapi/agents", {"agent": agent}).json()
        assert person["name"] == [], scopes
    assert xapi.get("/xapi/agents", {"agent": agent}).json()["name"] == ["Jane Roe"]
    # What it stored itself it may read back.
    mine = xapi_for(["statements/write", "statements/read/mine"])
    mine.post_statements(make_statement() | {"actor": {"name": "J. Roe", "mbox": OTHER}})
    assert mine.get("/xapi/agents", {"agent": agent}).json()["name"] == ["J. Roe"]
