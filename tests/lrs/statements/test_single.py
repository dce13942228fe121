"""lrs.statements.single: one new statement stored with one SQL statement, and every way back to the
general path (which must then store it exactly as before).

The fast path needs a primary key from the pool and every activity's canonical definition in the
cache; the general path's prelude fills both, so each test first stores statements about the
same activity the general way.
"""

from __future__ import annotations

import json
import threading
import time
import uuid

import psycopg
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from adapters.delivery import outbox
from adapters.models import OutboxBatch
from adapters.targets import enabled
from lrs.activities.models import Activity
from lrs.statements.models import Statement, StatementActivity, StatementAgent
from lrs.statements.selectors import consistent_through, statements_by_pk
from lrs.statements.single import id_pool
from lrs.statements.store import statement_store
from lrs.xapi.errors import XAPIConflict
from lrs.xapi.timestamps import format_timestamp
from tests.conftest import make_statement

ACTIVITY = "http://example.com/courses/safety-101"


@pytest.fixture(autouse=True)
def empty_caches(settings, empty_statement_caches):
    # As in production: the enabled targets are cached too (tests read them on every batch).
    settings.LRS_TARGETS_CACHE_SECONDS = 60
    enabled.forget_targets()
    yield
    enabled.forget_targets()


def store(statement: dict) -> str:
    [statement_id] = statement_store(statements=[statement], credential=None)
    return statement_id


def warm_up() -> None:
    """The first statement creates the activity; the second reads it (and fills the id pool)."""
    store(make_statement())
    store(make_statement())


def sql_of(action) -> list[str]:
    """The SQL ``action`` ran, less the savepoints around it: inside a caller's transaction (each
    ``django_db`` test runs in one) the single-statement write takes a savepoint."""
    with CaptureQueriesContext(connection) as captured:
        action()
    queries = [query["sql"] for query in captured.captured_queries]
    return [sql for sql in queries if not sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]


def fast_attempts(queries: list[str]) -> int:
    return sum(1 for sql in queries if sql.startswith("WITH x AS MATERIALIZED"))


@pytest.mark.django_db
def test_a_statement_about_known_activities_is_stored_with_one_sql_statement():
    warm_up()
    statement = make_statement(statement_id=str(uuid.uuid4()))
    queries = sql_of(lambda: store(statement))
    assert len(queries) == 1 and queries[0].startswith("WITH x AS MATERIALIZED")
    row = Statement.objects.get(statement_id=statement["id"])
    payload = json.loads(row.payload)
    # stored comes from the database clock, written into the statement by the same SQL.
    assert payload["stored"] == format_timestamp(row.stored)
    assert payload["timestamp"] == payload["stored"] and row.timestamp == row.stored
    assert payload["id"] == statement["id"] and payload["version"] == "1.0.0"
    agents = StatementAgent.objects.filter(statement_id=row.id)
    activities = StatementActivity.objects.filter(statement_id=row.id)
    assert [(a.agent_ifi, a.direct) for a in agents] == [("mbox::mailto:learner@example.com", True)]
    assert [(a.activity_id, a.direct) for a in activities] == [(ACTIVITY, True)]
    assert {a.stored for a in [*agents, *activities]} == {row.stored}
    [served] = statements_by_pk([row.id])
    assert served["stored"] == payload["stored"] and served["object"]["id"] == ACTIVITY


@pytest.mark.django_db
def test_a_timestamp_sent_is_kept_and_stored_still_comes_from_the_database():
    warm_up()
    statement_id = store(make_statement(timestamp="2026-01-02T03:04:05.678+01:00"))
    row = Statement.objects.get(statement_id=statement_id)
    assert json.loads(row.payload)["timestamp"] == "2026-01-02T02:04:05.678000Z"
    assert format_timestamp(row.timestamp) == "2026-01-02T02:04:05.678000Z"
    assert json.loads(row.payload)["stored"] == format_timestamp(row.stored)


