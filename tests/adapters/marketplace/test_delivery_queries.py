"""What a marketplace delivery costs the database, beyond the batch engine's claim and its bulk
outcome write (adapters/delivery/outcomes.py). A first delivery of a statement has no evidence
recorded anywhere else: nothing to mark superseded, nothing to drop afterwards."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from adapters.delivery.drain import drain
from adapters.models import Delivery, Target
from lrs.statements.store import statement_store
from tests.adapters.helpers import expand_outbox, scored_completion

pytestmark = pytest.mark.django_db


def _drained(count: int) -> list[str]:
    statement_store(statements=[scored_completion(0.5 + i / 100) for i in range(count)], credential=None)
    expand_outbox()
    with CaptureQueriesContext(connection) as captured:
        drain(Target.objects.get(name="market").id, slot=0)
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.DELIVERED}
    return [query["sql"] for query in captured.captured_queries]


def _writes(queries: list[str], table: str) -> list[str]:
    return [sql.split(" ", 1)[0] for sql in queries if sql.startswith(("UPDATE", "DELETE")) and table in sql]


def test_a_first_delivery_writes_its_evidence_once_and_nothing_else_of_it(market_target):
    queries = _drained(3)
    assert _writes(queries, '"adapters_skillevidence"') == []  # one INSERT each, no UPDATE or DELETE
    # Per delivery: the lease, the write in flight, the write held, the lease released.
    assert len(_writes(queries, '"adapters_skillrecord"')) == 3 * 4
    # On the deliveries: the claim and its length, the one bulk outcome write, the next claim
    # (which finds nothing left): none per delivery.
    assert len(_writes(queries, '"adapters_delivery"')) == 4
    # 64 before a first delivery skipped the evidence UPDATE and DELETE it did not need; since, one
    # more per batch (the last identity change, read before it resolves its learners) and four
    # per delivery (where its statement's evidence is recorded, read again under the statement's
    # lock: the lock, the read, and here the savepoint around them).
    assert len(queries) <= 71, len(queries)
