"""Reading ascending (``ascending=true``, its ``more`` links, ``since`` polls) while a slow batch is
being written.

A batch takes its ``stored`` time when its transaction starts, so a slow batch can commit after a
later one: its statements appear *behind* statements already served. An ascending page stops at
the X-Experience-API-Consistent-Through it reports (no statement with a later ``stored`` is served
until every statement up to it is visible), so a client walking ascending, following ``more`` or
polling with ``since`` set to the last ``stored`` it saw, never passes a statement still to come.
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#213-get-statements
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest
from django.db import connection

from lrs.api import statements as statements_view
from lrs.statements.signals import statements_stored
from lrs.xapi.timestamps import parse_timestamp
from tests.conftest import XAPIClient, make_statement
from tests.lrs.concurrency.threads import POSTGRESQL_ONLY, TIMEOUT, client_like

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("empty_statement_caches"),
    POSTGRESQL_ONLY,
]


def _batch(size: int = 2) -> list[dict]:
    # Two statements: a batch goes the general path, whose transaction the hold below keeps open.
    # An activity of its own: batches naming the same activity wait for each other (its definition).
    activity = f"http://example.com/courses/{uuid.uuid4()}"
    return [make_statement(statement_id=str(uuid.uuid4()), activity=activity) for _ in range(size)]


def _ids(statements: list[dict]) -> set[str]:
    return {statement["id"] for statement in statements}


@contextmanager
def _slow_batch(xapi: XAPIClient, statements: list[dict]) -> Iterator[None]:
    """``statements`` posted from another thread, whose transaction stays open (its rows written,
    its ``stored`` taken) until the block ends; then it commits."""
    in_transaction, release = threading.Event(), threading.Event()
    results: list[object] = []

    def hold(**_kwargs: object) -> None:
        if threading.current_thread() is writer:
            in_transaction.set()
            release.wait(TIMEOUT)

    def write() -> None:
        try:
            results.append(client_like(xapi).post_statements(statements))
        except BaseException as error:  # reported below
            results.append(error)
        finally:
            connection.close()

    writer = threading.Thread(target=write)
    statements_stored.connect(hold)
    try:
        writer.start()
        assert in_transaction.wait(TIMEOUT), results
        yield
    finally:
        release.set()
        writer.join(TIMEOUT)
        statements_stored.disconnect(hold)
    assert not writer.is_alive()
    assert getattr(results[0], "status_code", results[0]) == 200, results[0]


def _page(xapi: XAPIClient, path_or_params: str | dict) -> tuple[list[dict], str, datetime]:
    """A page's statements, its ``more`` and its Consistent-Through; every statement it serves
    ascending has ``stored`` up to that Consistent-Through."""
    if isinstance(path_or_params, str):
        response = xapi.client.get(path_or_params, headers=xapi._headers(None))
    else:
        response = xapi.get_statements(**path_or_params)
    assert response.status_code == 200, response.content
    body = response.json()
    through = parse_timestamp(response["X-Experience-API-Consistent-Through"], path="header")
    for statement in body["statements"]:
        stored = parse_timestamp(statement["stored"], path="stored")
        assert stored <= through, f"served a statement stored at {stored}, after the {through} reported"
    return body["statements"], body["more"], through


def _walk(xapi: XAPIClient, more: str) -> list[dict]:
    """Following ``more`` to the end."""
    seen: list[dict] = []
    while more:
        statements, more, _through = _page(xapi, more)
        seen += statements
    return seen


def test_an_ascending_walk_following_more_sees_a_slow_batch_that_committed_after_a_later_one(
    xapi: XAPIClient,
):
    early, slow, fast = _batch(), _batch(), _batch()
    assert xapi.post_statements(early).status_code == 200
    with _slow_batch(xapi, slow):
        assert xapi.post_statements(fast).status_code == 200  # stored after the slow batch, committed first
        seen, more, _through = _page(xapi, {"ascending": "true", "limit": 10})
    # The walk goes on from the link it was given, the slow batch now committed.
    seen += _walk(xapi, more)
    ids = [statement["id"] for statement in seen]
    assert len(ids) == len(set(ids)), "a statement was served twice"
    assert _ids(slow) <= set(ids), "the walk missed the slow batch"
    assert set(ids) == _ids(early + slow + fast)
    stored = [statement["stored"] for statement in seen]
    assert stored == sorted(stored)


def test_a_poller_taking_the_last_stored_it_saw_as_since_sees_a_slow_batch(xapi: XAPIClient, monkeypatch):
    monkeypatch.setattr(statements_view, "CONSISTENCY_WAIT_SECONDS", 0.2)
    early, slow, fast = _batch(), _batch(), _batch()
    assert xapi.post_statements(early).status_code == 200
    since = early_stored = max(statement["stored"] for statement in _page(xapi, {"ascending": "true"})[0])
    seen: set[str] = set()
    with _slow_batch(xapi, slow):
        assert xapi.post_statements(fast).status_code == 200
        statements, _more, _through = _page(xapi, {"ascending": "true", "since": early_stored})
        seen |= _ids(statements)
        since = max([since, *(statement["stored"] for statement in statements)])
    statements, more, _through = _page(xapi, {"ascending": "true", "since": since})
    seen |= _ids(statements + _walk(xapi, more))
    assert _ids(slow) <= seen, "the poller missed the slow batch"
    assert seen == _ids(slow + fast)


def test_an_ascending_page_with_nothing_yet_in_order_waits_for_the_writer_then_serves(
    xapi: XAPIClient, monkeypatch
):
    monkeypatch.setattr(statements_view, "CONSISTENCY_WAIT_SECONDS", 5.0)  # ample, under any load
    early, slow, fast = _batch(), _batch(), _batch()
    assert xapi.post_statements(early).status_code == 200
    since = max(statement["stored"] for statement in _page(xapi, {"ascending": "true"})[0])
    answer: list = []
    with _slow_batch(xapi, slow):
        assert xapi.post_statements(fast).status_code == 200
        reader = threading.Thread(
            target=lambda: answer.append(_read_in_thread(xapi, {"ascending": "true", "since": since}))
        )
        reader.start()
        time.sleep(0.3)  # the reader has nothing in order to serve: it waits
        assert not answer, "answered while nothing was in order yet"
    reader.join(TIMEOUT)  # the slow batch committed: it serves both batches, in order
    statements, more, _through = answer[0]
    assert [_ids(statements[:2]), _ids(statements[2:])] == [_ids(slow), _ids(fast)]
    assert more == ""


def _read_in_thread(xapi: XAPIClient, params: dict) -> tuple[list[dict], str, datetime]:
    try:
        return _page(client_like(xapi), params)
    finally:
        connection.close()


def test_an_ascending_page_with_nothing_in_order_while_the_writer_stays_open_is_empty_with_a_more_link(
    xapi: XAPIClient, monkeypatch
):
    monkeypatch.setattr(statements_view, "CONSISTENCY_WAIT_SECONDS", 0.2)
    early, slow, fast = _batch(), _batch(), _batch()
    assert xapi.post_statements(early).status_code == 200
    since = max(statement["stored"] for statement in _page(xapi, {"ascending": "true"})[0])
    with _slow_batch(xapi, slow):
        assert xapi.post_statements(fast).status_code == 200
        statements, more, _through = _page(xapi, {"ascending": "true", "since": since})
        assert statements == []
        assert more, "an empty page held back by a writer still says there is more to come"
        again, more_again, _through = _page(xapi, more)
        assert again == [] and more_again
    seen = _walk(xapi, more)
    assert _ids(seen) == _ids(slow + fast)


def test_a_descending_page_serves_the_newest_statements_without_waiting_for_a_slow_batch(
    xapi: XAPIClient,
):
    """Descending reads (the latest statements) are not held back: a poller reading descending
    takes the first page's Consistent-Through as its next ``since`` (README, "Behaviour worth knowing")."""
    slow, fast = _batch(), _batch()
    with _slow_batch(xapi, slow):
        assert xapi.post_statements(fast).status_code == 200
        response = xapi.get_statements()
        assert response.status_code == 200
        served = _ids(response.json()["statements"])
        through = parse_timestamp(response["X-Experience-API-Consistent-Through"], path="header")
    assert served == _ids(fast)
    stored = min(parse_timestamp(s["stored"], path="stored") for s in response.json()["statements"])
    assert through <= stored