@pytest.mark.django_db
def test_a_definition_holding_an_integer_beyond_64_bits_is_checked_and_stored():
    # Valid JSON (an extension value); orjson alone cannot write it.
    def with_big_extension() -> dict:
        statement = make_statement()
        statement["object"]["definition"]["extensions"] = {"http://example.com/ext/big": 2**70}
        return statement

    store(with_big_extension())
    store(with_big_extension())
    queries = sql_of(lambda: store(with_big_extension()))
    assert len(queries) == 1 and fast_attempts(queries) == 1
    definition = Activity.objects.get(activity_id=ACTIVITY).definition
    assert definition["extensions"] == {"http://example.com/ext/big": 2**70}


@pytest.mark.django_db
def test_the_same_statement_again_is_a_no_op_and_a_different_one_with_its_id_a_conflict():
    warm_up()
    statement = make_statement(statement_id=str(uuid.uuid4()))
    store(statement)
    stored_payload = Statement.objects.get(statement_id=statement["id"]).payload
    assert store(dict(statement)) == statement["id"]
    with pytest.raises(XAPIConflict):
        store({**statement, "verb": {"id": "http://adlnet.gov/expapi/verbs/failed"}})
    assert Statement.objects.filter(statement_id=statement["id"]).count() == 1
    assert Statement.objects.get(statement_id=statement["id"]).payload == stored_payload


@pytest.mark.django_db
def test_a_definition_changed_elsewhere_since_it_was_cached_is_merged_the_general_way():
    warm_up()
    # Another process merges a French name in; this process still caches the old definition.
    Activity.objects.filter(activity_id=ACTIVITY).update(definition={"name": {"fr-FR": "Sécurité 101"}})
    queries = sql_of(lambda: store(make_statement()))
    assert fast_attempts(queries) == 1 and len(queries) > 1  # it wrote nothing: the general path
    assert Activity.objects.get(activity_id=ACTIVITY).definition == {
        "name": {"fr-FR": "Sécurité 101", "en-US": "Safety 101", "de-DE": "Sicherheit 101"}
    }
    assert Statement.objects.count() == 3
    # The merged definition is what the cache holds now.
    assert len(sql_of(lambda: store(make_statement()))) == 1


@pytest.mark.django_db
def test_a_statement_that_would_change_a_definition_goes_the_general_way():
    warm_up()
    statement = make_statement()
    statement["object"]["definition"]["description"] = {"en-US": "How to stay safe"}
    assert len(sql_of(lambda: store(statement))) > 1
    definition = Activity.objects.get(activity_id=ACTIVITY).definition
    assert definition["description"] == {"en-US": "How to stay safe"}


@pytest.mark.django_db
def test_an_activity_never_seen_goes_the_general_way_and_is_recorded():
    warm_up()
    queries = sql_of(lambda: store(make_statement(activity="http://example.com/courses/new-one")))
    assert len(queries) > 1
    assert Activity.objects.filter(activity_id="http://example.com/courses/new-one").exists()


@pytest.mark.django_db
def test_a_primary_key_already_used_writes_nothing_and_the_general_path_stores_the_statement():
    warm_up()
    taken = Statement.objects.order_by("id").first()
    id_pool.forget()
    id_pool.add([taken.id])  # e.g. the sequence was reset under a running process
    statement_id = store(make_statement())
    row = Statement.objects.get(statement_id=statement_id)
    assert row.id != taken.id
    assert Statement.objects.get(id=taken.id).payload == taken.payload
    assert StatementActivity.objects.filter(statement_id=taken.id).count() == 1


@pytest.mark.django_db
def test_a_voiding_statement_goes_the_general_way_and_voids():
    warm_up()
    target_id = store(make_statement())
    voiding = make_statement(
        verb="http://adlnet.gov/expapi/verbs/voided", object={"objectType": "StatementRef", "id": target_id}
    )
    assert len(sql_of(lambda: store(voiding))) > 1
    assert Statement.objects.get(statement_id=target_id).voided


@pytest.mark.django_db
def test_the_outbox_batch_is_written_by_the_same_sql_and_handed_over_only_after_commit(
    hook_target, django_capture_on_commit_callbacks
):
    warm_up()
    OutboxBatch.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        queries = sql_of(lambda: store(make_statement()))
    assert len(queries) == 1 and "adapters_outboxbatch" in queries[0]
    batch = OutboxBatch.objects.get()
    assert batch.statement_pks == [batch.id] and batch.last_statement_pk == batch.id
    assert Statement.objects.filter(id=batch.id).exists()
    assert len(callbacks) == 1  # the dispatch, registered after the write, runs on commit


