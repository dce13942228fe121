"""A batch holding statements stored before (a client sending it again after a timeout).

Nearly every batch is new, so its write does not look its ids up first: the unique index on
``statement_id`` probes them as the rows go in, and a batch that breaks it is written once more,
looking up; its sender's batches then look up first for a while. What a client sees is what
Communication 2.1.2 asks either way: a statement stored with the same content is a no-op, with
different content the batch is refused (409) and nothing of it is stored.
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#212-post-statements
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from lrs.credentials.models import Credential
from lrs.statements import store
from lrs.statements.models import Statement, StatementActivity, StatementAgent
from lrs.statements.store import statement_store
from lrs.xapi.errors import XAPIConflict
from lrs.xapi.verbs import VOIDED
from tests.conftest import make_statement

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_statement_caches")]

# One per round of a batch's write: the prelude reads the transaction id (lrs.statements.store).
PRELUDE = "pg_current_xact_id()"

SIZES = pytest.mark.parametrize("size", [5, 40], ids=["small batch (json)", "large batch (copy)"])


def _batch(size: int) -> list[dict]:
    return [make_statement(statement_id=str(uuid.uuid4())) for _ in range(size)]


def _preludes(queries: CaptureQueriesContext) -> int:
    return sum(PRELUDE in query["sql"] for query in queries.captured_queries)


@SIZES
def test_a_new_batch_is_written_in_one_round_without_looking_its_ids_up(size):
    with CaptureQueriesContext(connection) as queries:
        statement_store(statements=_batch(size), credential=None)
    assert _preludes(queries) == 1
    [prelude] = [query["sql"] for query in queries.captured_queries if PRELUDE in query["sql"]]
    assert "WHERE statement_id =" not in prelude


@SIZES
def test_a_batch_sent_again_is_a_no_op_found_by_a_second_round(size):
    batch = _batch(size)
    ids = statement_store(statements=batch, credential=None)
    rows_before = (Statement.objects.count(), StatementActivity.objects.count())
    with CaptureQueriesContext(connection) as queries:
        again = statement_store(statements=[dict(statement) for statement in batch], credential=None)
    assert again == ids
    assert (Statement.objects.count(), StatementActivity.objects.count()) == rows_before
    assert _preludes(queries) == 2


@SIZES
def test_a_batch_mixing_stored_and_new_statements_stores_the_new_ones_once(size):
    stored = _batch(size)
    statement_store(statements=stored, credential=None)
    new = _batch(size)
    mixed = [statement for pair in zip(new, stored, strict=True) for statement in pair]
    ids = statement_store(statements=mixed, credential=None)
    assert ids == [statement["id"] for statement in mixed]
    assert Statement.objects.count() == 2 * size
    assert StatementActivity.objects.filter(statement__statement_id__in=[s["id"] for s in new]).exists()


@SIZES
def test_a_batch_sending_a_stored_id_with_other_content_is_refused_whole(size):
    stored = _batch(size)
    statement_store(statements=stored, credential=None)
    changed = {**stored[-1], "verb": {"id": "http://adlnet.gov/expapi/verbs/failed"}}
    new = _batch(size)
    with pytest.raises(XAPIConflict) as refused:
        statement_store(statements=[*new, changed], credential=None)
    assert refused.value.path == f"statements[{size}].id"
    assert Statement.objects.count() == size  # none of the new ones


def _prelude_looks_up(queries: CaptureQueriesContext) -> list[bool]:
    return [
        "WHERE statement_id =" in query["sql"]
        for query in queries.captured_queries
        if PRELUDE in query["sql"]
    ]


def test_a_sender_that_sent_stored_statements_again_looks_up_first_for_a_while(monkeypatch):
    resender, other = (Credential.objects.create(name=name, key=name) for name in ("resender", "other"))
    batch = _batch(20)
    statement_store(statements=batch, credential=resender)
    with CaptureQueriesContext(connection) as queries:
        statement_store(statements=batch, credential=resender)  # found by a second round
        statement_store(statements=batch, credential=resender)  # looked up at once
        statement_store(statements=_batch(20), credential=resender)
        statement_store(statements=_batch(20), credential=other)
    assert _prelude_looks_up(queries) == [False, True, True, True, False]
    later = time.monotonic() + store._RESENDING_SECONDS + 1
    monkeypatch.setattr(store.time, "monotonic", lambda: later)
    with CaptureQueriesContext(connection) as queries:
        statement_store(statements=_batch(20), credential=resender)
    assert _prelude_looks_up(queries) == [False]
    assert Statement.objects.count() == 80


def _voiding_of(target_id: str) -> dict:
    return make_statement(
        statement_id=str(uuid.uuid4()), verb=VOIDED, object={"objectType": "StatementRef", "id": target_id}
    )


@SIZES
def test_a_target_and_its_voiding_statement_sent_again_together_are_a_no_op(size):
    batch = _batch(size)
    batch.append(_voiding_of(batch[0]["id"]))
    statement_store(statements=batch, credential=None)
    assert statement_store(statements=[dict(s) for s in batch], credential=None) == [s["id"] for s in batch]
    assert Statement.objects.get(statement_id=batch[0]["id"]).voided


@SIZES
def test_a_stored_voiding_statement_sent_again_with_its_new_target_stores_the_target_voided(size):
    target = make_statement(statement_id=str(uuid.uuid4()))
    void = _voiding_of(target["id"])
    statement_store(statements=[void], credential=None)
    others = _batch(size)
    statement_store(statements=[void, target, *others], credential=None)
    assert Statement.objects.get(statement_id=target["id"]).voided
    assert Statement.objects.count() == size + 2


@SIZES
def test_a_new_voiding_statement_in_a_batch_sent_again_voids_its_stored_target(size):
    batch = _batch(size)
    statement_store(statements=batch, credential=None)
    void = _voiding_of(batch[1]["id"])
    statement_store(statements=[*batch, void], credential=None)
    assert Statement.objects.get(statement_id=batch[1]["id"]).voided


@SIZES
def test_a_batch_sent_again_inside_a_callers_transaction_leaves_it_usable(size):
    batch = _batch(size)
    statement_store(statements=batch, credential=None)
    new = _batch(size)
    with transaction.atomic():
        ids = statement_store(statements=[*batch, *new], credential=None)
        assert Statement.objects.count() == 2 * size  # the transaction is still usable
    assert ids == [s["id"] for s in [*batch, *new]]
    assert Statement.objects.count() == 2 * size


@SIZES
def test_a_conflict_inside_a_callers_transaction_leaves_it_usable(size):
    batch = _batch(size)
    statement_store(statements=batch, credential=None)
    changed = {**batch[0], "verb": {"id": "http://example.com/other"}}
    with transaction.atomic():
        with pytest.raises(XAPIConflict):
            statement_store(statements=[*_batch(size), changed], credential=None)
        assert Statement.objects.count() == size


@SIZES
def test_the_same_batch_stored_twice_in_one_transaction_is_stored_once(size):
    batch = _batch(size)
    with transaction.atomic():
        a = statement_store(statements=batch, credential=None)
        b = statement_store(statements=[dict(s) for s in batch], credential=None)
    assert a == b
    assert Statement.objects.count() == size


def test_a_registration_in_capitals_and_an_offset_timestamp_are_stored_as_their_values():
    registration = str(uuid.uuid4()).upper()
    ts = "2026-01-02T03:04:05.123456+02:00"
    batch = [
        make_statement(statement_id=str(uuid.uuid4()), timestamp=ts, context={"registration": registration})
        for _ in range(12)
    ]
    statement_store(statements=batch, credential=None)
    row = Statement.objects.get(statement_id=batch[0]["id"])
    assert row.registration == uuid.UUID(registration)
    assert row.timestamp == datetime(2026, 1, 2, 1, 4, 5, 123456, tzinfo=UTC)
    assert StatementAgent.objects.filter(statement_id=row.id).exists()
    assert StatementActivity.objects.filter(statement_id=row.id).exists()


def test_a_single_statement_sent_again_is_looked_up_at_once_not_found_by_a_failed_write():
    """The one-SQL path finds the id stored and says so: the general path looks it up in its
    first round instead of writing, failing on the unique index and going round again."""
    statement_store(statements=[make_statement()], credential=None)  # the activity now cached
    statement = make_statement(statement_id=str(uuid.uuid4()))
    statement_store(statements=[statement], credential=None)
    with CaptureQueriesContext(connection) as queries:
        again = statement_store(statements=[dict(statement)], credential=None)
    assert again == [statement["id"]]
    single, *preludes = [query["sql"] for query in queries.captured_queries if PRELUDE in query["sql"]]
    assert "ON CONFLICT" in single  # the one-SQL attempt, which wrote nothing
    assert len(preludes) == 1 and "WHERE statement_id =" in preludes[0]
    assert Statement.objects.filter(statement_id=statement["id"]).count() == 1
    assert not store._resending_until  # no failed write started a re-sending window


def test_a_voided_single_statement_sent_again_is_looked_up_at_once_not_found_by_a_failed_write():
    """As the test before, for a statement voided since it was stored: the one-SQL path finds the
    voiding statement naming it and sends it on to be looked up."""
    statement_store(statements=[make_statement()], credential=None)  # the activity now cached
    statement = make_statement(statement_id=str(uuid.uuid4()))
    statement_store(statements=[statement], credential=None)
    voiding = make_statement(
        statement_id=str(uuid.uuid4()),
        verb=VOIDED,
        object={"objectType": "StatementRef", "id": statement["id"]},
    )
    statement_store(statements=[voiding], credential=None)
    store._resending_until.clear()
    with CaptureQueriesContext(connection) as queries:
        again = statement_store(statements=[dict(statement)], credential=None)
    assert again == [statement["id"]]
    single, *preludes = [query["sql"] for query in queries.captured_queries if PRELUDE in query["sql"]]
    assert "ON CONFLICT" in single
    assert len(preludes) == 1 and "WHERE statement_id =" in preludes[0], len(preludes)
    assert Statement.objects.filter(statement_id=statement["id"]).count() == 1
    assert not store._resending_until  # no failed write started a re-sending window
