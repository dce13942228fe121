"""Reading GET /xapi/statements page by page (``more``) while batches are being stored.

Communication 2.1.3: a client follows ``more`` for the rest of its result and may poll with
``since`` set to the X-Experience-API-Consistent-Through it was given: every statement stored up
to that time is visible to queries by then. A walk must not repeat a statement nor skip one that
was stored before it started; a poller must, over its polls, see every statement.
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#213-get-statements
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from lrs.statements.models import Statement
from lrs.xapi.timestamps import parse_timestamp
from tests.conftest import XAPIClient, make_statement
from tests.lrs.concurrency.threads import POSTGRESQL_ONLY, TIMEOUT, client_like

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("empty_statement_caches"),
    POSTGRESQL_ONLY,
]

WRITERS = 3
BATCHES = 8  # per writer
PAGE = 4


def _batch() -> list[dict]:
    return [make_statement(statement_id=str(uuid.uuid4())) for _ in range(3)]


class _Burst:
    """WRITERS threads each posting BATCHES batches, from the moment ``start`` is called."""

    def __init__(self, xapi: XAPIClient) -> None:
        self.go = threading.Event()
        self.failures: list[object] = []
        self.threads = [
            threading.Thread(target=self._write, args=(client_like(xapi),)) for _ in range(WRITERS)
        ]
        for thread in self.threads:
            thread.start()

    def _write(self, client: XAPIClient) -> None:
        try:
            assert self.go.wait(TIMEOUT)
            for _ in range(BATCHES):
                response = client.post_statements(_batch())
                if response.status_code != 200:
                    self.failures.append(response)
        except BaseException as error:  # reported by the test
            self.failures.append(error)
        finally:
            connection.close()

    def start(self) -> None:
        self.go.set()

    def join(self) -> None:
        self.go.set()
        for thread in self.threads:
            thread.join(TIMEOUT)
        assert not any(thread.is_alive() for thread in self.threads)
        assert not self.failures, self.failures[0]


def _pages(xapi: XAPIClient, params: dict) -> Iterator[tuple[list[str], datetime]]:
    """Each page's statement ids and Consistent-Through, following ``more`` to the end."""
    response = xapi.get_statements(**params)
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        through = parse_timestamp(response["X-Experience-API-Consistent-Through"], path="header")
        yield [statement["id"] for statement in body["statements"]], through
        if not body["more"]:
            return
        response = xapi.client.get(body["more"], headers=xapi._headers(None))


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"agent": '{"mbox": "mailto:learner@example.com"}'},
        {"verb": "http://adlnet.gov/expapi/verbs/completed"},
    ],
    ids=["all", "by agent (index table walk)", "by verb"],
)
def test_a_descending_walk_during_a_burst_repeats_nothing_and_misses_nothing_stored_before_it(
    xapi: XAPIClient, query: dict
):
    for _ in range(5):
        assert xapi.post_statements(_batch()).status_code == 200
    before = {str(i) for i in Statement.objects.values_list("statement_id", flat=True)}
    burst = _Burst(xapi)
    seen: list[str] = []
    try:
        burst.start()
        for ids, _through in _pages(xapi, {**query, "limit": PAGE}):
            seen += ids
    finally:
        burst.join()
    assert len(seen) == len(set(seen)), "a statement was served twice"
    assert before <= set(seen), f"missed {len(before - set(seen))} stored before the walk"


def test_a_client_polling_with_the_consistent_through_it_was_given_sees_every_statement(xapi: XAPIClient):
    since = datetime.now(UTC) - timedelta(hours=1)
    seen: set[str] = set()
    burst = _Burst(xapi)
    try:
        burst.start()
        while any(thread.is_alive() for thread in burst.threads):
            since = _poll(xapi, since, seen)
    finally:
        burst.join()
    _poll(xapi, since, seen)
    stored = {str(i) for i in Statement.objects.values_list("statement_id", flat=True)}
    assert stored == seen, f"the poller missed {len(stored - seen)} statements"


def _poll(xapi: XAPIClient, since: datetime, seen: set[str]) -> datetime:
    """One poll, ascending from ``since`` through every page; the next ``since``: the first page's
    Consistent-Through (everything stored up to it was visible to this poll)."""
    next_since = None
    for ids, through in _pages(xapi, {"since": since.isoformat(), "ascending": "true", "limit": PAGE}):
        seen.update(ids)
        next_since = next_since or through
    assert next_since is not None
    return next_since