@pytest.mark.django_db(transaction=True)
def test_consistent_through_stays_before_the_stored_time_of_a_single_statement_being_written():
    warm_up()
    statement = make_statement(statement_id=str(uuid.uuid4()))
    holding = threading.Event()
    release = threading.Event()
    written: list[str] = []

    def holder() -> None:
        # Holds the statement's id uncommitted: the fast write waits on it inside its SQL statement.
        try:
            with transaction.atomic():
                store(statement)
                holding.set()
                release.wait(10)
                transaction.set_rollback(True)
        finally:
            connection.close()

    def writer() -> None:
        try:
            written.append(store(statement))
        finally:
            connection.close()

    threads = [threading.Thread(target=holder)]
    threads[0].start()
    try:
        assert holding.wait(10)
        threads.append(threading.Thread(target=writer))
        threads[1].start()
        deadline = time.monotonic() + 10
        waiting = None
        with connection.cursor() as cursor:
            while waiting is None and time.monotonic() < deadline:
                cursor.execute(
                    "SELECT backend_xid IS NOT NULL, xact_start FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock' "
                    "AND query LIKE 'WITH x AS MATERIALIZED%%'"
                )
                waiting = cursor.fetchone()
                time.sleep(0.02)
        assert waiting is not None, "the single-statement write never waited for the held id"
        through = consistent_through()
    finally:
        release.set()
        for thread in threads:
            thread.join(10)
    assert written == [statement["id"]]
    stored = Statement.objects.get(statement_id=statement["id"]).stored
    # Mid-statement the writer already held a transaction id, so consistent_through counted it as
    # a writer that started no later than its stored time (the holder alone would also keep
    # `through` low, hence the checks on the writer's own backend).
    has_transaction_id, writer_started = waiting
    assert has_transaction_id and writer_started <= stored
    assert through <= stored


def _visible_elsewhere(batch_id: int) -> bool:
    """Whether another connection sees the outbox batch (i.e. it is committed)."""
    settings = connection.settings_dict
    with psycopg.connect(dbname=settings["NAME"], host=settings["HOST"], port=settings["PORT"] or 5432,
                         user=settings["USER"], autocommit=True) as other:  # fmt: skip
        found = other.execute("SELECT 1 FROM adapters_outboxbatch WHERE id = %s", [batch_id]).fetchone()
    return found is not None


@pytest.fixture
def handed_over(monkeypatch, hook_target) -> list[tuple[list[int], bool]]:
    """The batch ids handed to a worker (no broker in tests: in-process), each with whether the
    batch was committed at that moment."""
    calls: list[tuple[list[int], bool]] = []

    def record(batch_ids: list[int]) -> None:
        calls.append((list(batch_ids), all(_visible_elsewhere(batch_id) for batch_id in batch_ids)))

    monkeypatch.setattr(outbox, "expand_and_queue", record)
    return calls


@pytest.mark.django_db(transaction=True)
def test_without_a_transaction_the_batch_is_handed_over_once_after_its_commit(handed_over):
    warm_up()
    handed_over.clear()
    queries = sql_of(lambda: store(make_statement()))
    assert len(queries) == 1
    [(batch_ids, committed)] = handed_over
    assert committed and batch_ids == [OutboxBatch.objects.latest("created_at").id]


@pytest.mark.django_db(transaction=True)
def test_a_fast_attempt_that_falls_back_hands_over_only_the_batch_written(handed_over):
    warm_up()
    handed_over.clear()
    OutboxBatch.objects.all().delete()
    Activity.objects.filter(activity_id=ACTIVITY).update(definition={"name": {"fr-FR": "Sécurité 101"}})
    statement_id = store(make_statement())
    pk = Statement.objects.get(statement_id=statement_id).id
    assert handed_over == [([pk], True)]
    assert list(OutboxBatch.objects.values_list("id", flat=True)) == [pk]
