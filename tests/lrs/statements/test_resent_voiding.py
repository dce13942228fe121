"""Stored voiding statements sent again. A batch's first write does not look its ids up, so it
takes stored statements for new ones until the unique index refuses them; the voiding check
that runs before the insert (``store._void_targets``) may then see a stored voiding statement
seem to void another one (Data 2.3.2 lets a voiding statement come before its target, which
may itself be voiding). Sent again with the same content it is a no-op all the same
(Communication 2.1.2), and with other content a 409.
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#212-post-statements"""

from __future__ import annotations

import uuid

import pytest

from lrs.statements.models import Statement
from lrs.statements.store import statement_store
from lrs.xapi.errors import XAPIConflict
from lrs.xapi.verbs import VOIDED
from tests.conftest import make_statement

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_statement_caches")]


def _voiding(target_id: str) -> dict:
    return make_statement(
        statement_id=str(uuid.uuid4()),
        verb=VOIDED,
        object={"objectType": "StatementRef", "id": target_id},
    )


def _voiding_chain() -> tuple[dict, dict]:
    """A voiding statement ``first`` naming an id not stored yet (a voiding statement may come
    before its target: Data 2.3.2), then that id arriving as a voiding statement itself
    (``second``, voiding something else). Both are accepted and stored."""
    second_id = str(uuid.uuid4())
    first = _voiding(second_id)
    second = {**_voiding(str(uuid.uuid4())), "id": second_id}
    statement_store(statements=[first], credential=None)
    statement_store(statements=[second], credential=None)
    assert Statement.objects.filter(statement_id__in=[first["id"], second["id"]]).count() == 2
    return first, second


def test_resending_a_stored_voiding_statement_alone_is_a_no_op():
    first, _second = _voiding_chain()
    # The client re-sends exactly what it sent (and was stored): a no-op.
    assert statement_store(statements=[dict(first)], credential=None) == [first["id"]]


@pytest.mark.parametrize("size", [2, 12], ids=["small batch (json)", "large batch (copy)"])
def test_resending_a_batch_holding_a_stored_voiding_statement_is_a_no_op(size):
    first, _second = _voiding_chain()
    others = [make_statement(statement_id=str(uuid.uuid4())) for _ in range(size - 1)]
    statement_store(statements=others, credential=None)
    batch = [dict(first), *(dict(s) for s in others)]
    assert statement_store(statements=batch, credential=None) == [s["id"] for s in batch]


def test_resending_both_stored_voiding_statements_in_one_batch_is_a_no_op():
    first, second = _voiding_chain()
    batch = [dict(first), dict(second)]
    assert statement_store(statements=batch, credential=None) == [first["id"], second["id"]]


def test_a_stored_id_sent_with_other_content_is_a_conflict_even_if_that_content_voids_a_voiding_statement():
    # Communication 2.1.2: a stored id with different content is a 409, whatever that content.
    _first, second = _voiding_chain()
    plain = make_statement(statement_id=str(uuid.uuid4()))
    statement_store(statements=[plain], credential=None)
    changed = {**_voiding(second["id"]), "id": plain["id"]}
    with pytest.raises(XAPIConflict):
        statement_store(statements=[changed, make_statement(statement_id=str(uuid.uuid4()))], credential=None)
