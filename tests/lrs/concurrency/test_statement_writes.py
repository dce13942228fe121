"""Clients storing statements at once over HTTP, each request in its own thread and transaction.

Communication 2.1.1/2.1.2: a statement whose id is stored with the same content is a no-op; with
different content the request is refused (409) and nothing of its batch is stored. Communication
2.5 / 4.2: with the define scope, each statement's activity definition is merged into the
canonical one, so definitions sent at once by several clients all end in it.
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#212-post-statements
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from lrs.activities.models import Activity
from lrs.attachment_store import AttachmentContent
from lrs.statements.models import Statement
from tests.conftest import XAPIClient, make_statement
from tests.lrs.api.test_statements_attachments import attachment_meta, multipart, post_multipart
from tests.lrs.concurrency.threads import POSTGRESQL_ONLY, ROUNDS, at_once, client_like, statuses

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("empty_statement_caches"),
    POSTGRESQL_ONLY,
]

WRITERS = 5


def _new(**extra: Any) -> dict:
    return make_statement(statement_id=str(uuid.uuid4()), **extra)


def _post(xapi: XAPIClient, body: Any) -> Callable[[], Any]:
    return partial(client_like(xapi).post_statements, body)


def _put(xapi: XAPIClient, statement: dict) -> Callable[[], Any]:
    return partial(
        client_like(xapi).put_json, "/xapi/statements", statement, query=f"?statementId={statement['id']}"
    )


def _stored(ids: list[str]) -> set[str]:
    return {
        str(i) for i in Statement.objects.filter(statement_id__in=ids).values_list("statement_id", flat=True)
    }


def _warm_single_path(xapi: XAPIClient) -> None:
    # Two statements by the general path fill the key pool and the definition cache: the next
    # single statement about the same activity takes the one-SQL path (lrs.statements.single).
    for _ in range(2):
        assert xapi.post_statements(_new()).status_code == 200


@pytest.mark.parametrize("single_path", [False, True], ids=["general path", "one-SQL path"])
def test_one_id_sent_with_different_content_by_many_clients_at_once_is_stored_once(
    xapi: XAPIClient, single_path: bool
):
    if single_path:
        _warm_single_path(xapi)
    for _ in range(ROUNDS):
        statement_id = str(uuid.uuid4())
        versions = [
            make_statement(statement_id=statement_id, verb=f"http://example.com/verbs/v{i}")
            for i in range(WRITERS)
        ]
        codes = statuses(at_once([_post(xapi, version) for version in versions]))
        assert sorted(codes) == [200] + [409] * (WRITERS - 1), codes
        winner = versions[codes.index(200)]
        served = xapi.get_statements(statementId=statement_id).json()
        assert served["verb"]["id"] == winner["verb"]["id"]


def test_batches_sharing_an_id_with_different_content_store_one_batch_and_nothing_of_the_others(
    xapi: XAPIClient,
):
    for _ in range(ROUNDS):
        shared_id = str(uuid.uuid4())
        batches = [
            [_new(), make_statement(statement_id=shared_id, verb=f"http://example.com/verbs/v{i}"), _new()]
            for i in range(WRITERS)
        ]
        codes = statuses(at_once([_post(xapi, batch) for batch in batches]))
        assert sorted(codes) == [200] + [409] * (WRITERS - 1), codes
        for batch, code in zip(batches, codes, strict=True):
            ids = [statement["id"] for statement in batch]
            # 2.1.2: a refused batch stores none of its statements, the new ones included.
            assert _stored(ids) == (set(ids) if code == 200 else {shared_id}), code


@pytest.mark.parametrize("same_content", [True, False], ids=["same content", "other content"])
def test_a_put_and_a_post_of_one_id_at_once(xapi: XAPIClient, same_content: bool):
    for _ in range(ROUNDS):
        put = _new()
        posted = dict(put) if same_content else {**put, "verb": {"id": "http://example.com/verbs/other"}}
        put_response, post_response = at_once([_put(xapi, put), _post(xapi, posted)])
        codes = statuses([put_response, post_response])
        if same_content:
            assert codes == [204, 200]
            assert post_response.json() == [put["id"]]
        else:
            assert sorted(codes) in ([200, 409], [204, 409]) and codes != [204, 200], codes
            winner = put if codes[0] == 204 else posted
            assert xapi.get_statements(statementId=put["id"]).json()["verb"]["id"] == winner["verb"]["id"]
        assert Statement.objects.filter(statement_id=put["id"]).count() == 1


def _defining(activity: str, language: str) -> dict:
    statement = _new(activity=activity)
    statement["object"]["definition"] = {"name": {language: f"name in {language}"}}
    return statement


def test_definitions_sent_at_once_by_many_clients_all_reach_the_canonical_definition(xapi: XAPIClient):
    languages = [f"x-l{i}" for i in range(WRITERS)]
    for _ in range(ROUNDS):
        activities = [f"http://example.com/activities/{uuid.uuid4()}" for _ in range(3)]
        # Stored already with a definition: every batch merges into it under the row lock.
        assert xapi.post_statements([_defining(activities[0], "en-US")]).status_code == 200
        # Each client's batch names the activities in another order: locks in id order, no deadlock.
        batches = [
            [_defining(activity, language) for activity in activities[i % 3 :] + activities[: i % 3]]
            for i, language in enumerate(languages)
        ]
        codes = statuses(at_once([_post(xapi, batch) for batch in batches]))
        assert codes == [200] * WRITERS
        for activity in activities:
            names = Activity.objects.get(activity_id=activity).definition["name"]
            expected = set(languages) | ({"en-US"} if activity == activities[0] else set())
            assert set(names) == expected, (activity, names)


def test_one_new_attachment_sent_at_once_by_many_clients_is_kept_once_and_served_to_each(xapi: XAPIClient):
    # Communication 1.5.2: each statement's attachment is served back with it; the bytes are kept
    # once per hash (lrs.attachment_store), whoever inserts them first.
    for _ in range(ROUNDS):
        data = uuid.uuid4().bytes * 64
        statements = [_new(attachments=[attachment_meta(data)]) for _ in range(WRITERS)]
        calls = [
            partial(post_multipart, client_like(xapi), multipart(s, [(data, "application/pdf")]))
            for s in statements
        ]
        assert statuses(at_once(calls)) == [200] * WRITERS
        assert AttachmentContent.objects.filter(sha2=hashlib.sha256(data).hexdigest()).count() == 1
        for statement in statements:
            response = xapi.get_statements(statementId=statement["id"], attachments="true")
            assert response.status_code == 200 and data in response.content


def test_a_batch_of_a_target_and_its_voiding_statement_sent_by_two_clients_at_once_is_stored_once(
    xapi: XAPIClient,
):
    # A client retrying while its first attempt is still being written: the same content, a no-op
    # (2.1.2); the target is voided whichever request wrote it (Data 2.3.2).
    for _ in range(ROUNDS):
        target = _new()
        voiding = _new(
            verb="http://adlnet.gov/expapi/verbs/voided",
            object={"objectType": "StatementRef", "id": target["id"]},
        )
        codes = statuses(
            at_once([_post(xapi, [target, voiding]), _post(xapi, [dict(target), dict(voiding)])])
        )
        assert codes == [200, 200]
        assert xapi.get_statements(statementId=target["id"]).status_code == 404
        assert xapi.get_statements(voidedStatementId=target["id"]).status_code == 200
        assert _stored([target["id"], voiding["id"]]) == {target["id"], voiding["id"]}


def test_two_voiding_statements_of_one_target_sent_at_once_both_stored_and_the_target_voided(
    xapi: XAPIClient,
):
    for _ in range(ROUNDS):
        target = _new()
        assert xapi.post_statements(target).status_code == 200
        voidings = [
            _new(
                verb="http://adlnet.gov/expapi/verbs/voided",
                object={"objectType": "StatementRef", "id": target["id"]},
            )
            for _ in range(WRITERS)
        ]
        assert statuses(at_once([_post(xapi, voiding) for voiding in voidings])) == [200] * WRITERS
        assert xapi.get_statements(voidedStatementId=target["id"]).status_code == 200
        for voiding in voidings:
            assert xapi.get_statements(statementId=voiding["id"]).status_code == 200


@pytest.mark.parametrize("size", [6, 60], ids=["small batches (json)", "large batches (copy)"])
def test_overlapping_batches_in_other_orders_from_many_clients_are_all_stored_once(
    xapi: XAPIClient, size: int
):
    # Clients re-sending what others are sending (the same statements, in their own order, with
    # new ones between): 2.1.2 makes every repeat a no-op, so each request succeeds. Rows go in
    # batch order: orders that cross end in deadlocks PostgreSQL breaks, and the loser is retried.
    for _ in range(ROUNDS):
        shared = [_new() for _ in range(size // 2)]
        batches = []
        for i in range(WRITERS):
            order = shared[i % len(shared) :] + shared[: i % len(shared)]
            if i % 2:
                order.reverse()
            own = [_new() for _ in range(size - len(shared))]
            batches.append([statement for pair in zip(order, own, strict=True) for statement in pair])
        responses = at_once([_post(xapi, [dict(s) for s in batch]) for batch in batches])
        assert statuses(responses) == [200] * WRITERS, [r.content[:200] for r in responses]
        ids = {statement["id"] for batch in batches for statement in batch}
        assert Statement.objects.filter(statement_id__in=ids).count() == len(ids)
