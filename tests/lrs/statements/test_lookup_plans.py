"""The ingest path's lookups by ``= ANY(array)`` read through their indexes once the tables have
grown, however small the tables were when a connection first ran them.

A prepared statement's generic plan keeps the table size PostgreSQL saw when it made it: prepared
on a new LRS's empty statement table, the batch's id lookup stayed a sequential scan of the whole
table for every batch, for the connection's life unless the table was vacuumed or analyzed
meanwhile. In the bench that scan took nearly 40 % of the machine's CPU during batch ingest.
The batch's prelude is prepared now, its look-ups written as one index probe per id (LATERAL,
LIMIT 1), a plan PostgreSQL keeps whatever the table's size: the tests grow the table from empty
under it. Each test also checks that no ``= ANY(array)`` look-up is a prepared statement of the
session, which does not depend on when autovacuum runs."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from lrs.statements import store
from lrs.statements.store import statement_store
from lrs.xapi.verbs import VOIDED
from tests.conftest import make_statement, prepared_lookups_by_array, seq_scans_in_transaction


def _batch(size: int, **fields) -> list[dict]:
    return [make_statement(statement_id=str(uuid.uuid4()), **fields) for _ in range(size)]


def _voiding(statement_ids: list[str]) -> list[dict]:
    return [
        make_statement(verb=VOIDED, object={"objectType": "StatementRef", "id": statement_id})
        for statement_id in statement_ids
    ]


def _grow_from_empty() -> list[str]:
    """A fresh session runs the batch lookups while the table is nearly empty (more often than
    PostgreSQL's five custom plans before it settles on a generic one), then the table grows.
    Each small batch is also sent again: a new batch's write does not look its ids up, one holding
    stored ids does (``statement_store``)."""
    connection.close()  # a new session: nothing prepared on it yet
    store._resending_until.clear()  # the first batches are written without looking up
    for _ in range(8):
        batch = _batch(2)
        statement_store(
            statements=_voiding(statement_store(statements=batch, credential=None)), credential=None
        )
        statement_store(statements=batch, credential=None)
    stored: list[str] = []
    for _ in range(5):
        stored += statement_store(statements=_batch(1000), credential=None)
    return stored


@pytest.mark.django_db(transaction=True)
def test_a_batch_looks_up_its_ids_through_the_index_once_the_table_has_grown():
    _grow_from_empty()
    batch = _batch(10)
    statement_store(statements=batch, credential=None)
    with transaction.atomic():
        before = seq_scans_in_transaction("lrs_statement")
        # Sent again: a new batch's write does not look its ids up, the next round of a batch
        # holding stored ids does (lrs.statements.store.statement_store).
        statement_store(statements=batch, credential=None)
        assert seq_scans_in_transaction("lrs_statement") == before
    assert prepared_lookups_by_array() == []


@pytest.mark.django_db(transaction=True)
def test_a_voiding_batch_finds_its_targets_through_the_index_once_the_table_has_grown():
    stored = _grow_from_empty()
    voiding = _voiding(stored[:10])
    with transaction.atomic():
        before = seq_scans_in_transaction("lrs_statement")
        statement_store(statements=voiding, credential=None)
        assert seq_scans_in_transaction("lrs_statement") == before
    assert prepared_lookups_by_array() == []


def _index_reads(index: str) -> tuple[int, int]:
    """(scans, entries returned) of ``index`` so far, this transaction's pending counts included."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_stat_get_xact_numscans(%s::regclass), pg_stat_get_xact_tuples_returned(%s::regclass)",
            [index, index],
        )
        return cursor.fetchone()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("size", [1, 10])
def test_the_look_for_voiding_statements_probes_their_index_even_with_no_statistics(size):
    # Without statistics (a table never analyzed: this host runs PostgreSQL with autovacuum off)
    # a plain ``= ANY`` look-up was planned, from about 50,000 of the bench's statements, as an
    # AND of bitmaps reading every entry of the index of statements whose object is a
    # StatementRef, for each batch (2 ms of PostgreSQL per statement stored). The look-up now
    # probes per id with LIMIT 1, which no estimate turns into that; this checks the probes go to
    # the voiding statements' index and the StatementRef index is not read, on a table too small
    # to have shown the old plan.
    _grow_from_empty()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM pg_statistic WHERE starelid = 'lrs_statement'::regclass")
    statement_store(statements=_batch(2), credential=None)  # the one-SQL path's pool and cache
    with transaction.atomic():
        refs_before, voiding_before = _index_reads("stmt_refs_stored"), _index_reads("stmt_voiding_target")
        statement_store(statements=_batch(size), credential=None)
        refs_after, voiding_after = _index_reads("stmt_refs_stored"), _index_reads("stmt_voiding_target")
    assert refs_after[1] == refs_before[1], "the refs index was read"
    assert voiding_after[0] > voiding_before[0], "the voiding statements' index was not used"


@pytest.mark.django_db(transaction=True)
def test_growing_from_empty_runs_the_prelude_that_looks_ids_up_while_the_table_is_small():
    """What the tests above rely on: both forms of the prelude are prepared on the nearly empty
    table, the one that looks ids up included."""
    with CaptureQueriesContext(connection) as queries:
        _grow_from_empty()
    store._resending_until.clear()
    preludes = [query["sql"] for query in queries.captured_queries if "pg_current_xact_id()" in query["sql"]]
    looking_up = ["WHERE statement_id =" in sql for sql in preludes]
    assert looking_up[0] is False and looking_up.index(True) < 8  # within the first small rounds
