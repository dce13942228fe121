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

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from lrs.activities.models import Activity
from lrs.statements.models import Statement
from lrs.statements.store import statement_store, void_late_targets
from lrs.xapi.errors import XAPIConflict
from tests.conftest import make_statement
from tests.lrs.statements.races import Race, race

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("empty_statement_caches")]


def _stored_at_once(
    first: list[dict], second: list[dict], *, second_in_transaction: bool = False, then: list[dict] = ()
) -> Race:
    """Store ``first`` in a transaction held open until ``second``'s write waits on a lock (or
    has finished), then store ``then`` in that transaction and commit it. With
    ``second_in_transaction`` the second store runs inside a caller's transaction (its own
    becomes a savepoint)."""
    return race(
        lambda: statement_store(statements=first, credential=None),
        lambda: statement_store(statements=second, credential=None),
        second_in_transaction=second_in_transaction,
        then=(lambda: statement_store(statements=list(then), credential=None)) if then else None,
    )


def _batch(size: int) -> list[dict]:
    return [make_statement(statement_id=str(uuid.uuid4())) for _ in range(size)]


@pytest.mark.parametrize("second_in_transaction", [False, True])
@pytest.mark.parametrize("size", [1, 5, 20])
def test_the_same_batch_twice_at_once_is_stored_once_and_both_succeed(size, second_in_transaction):
    batch = _batch(size)
    raced = _stored_at_once(
        batch, [dict(statement) for statement in batch], second_in_transaction=second_in_transaction
    )
    ids = [statement["id"] for statement in batch]
    assert raced.first.value == ids
    assert raced.second.value == ids, f"the second request failed: {raced.second.error!r}"
    assert Statement.objects.filter(statement_id__in=ids).count() == size


@pytest.mark.parametrize("size", [1, 20])
def test_a_different_statement_with_an_id_being_stored_is_a_conflict(size):
    batch = _batch(size)
    changed = [dict(statement) for statement in batch]
    changed[-1] = {**changed[-1], "verb": {"id": "http://example.com/verbs/other"}}
    raced = _stored_at_once(batch, changed)
    assert raced.first.value == [statement["id"] for statement in batch]
    assert isinstance(raced.second.error, XAPIConflict), f"expected a conflict, got {raced.second!r}"
    assert Statement.objects.filter(statement_id__in=[s["id"] for s in batch]).count() == size


def test_the_single_statement_fast_path_meeting_an_id_being_stored_is_a_no_op():
    # The general path fills the id pool and the definition cache: the next single statements
    # about the same activity take the one-SQL path (lrs.statements.single).
    for _ in range(2):
        statement_store(statements=_batch(1), credential=None)
    [statement] = _batch(1)
    raced = _stored_at_once([statement], [dict(statement)])
    assert raced.first.value == raced.second.value == [statement["id"]]
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
    raced = _stored_at_once([first], [second])
    assert (raced.first.value, raced.second.value) == ([first["id"]], [second["id"]])
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
    # The holder goes on (stores y) as soon as the batch waits: well within deadlock_timeout (1 s).
    raced = _stored_at_once([x], [dict(y), dict(x)], then=[y])
    assert (raced.first.error, raced.second.error) == (None, None)
    assert (raced.first.value, raced.first.later, raced.second.value) == (
        [x["id"]],
        [y["id"]],
        [y["id"], x["id"]],
    )
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
    raced = _stored_at_once([target], [voiding])
    assert (raced.first.value, raced.second.value) == ([target["id"]], [voiding["id"]])
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
