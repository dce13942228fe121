"""Statements sent again, as a client sees it: the same content is a no-op (Communication 2.1.1,
2.1.2), a stored voiding statement too, alone or in a batch whose other statements are stored,
never a 400 (see tests/lrs/statements/test_resent_voiding.py); a multipart batch's attachments
are kept once; a PUT of other content is a 409."""

from __future__ import annotations

import uuid

import pytest

from lrs.attachment_store import AttachmentContent
from lrs.statements.models import Statement, StatementAttachment
from lrs.xapi.verbs import VOIDED
from tests.conftest import make_statement
from tests.lrs.api.test_statements_attachments import attachment_meta, multipart, post_multipart

pytestmark = pytest.mark.django_db


def voiding(target_id: str, statement_id: str | None = None) -> dict:
    return make_statement(
        statement_id=statement_id or str(uuid.uuid4()),
        verb=VOIDED,
        object={"objectType": "StatementRef", "id": target_id},
    )


@pytest.fixture
def stored_chain(xapi):
    """V names an id not stored yet (allowed: a voiding statement may come first, Data 2.3.2);
    that id then arrives as a voiding statement of its own. Both are stored (200)."""
    later_id = str(uuid.uuid4())
    first = voiding(later_id)
    assert xapi.post_statements(first).status_code == 200
    [target] = xapi.post_statements(make_statement()).json()
    assert xapi.post_statements(voiding(target, statement_id=later_id)).status_code == 200
    return first


def test_posting_a_stored_voiding_statement_again_is_a_no_op(xapi, stored_chain):
    response = xapi.post_statements(stored_chain)
    assert response.status_code == 200, response.content
    assert response.json() == [stored_chain["id"]]


def test_posting_a_batch_with_a_stored_voiding_statement_again_stores_the_rest(xapi, stored_chain):
    new = make_statement(statement_id=str(uuid.uuid4()))
    response = xapi.post_statements([stored_chain, new])
    assert response.status_code == 200, response.content
    assert xapi.get_statements(statementId=new["id"]).status_code == 200


@pytest.mark.parametrize("size", [1, 12])
def test_a_multipart_batch_sent_again_is_a_no_op(xapi, size):
    pdf = b"%PDF-1.4 \x00\x01 resent"
    batch = [
        make_statement(statement_id=str(uuid.uuid4()), attachments=[attachment_meta(pdf)])
        for _ in range(size)
    ]
    body = multipart(batch, [(pdf, "application/pdf")])
    first = post_multipart(xapi, body)
    assert first.status_code == 200, first.content
    again = post_multipart(xapi, body)
    assert again.status_code == 200, again.content
    assert again.json() == first.json()
    assert Statement.objects.count() == size
    assert StatementAttachment.objects.count() == size
    assert AttachmentContent.objects.count() == 1


def test_a_put_of_a_stored_statement_again_is_204_and_other_content_409(xapi):
    statement = make_statement()
    sid = str(uuid.uuid4())
    assert xapi.put_json("/xapi/statements", statement, query=f"?statementId={sid}").status_code == 204
    assert xapi.put_json("/xapi/statements", statement, query=f"?statementId={sid}").status_code == 204
    other = make_statement(verb="http://example.com/other")
    assert xapi.put_json("/xapi/statements", other, query=f"?statementId={sid}").status_code == 409
