"""Clients writing the same document at once (xAPI 1.0.3 Communication 2.2-2.7, 3.1 Concurrency).

3.1: "If the header precondition in either of the request cases above fails, the LRS SHALL return
HTTP status 412 Precondition Failed and make no modification to the resource." Two writes made on
the same ETag: one wins, the other's precondition no longer holds, so no update is lost. Two
writes creating a new document with ``If-None-Match: *``: one creates it, the other finds it.
A POST merges its JSON into the document stored when it runs: every client's properties survive.
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#31-concurrency
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from lrs.documents.selectors import DocumentKey, document_get
from lrs.documents.services import document_delete, document_put
from lrs.xapi.agents import agent_ifi
from lrs.xapi.documents import DocumentKind, Preconditions
from tests.conftest import XAPIClient
from tests.lrs.api.document_helpers import ACTIVITY_PROFILE, AGENT, AGENT_PROFILE, STATE, send
from tests.lrs.concurrency.threads import POSTGRESQL_ONLY, ROUNDS, at_once, client_like, statuses
from tests.lrs.statements.races import race

pytestmark = [pytest.mark.django_db(transaction=True), POSTGRESQL_ONLY]

WRITERS = 6

RESOURCES = pytest.mark.parametrize(
    "path, params",
    [
        (STATE, {"activityId": "http://example.com/activities/a", "agent": AGENT}),
        (
            STATE,
            {
                "activityId": "http://example.com/activities/a",
                "agent": AGENT,
                "registration": "6c2c4d6e-9d1c-4b0a-9d55-2f0a8f6f3a11",
            },
        ),
        (ACTIVITY_PROFILE, {"activityId": "http://example.com/activities/a"}),
        (AGENT_PROFILE, {"agent": AGENT}),
    ],
    ids=["state", "state with registration", "activity profile", "agent profile"],
)


def _id_param(path: str) -> str:
    return "stateId" if path == STATE else "profileId"


def _document(path: str, params: dict) -> dict:
    return {**params, _id_param(path): f"doc-{uuid.uuid4()}"}


def _writers(
    xapi: XAPIClient, method: str, path: str, document: dict, headers: dict
) -> list[Callable[[], Any]]:
    """WRITERS requests, each from a client of its own, the i-th sending ``{"writer<i>": i}``."""
    return [
        partial(send, client_like(xapi), method, path, document, {f"writer{i}": i}, headers=headers)
        for i in range(WRITERS)
    ]


@RESOURCES
@pytest.mark.parametrize("method", ["put", "post"])
def test_writes_made_on_the_same_etag_at_once_one_wins_and_the_others_get_412(
    xapi: XAPIClient, path: str, params: dict, method: str
):
    for _ in range(ROUNDS):
        document = _document(path, params)
        assert send(xapi, "put", path, document, {"v": 0}, headers={"If-None-Match": "*"}).status_code == 204
        etag = send(xapi, "get", path, document)["ETag"]
        codes = statuses(at_once(_writers(xapi, method, path, document, {"If-Match": etag})))
        assert sorted(codes) == [204] + [412] * (WRITERS - 1), codes
        winner = codes.index(204)
        stored = send(xapi, "get", path, document).json()
        # The loser's precondition failed: nothing of it is stored (3.1 "make no modification").
        assert stored == ({"v": 0} if method == "post" else {}) | {f"writer{winner}": winner}


@RESOURCES
def test_creating_a_new_document_with_if_none_match_star_at_once_creates_it_once(
    xapi: XAPIClient, path: str, params: dict
):
    for _ in range(ROUNDS):
        document = _document(path, params)
        codes = statuses(at_once(_writers(xapi, "put", path, document, {"If-None-Match": "*"})))
        # The losers find the winner's row once it committed (behind the context lock, or by the
        # unique constraint without it): a 412 each, never a 5xx.
        assert sorted(codes) == [204] + [412] * (WRITERS - 1), codes
        winner = codes.index(204)
        assert send(xapi, "get", path, document).json() == {f"writer{winner}": winner}


@RESOURCES
@pytest.mark.parametrize("exists", [False, True], ids=["new document", "stored document"])
def test_json_posted_at_once_by_many_clients_is_all_merged(
    xapi: XAPIClient, path: str, params: dict, exists: bool
):
    # Communication 2.2 POST: the posted object's properties are merged into the stored one.
    for _ in range(ROUNDS):
        document = _document(path, params)
        if exists:
            assert send(xapi, "post", path, document, {"stored": True}).status_code == 204
        assert statuses(at_once(_writers(xapi, "post", path, document, {}))) == [204] * WRITERS
        expected = {f"writer{i}": i for i in range(WRITERS)} | ({"stored": True} if exists else {})
        assert send(xapi, "get", path, document).json() == expected


def _state_key(document_id: str) -> DocumentKey:
    return DocumentKey(
        kind=DocumentKind.STATE,
        activity_id="http://example.com/activities/a",
        agent_ifi=agent_ifi(AGENT) or "",
        document_id=document_id,
    )


def _put(key: DocumentKey, body: dict, preconditions: Preconditions) -> None:
    document_put(
        key=key,
        content=json.dumps(body).encode(),
        content_type="application/json",
        preconditions=preconditions,
        version="1.0.3",
    )


NEW_ONLY = Preconditions.from_headers(None, "*")


def test_a_put_if_none_match_waiting_on_a_delete_creates_the_document_once_the_delete_commits():
    # The PUT locks the row the DELETE is removing; when the DELETE commits the row is gone, so
    # "If-None-Match: *" holds and the PUT creates the document anew (3.1), without a 5xx.
    key = _state_key("doc")
    _put(key, {"old": True}, NEW_ONLY)
    raced = race(
        lambda: document_delete(key=key, preconditions=Preconditions.from_headers(None, None)),
        lambda: _put(key, {"new": True}, NEW_ONLY),
        lock_query="SELECT",
    )
    assert raced.waited
    assert (raced.first.error, raced.second.error) == (None, None)
    assert raced.first.value is True
    stored = document_get(key)
    assert stored is not None and json.loads(bytes(stored.content)) == {"new": True}


def test_a_delete_meeting_a_put_creating_the_document_leaves_what_the_put_stored():
    # The DELETE finds no committed row (the PUT has not committed): it deletes nothing and comes
    # first in the order of events, so the document the PUT then commits stays.
    key = _state_key("doc")
    raced = race(
        lambda: _put(key, {"new": True}, NEW_ONLY),
        lambda: document_delete(key=key, preconditions=Preconditions.from_headers(None, None)),
    )
    assert (raced.first.error, raced.second.error, raced.second.value) == (None, None, False)
    stored = document_get(key)
    assert stored is not None and json.loads(bytes(stored.content)) == {"new": True}


def test_a_put_on_an_etag_waiting_on_a_delete_gets_412_once_the_document_is_gone():
    # If-Match names the deleted document's ETag: once the DELETE commits there is no document
    # with it, so the PUT must fail (3.1) rather than recreate what the other client deleted.
    key = _state_key("doc")
    _put(key, {"old": True}, NEW_ONLY)
    stored = document_get(key)
    assert stored is not None
    raced = race(
        lambda: document_delete(key=key, preconditions=Preconditions.from_headers(None, None)),
        lambda: _put(key, {"new": True}, Preconditions.from_headers(stored.etag, None)),
        lock_query="SELECT",
    )
    assert raced.waited
    assert type(raced.second.error).__name__ == "XAPIPreconditionFailed", raced.second
    assert document_get(key) is None


@RESOURCES
@pytest.mark.parametrize("method", ["put", "post"])
def test_a_delete_and_a_write_made_on_the_same_etag_at_once_one_wins_and_the_other_gets_412(
    xapi: XAPIClient, path: str, params: dict, method: str
):
    # 3.1: whichever runs second finds the ETag it names gone (deleted, or changed by the write).
    for _ in range(ROUNDS):
        document = _document(path, params)
        assert send(xapi, "put", path, document, {"v": 0}, headers={"If-None-Match": "*"}).status_code == 204
        match = {"If-Match": send(xapi, "get", path, document)["ETag"]}
        delete = partial(send, client_like(xapi), "delete", path, document, headers=match)
        write = partial(send, client_like(xapi), method, path, document, {"w": 1}, headers=match)
        deleted, written = statuses(at_once([delete, write]))
        assert sorted([deleted, written]) == [204, 412], (deleted, written)
        served = send(xapi, "get", path, document)
        if deleted == 204:
            assert served.status_code == 404
        else:
            assert served.json() == ({"v": 0, "w": 1} if method == "post" else {"w": 1})
