"""Two requests storing at the same moment: whichever commits second finds the first's rows and
answers as if it had come later.

* The same statements (a client retrying a batch whose first attempt is still being written):
  Data 2.2 / Communication 2.1.1, a statement whose id is stored with the same content is a
  no-op; with different content, 409.
  https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#211-put-statements
* The same new activity, defined differently: both definitions are merged into the canonical one
  (Communication 2.5, 4.2).
* A statement and its voiding statement: each misses the other, and the next check voids it.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from lrs.activities.models import Activity
from lrs.statements.models import Statement
from lrs.statements.single import definition_cache, id_pool
from lrs.statements.store import statement_store, void_late_targets
from lrs.xapi.errors import XAPIConflict
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def empty_caches():
    for forget in (id_pool.forget, definition_cache.clear):
        forget()
    yield
    for forget in (id_pool.forget, definition_cache.clear):
        forget()


def _while_held(
    first: list[dict], second: list[dict], *, second_in_transaction: bool = False
) -> tuple[object, object]:
    """Store ``first`` in a transaction held open until ``second``'s write is waiting on it (or
    has finished), then commit it; return what each store call returned or raised. With
    ``second_in_transaction`` the second store runs inside a caller's transaction (its own
    becomes a savepoint)."""
    holding, release = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def holder() -> None:
        try:
            with transaction.atomic():
                outcomes["first"] = statement_store(statements=first, credential=None)
                holding.set()
                release.wait(10)
        except Exception as error:  # reported to the test
            outcomes["first"] = error
        finally:
            connection.close()

    def writer() -> None:
        try:
            with transaction.atomic() if second_in_transaction else contextlib.nullcontext():
                outcomes["second"] = statement_store(statements=second, credential=None)
        except Exception as error:  # reported to the test
            outcomes["second"] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=holder)]
    threads[0].start()
    try:
        assert holding.wait(10)
        threads.append(threading.Thread(target=writer))
        threads[1].start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "second" not in outcomes and not _someone_waits_on_a_lock():
            time.sleep(0.02)
    finally:
        release.set()
        for thread in threads:
            thread.join(10)
    return outcomes.get("first"), outcomes.get("second")


def _someone_waits_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
        return cursor.fetchone()[0] > 0


def _batch(size: int) -> list[dict]:
    return [make_statement(statement_id=str(uuid.uuid4())) for _ in range(size)]


@pytest.mark.parametrize("second_in_transaction", [False, True])
@pytest.mark.parametrize("size", [1, 5, 20])
def test_the_same_batch_twice_at_once_is_stored_once_and_both_succeed(size, second_in_transaction):
    batch = _batch(size)
    first, second = _while_held(
        batch, [dict(statement) for statement in batch], second_in_transaction=second_in_transaction
    )
    ids = [statement["id"] for statement in batch]
    assert first == ids
    assert second == ids, f"the second request failed: {second!r}"
    assert Statement.objects.filter(statement_id__in=ids).count() == size


@pytest.mark.parametrize("size", [1, 20])
def test_a_different_statement_with_an_id_being_stored_is_a_conflict(size):
    batch = _batch(size)
    changed = [dict(statement) for statement in batch]
    changed[-1] = {**changed[-1], "verb": {"id": "http://example.com/verbs/other"}}
    first, second = _while_held(batch, changed)
    assert first == [statement["id"] for statement in batch]
    assert isinstance(second, XAPIConflict), f"expected a conflict, got {second!r}"
    assert Statement.objects.filter(statement_id__in=[s["id"] for s in batch]).count() == size


def test_the_single_statement_fast_path_meeting_an_id_being_stored_is_a_no_op():
    # The general path fills the id pool and the definition cache: the next single statements
    # about the same activity take the one-SQL path (lrs.statements.single).
    for _ in range(2):
        statement_store(statements=_batch(1), credential=None)
    [statement] = _batch(1)
    first, second = _while_held([statement], [dict(statement)])
    assert first == second == [statement["id"]]
    assert Statement.objects.filter(statement_id=statement["id"]).count() == 1


def _defining(activity: str, definition: dict) -> dict:
    statement = make_statement(statement_id=str(uuid.uuid4()), activity=activity)
    statement["object"]["definition"] = definition
    return statement


def test_two_batches_defining_a_new_activity_at_once_both_reach_its_canonical_definition():
    # Communication 2.5 / 4.2: with the define scope, each statement's definition is merged into
    # the canonical one. The second batch to insert the new activity finds it taken meanwhile.
    activity = f"http://example.com/activities/{uuid.uuid4()}"
    first = _defining(activity, {"name": {"en-US": "Fire safety"}})
    second = _defining(
        activity, {"description": {"en-US": "Evacuation drills"}, "name": {"fr-FR": "Sécurité"}}
    )
    outcomes = _while_held([first], [second])
    assert outcomes == ([first["id"]], [second["id"]])
    assert Activity.objects.get(activity_id=activity).definition == {
        "name": {"en-US": "Fire safety", "fr-FR": "Sécurité"},
        "description": {"en-US": "Evacuation drills"},
    }


def test_two_batches_writing_the_same_ids_in_other_orders_both_succeed():
    # The holder stores x, the other batch [y, x] writes y and waits for x, then the holder stores
    # y and waits for it: a deadlock. PostgreSQL stops the one whose wait reaches
    # deadlock_timeout first, the batch; it is sent round again and, once the holder committed,
    # finds both statements stored (a no-op), as a client sending them one after the other would.
    x, y = _batch(2)
    holding, release = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def holder() -> None:
        try:
            with transaction.atomic():
                outcomes["x"] = statement_store(statements=[x], credential=None)
                holding.set()
                release.wait(10)
                outcomes["y"] = statement_store(statements=[y], credential=None)
        except Exception as error:  # reported to the test
            outcomes["holder"] = error
        finally:
            connection.close()

    def batch() -> None:
        try:
            outcomes["batch"] = statement_store(statements=[dict(y), dict(x)], credential=None)
        except Exception as error:  # reported to the test
            outcomes["batch"] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=holder), threading.Thread(target=batch)]
    threads[0].start()
    try:
        assert holding.wait(10)
        threads[1].start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not _someone_waits_on_a_lock():
            time.sleep(0.02)
    finally:
        release.set()  # well within deadlock_timeout (1 s) of the batch starting to wait
        for thread in threads:
            thread.join(20)
    assert outcomes == {"x": [x["id"]], "y": [y["id"]], "batch": [y["id"], x["id"]]}
    assert Statement.objects.filter(statement_id__in=[x["id"], y["id"]]).count() == 2


def test_a_statement_and_its_voiding_statement_stored_at_once_are_voided_by_the_next_check():
    # Each transaction looks for the other before it committed: the statement is left live (the
    # race no lock on the ingest path closes). void_late_targets, which the fan-out's sweep runs
    # for recent voiding statements, finds it and voids it; a second run finds nothing.
    [target] = _batch(1)
    voiding = make_statement(
        statement_id=str(uuid.uuid4()),
        verb="http://adlnet.gov/expapi/verbs/voided",
        object={"objectType": "StatementRef", "id": target["id"]},
    )
    first, second = _while_held([target], [voiding])
    assert (first, second) == ([target["id"]], [voiding["id"]])
    row = Statement.objects.get(statement_id=target["id"])
    assert not row.voided  # what the race leaves

    since = timezone.now() - timedelta(minutes=10)
    assert void_late_targets(stored_since=since) == [row.pk]
    assert Statement.objects.get(pk=row.pk).voided
    assert void_late_targets(stored_since=since) == []
    # A window that ends before the voiding statement was stored leaves it to the next check.
    Statement.objects.filter(pk=row.pk).update(voided=False)
    assert void_late_targets(stored_since=timezone.now() + timedelta(minutes=1)) == []
    assert void_late_targets(stored_since=None) == [row.pk]
