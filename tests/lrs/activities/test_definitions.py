"""Canonical activity definitions on the ingest path (lrs.activities.definitions.activity_definitions_update).

The statement store reads the batch's activities in its first query, without a lock; only a
definition that changes is locked and merged again. Communication 2.5 (Activities Resource):
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#25-activities-resource
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from lrs.activities.definitions import KnownActivities, activity_definitions_update
from lrs.activities.models import Activity
from lrs.statements.store import statement_store
from tests.conftest import make_statement

ACTIVITY = "http://example.com/courses/safety-101"


def activity_queries(captured: CaptureQueriesContext) -> list[str]:
    # The statement store's first query also reads lrs_activity (json_object_agg): not counted.
    return [
        query["sql"]
        for query in captured.captured_queries
        if "lrs_activity" in query["sql"] and "json_object_agg" not in query["sql"]
    ]


@pytest.mark.django_db
def test_a_known_activity_with_an_unchanged_definition_costs_no_query_and_no_lock():
    statement_store(statements=[make_statement()], credential=None)
    with CaptureQueriesContext(connection) as captured:
        statement_store(statements=[make_statement(), make_statement()], credential=None)
    assert activity_queries(captured) == []


@pytest.mark.django_db
def test_a_changed_definition_is_merged_under_a_lock_on_that_row_only():
    statement_store(
        statements=[make_statement(), make_statement(activity="http://example.com/other")], credential=None
    )
    changed = make_statement()
    changed["object"]["definition"] = {"name": {"fr-FR": "Sécurité 101"}}
    with CaptureQueriesContext(connection) as captured:
        statement_store(
            statements=[changed, make_statement(activity="http://example.com/other")], credential=None
        )
    [lock, update] = activity_queries(captured)
    assert "FOR UPDATE" in lock and ACTIVITY in lock and "http://example.com/other" not in lock
    assert update.startswith("UPDATE")
    assert Activity.objects.get(activity_id=ACTIVITY).definition["name"] == {
        "en-US": "Safety 101",
        "de-DE": "Sicherheit 101",
        "fr-FR": "Sécurité 101",
    }


@pytest.mark.django_db
def test_a_new_activity_is_recorded_even_without_a_definition():
    statement = make_statement(activity="http://example.com/bare")
    del statement["object"]["definition"]
    statement_store(statements=[statement], credential=None)
    assert Activity.objects.get(activity_id="http://example.com/bare").definition == {}


@pytest.mark.django_db
def test_ids_the_earlier_read_did_not_cover_are_read_here():
    Activity.objects.create(activity_id=ACTIVITY, definition={"name": {"en-US": "Old"}})
    known = KnownActivities(checked=frozenset(), definitions={})
    with transaction.atomic():
        activity_definitions_update([make_statement()], can_define=True, known=known)
    assert Activity.objects.count() == 1
    assert Activity.objects.get().definition["name"]["de-DE"] == "Sicherheit 101"


@pytest.mark.django_db
def test_a_stale_read_is_merged_again_under_the_lock():
    # The first read saw no French name; by the time the row is locked another writer added a
    # Italian one. The merge under the lock keeps both.
    Activity.objects.create(activity_id=ACTIVITY, definition={"name": {"en-US": "Safety 101"}})
    seen = {"name": {"en-US": "Safety 101"}}
    stale = KnownActivities(checked=frozenset([ACTIVITY]), definitions={ACTIVITY: seen})
    now = {"name": {"en-US": "Safety 101", "it-IT": "x"}}
    Activity.objects.filter(activity_id=ACTIVITY).update(definition=now)
    statement = make_statement()
    statement["object"]["definition"] = {"name": {"fr-FR": "Sécurité 101"}}
    with transaction.atomic():
        activity_definitions_update([statement], can_define=True, known=stale)
    names = Activity.objects.get().definition["name"]
    assert names == {"en-US": "Safety 101", "it-IT": "x", "fr-FR": "Sécurité 101"}


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_of_the_same_activities_do_not_wait_for_each_other():
    # Before, every batch locked all its activities until commit, so concurrent batches sharing a
    # course queued behind each other. Now a batch whose definitions are known takes no lock.
    statement_store(statements=[make_statement()], credential=None)
    holding = threading.Event()
    release = threading.Event()

    def hold_a_batch_open() -> None:
        try:
            with transaction.atomic():
                statement_store(statements=[make_statement()], credential=None)
                holding.set()
                release.wait(timeout=10)
        finally:
            connection.close()

    other = threading.Thread(target=hold_a_batch_open)
    other.start()
    try:
        assert holding.wait(timeout=10)
        # A lock wait would fail this batch after 2 s instead of passing after the other commits.
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            statement_store(statements=[make_statement()], credential=None)
    finally:
        release.set()
        other.join()
    assert Activity.objects.count() == 1
