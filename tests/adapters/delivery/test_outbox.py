"""The outbox batch: written with the statements, expanded into deliveries after commit.

Voiding must find every delivery it has to cancel or retract even while a batch is still
unexpanded, or is being expanded by a worker at that very moment (adapters/delivery/outbox.py).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import timedelta

import pytest
import responses
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from adapters.delivery import outbox, queue, sweep, tasks
from adapters.delivery.outbox import outbox_expand
from adapters.models import Delivery, OutboxBatch, Target
from lrs.statements.models import Statement
from lrs.statements.store import statement_store
from tests.adapters.helpers import wait_until
from tests.conftest import HOOK, make_statement

VOIDED = "http://adlnet.gov/expapi/verbs/voided"


def voiding(statement_id: str) -> dict:
    return make_statement(verb=VOIDED, object={"objectType": "StatementRef", "id": statement_id})


def delivered_statement_ids() -> list[str]:
    return sorted(json.loads(call.request.body)["statement"]["id"] for call in responses.calls)


@pytest.mark.django_db
@responses.activate
def test_voiding_a_statement_of_an_unexpanded_batch_cancels_it_and_sends_the_others(
    target, django_capture_on_commit_callbacks
):
    responses.post(HOOK, status=200)
    # Stored, but no worker has taken the batch yet (its after-commit hook never ran).
    first, second, third = statement_store(statements=[make_statement() for _ in range(3)], credential=None)
    assert Delivery.objects.count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        statement_store(statements=[voiding(second)], credential=None)
    assert not OutboxBatch.objects.exists()
    statuses = {str(row.statement_uuid): row.status for row in Delivery.objects.all()}
    assert statuses == {first: Delivery.DELIVERED, second: Delivery.CANCELLED, third: Delivery.DELIVERED}
    assert delivered_statement_ids() == sorted([first, third])


@pytest.mark.django_db
@responses.activate
def test_a_statement_voided_in_its_own_batch_is_never_sent(target, django_capture_on_commit_callbacks):
    responses.post(HOOK, status=200)
    kept = make_statement()
    doomed = make_statement()
    doomed["id"] = "8f7a39c1-5f1e-4a51-9d0c-0a1c5d4e9b11"
    with django_capture_on_commit_callbacks(execute=True):
        statement_store(statements=[kept, doomed, voiding(doomed["id"])], credential=None)
    assert Delivery.objects.get(statement_uuid=doomed["id"]).status == Delivery.CANCELLED
    assert len(responses.calls) == 1 and doomed["id"] not in delivered_statement_ids()


@pytest.mark.django_db
@responses.activate
@pytest.mark.parametrize("batched", [False, True])
def test_a_statement_arriving_after_its_voiding_statement_is_never_sent(
    target, django_capture_on_commit_callbacks, batched
):
    # Data 2.3.2: it is voided whichever came first, so it has no effect to deliver.
    responses.post(HOOK, status=200)
    late = make_statement(statement_id="2b7e9c4d-1f3a-4e5b-8c6d-7e8f9a0b1c2d")
    with django_capture_on_commit_callbacks(execute=True):
        statement_store(statements=[voiding(late["id"])], credential=None)
        batch = [late, make_statement()] if batched else [late]
        kept = statement_store(statements=batch, credential=None)[1:]
    assert Delivery.objects.get(statement_uuid=late["id"]).status == Delivery.CANCELLED
    assert late["id"] not in delivered_statement_ids()
    assert delivered_statement_ids() == sorted(kept)  # voiding statements are not this target's


@pytest.mark.django_db
@responses.activate
def test_the_sweep_expands_a_batch_no_worker_took(target):
    responses.post(HOOK, status=200)
    [statement_id] = statement_store(statements=[make_statement()], credential=None)
    OutboxBatch.objects.update(dispatched_at=None)  # the broker refused the dispatch message
    assert sweep.sweep_due() == 1
    assert Delivery.objects.get().status == Delivery.DELIVERED
    assert delivered_statement_ids() == [statement_id]
    assert sweep.sweep_due() == 0


@pytest.mark.django_db
def test_metrics_show_the_batches_waiting_for_a_worker(client, target):
    statement_store(statements=[make_statement(), make_statement()], credential=None)
    statement_store(statements=[make_statement()], credential=None)
    text = client.get("/metrics").content.decode()
    assert "lrs_outbox_batches 2.0\n" in text
    [age] = [line for line in text.splitlines() if line.startswith("lrs_outbox_oldest_batch_age_seconds ")]
    assert float(age.split()[1]) >= 0


@pytest.mark.django_db
def test_the_admin_lists_waiting_batches_and_expands_them_on_request(admin_client, target, monkeypatch):
    statement_store(statements=[make_statement(), make_statement()], credential=None)
    [batch] = OutboxBatch.objects.all()
    page = admin_client.get("/admin/adapters/outboxbatch/").content.decode()
    assert str(batch.id) in page
    sent: list[int] = []
    monkeypatch.setattr(queue, "drain_now", lambda ids, **kwargs: sent.extend(ids))
    admin_client.post(
        "/admin/adapters/outboxbatch/", {"action": "expand_now", "_selected_action": [batch.id]}
    )
    assert not OutboxBatch.objects.exists()
    assert sorted(sent) == sorted(Delivery.objects.values_list("id", flat=True)) and len(sent) == 2


def _in_thread(work) -> threading.Thread:
    def run() -> None:
        try:
            work()
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_voiding_waits_for_a_worker_expanding_the_batch_then_cancels(target, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("row locks: SQLite runs one writer at a time anyway")
    monkeypatch.setattr(outbox, "after_ingest_commit", lambda batch_ids: None)  # no worker yet
    [statement_id] = statement_store(statements=[make_statement()], credential=None)
    [batch_id] = OutboxBatch.objects.values_list("id", flat=True)
    claim = outbox._claim
    voiding_claimed: list[int] = []

    def recording_claim(batch_ids: list[int], *, skip_locked: bool) -> list:
        claimed = claim(batch_ids, skip_locked=skip_locked)
        if not skip_locked:  # voiding's claim
            voiding_claimed.extend(batch.id for batch in claimed)
        return claimed

    monkeypatch.setattr(outbox, "_claim", recording_claim)
    locked, release = threading.Event(), threading.Event()

    def worker_expanding() -> None:  # what outbox_expand does, with a pause in the middle
        with transaction.atomic():
            batches = outbox._claim([batch_id], skip_locked=True)
            locked.set()
            release.wait(10)  # the worker is slow: voiding arrives meanwhile
            outbox._expand(batches)

    worker = _in_thread(worker_expanding)
    assert locked.wait(10)
    voided = _in_thread(lambda: statement_store(statements=[voiding(statement_id)], credential=None))
    time.sleep(0.5)
    assert voided.is_alive(), "voiding must wait for the batch being expanded"
    release.set()
    worker.join(10)
    voided.join(10)
    assert not voided.is_alive()
    # The worker's rows were there when voiding went on, and the batch was gone.
    assert voiding_claimed == []
    assert Delivery.objects.get(kind="deliver").status == Delivery.CANCELLED


@pytest.mark.django_db(transaction=True)
def test_a_worker_skips_a_batch_that_voiding_is_expanding(target, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("row locks: SQLite runs one writer at a time anyway")
    monkeypatch.setattr(outbox, "after_ingest_commit", lambda batch_ids: None)
    statement_store(statements=[make_statement()], credential=None)
    locked, release = threading.Event(), threading.Event()

    def voiding_holds_the_batch() -> None:
        with transaction.atomic():
            list(OutboxBatch.objects.select_for_update())
            locked.set()
            release.wait(10)

    holder = _in_thread(voiding_holds_the_batch)
    assert locked.wait(10)
    started = time.monotonic()
    assert outbox_expand(OutboxBatch.objects.values_list("id", flat=True)) == []
    assert time.monotonic() - started < 2, "a worker must not wait (it could deadlock with voiding)"
    release.set()
    holder.join(10)
    wait_until(lambda: OutboxBatch.objects.exists())
    assert len(outbox_expand(OutboxBatch.objects.values_list("id", flat=True))) == 1


@pytest.mark.django_db
@responses.activate
def test_many_waiting_batches_are_expanded_a_few_per_transaction(target, monkeypatch):
    responses.post(HOOK, status=200)
    for _ in range(outbox.EXPAND_BATCHES_PER_TRANSACTION + 3):
        statement_store(statements=[make_statement()], credential=None)
    OutboxBatch.objects.update(dispatched_at=None)
    claimed: list[int] = []
    claim = outbox._claim
    monkeypatch.setattr(outbox, "_claim", lambda ids, **kw: claimed.append(len(ids)) or claim(ids, **kw))
    assert sweep.sweep_due() == outbox.EXPAND_BATCHES_PER_TRANSACTION + 3
    assert claimed == [outbox.EXPAND_BATCHES_PER_TRANSACTION, 3]
    count = outbox.EXPAND_BATCHES_PER_TRANSACTION + 3
    assert Delivery.objects.filter(status=Delivery.DELIVERED).count() == len(responses.calls) == count


def _batch(statement_pks: list[int], target: Target) -> OutboxBatch:
    return OutboxBatch.objects.create(
        id=min(statement_pks),
        statement_pks=statement_pks,
        last_statement_pk=max(statement_pks),
        target_ids=[target.id],
        created_at=timezone.now(),
        dispatched_at=timezone.now(),
    )


@pytest.mark.django_db
def test_voiding_expands_only_the_batches_holding_its_statements_even_when_they_interleave(
    target, django_capture_on_commit_callbacks, monkeypatch
):
    # Concurrent requests reserve interleaved keys: batch A may hold 1, 2, 5 and batch B 3, 4.
    monkeypatch.setattr(outbox, "after_ingest_commit", lambda batch_ids: None)
    ids = statement_store(statements=[make_statement() for _ in range(7)], credential=None)
    OutboxBatch.objects.all().delete()
    pk = dict(Statement.objects.values_list("statement_id", "id"))
    p = [pk[uuid.UUID(statement_id)] for statement_id in ids]
    first = _batch([p[0], p[1], p[4]], target)
    _batch([p[2], p[3]], target)
    _batch([p[5], p[6]], target)
    sent: list[int] = []
    monkeypatch.setattr(queue, "after_commit", lambda delivery_ids, **kwargs: sent.extend(delivery_ids))
    with django_capture_on_commit_callbacks(execute=True):
        statement_store(statements=[voiding(ids[2]), voiding(ids[6])], credential=None)
    assert set(OutboxBatch.objects.values_list("id", flat=True)) == {first.id}
    statuses = dict(Delivery.objects.values_list("statement_id", "status"))
    assert statuses == {p[2]: Delivery.CANCELLED, p[3]: Delivery.PENDING,
                        p[5]: Delivery.PENDING, p[6]: Delivery.CANCELLED}  # fmt: skip
    pending = Delivery.objects.filter(status=Delivery.PENDING).values_list("id", flat=True)
    assert sorted(sent) == sorted(pending)


@pytest.mark.django_db
def test_with_a_broker_voiding_hands_the_other_deliveries_over_in_one_message(
    target, settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    monkeypatch.setattr(outbox, "after_ingest_commit", lambda batch_ids: None)
    ids = statement_store(statements=[make_statement() for _ in range(30)], credential=None)
    messages: list[tuple] = []
    cache.clear()  # no drain of an earlier test holds a slot
    monkeypatch.setattr(tasks.drain, "apply_async", lambda args, **kwargs: messages.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        statement_store(statements=[voiding(ids[0])], credential=None)
    [(target_id, _slot)] = messages  # one drain of the target, whatever the number of deliveries
    assert target_id == target.id
    assert Delivery.objects.filter(status=Delivery.PENDING).count() == 29


@pytest.mark.django_db
def test_the_sweep_expands_a_batch_whose_message_was_lost_once_it_is_a_minute_old(
    target, settings, monkeypatch
):
    settings.CELERY_TASK_ALWAYS_EAGER = False  # a broker: the sweep waits out the grace period
    monkeypatch.setattr(outbox, "after_ingest_commit", lambda batch_ids: None)  # the message is lost
    statement_store(statements=[make_statement(), make_statement()], credential=None)
    queued: list[int] = []
    monkeypatch.setattr(queue, "drain_now", lambda ids, **kwargs: queued.extend(ids))
    assert sweep.sweep_due() == 0 and OutboxBatch.objects.exists()
    old = timezone.now() - timedelta(seconds=sweep.REDISPATCH_GRACE_SECONDS + 1)
    OutboxBatch.objects.update(created_at=old)
    assert sweep.sweep_due() == 2
    assert not OutboxBatch.objects.exists()
    assert sorted(queued) == sorted(Delivery.objects.values_list("id", flat=True))


@pytest.mark.django_db
@responses.activate
def test_one_batch_that_cannot_be_expanded_holds_up_no_other(target, monkeypatch, caplog):
    responses.post(HOOK, status=200)
    for _ in range(3):
        statement_store(statements=[make_statement()], credential=None)
    OutboxBatch.objects.update(dispatched_at=None)
    bad = OutboxBatch.objects.order_by("id").first().id
    expand = outbox._expand

    def failing_for_one(batches: list) -> list[int]:
        if any(batch.id == bad for batch in batches):
            raise RuntimeError("a broken target filter, say")
        return expand(batches)

    monkeypatch.setattr(outbox, "_expand", failing_for_one)
    assert sweep.sweep_due() == 2
    assert list(OutboxBatch.objects.values_list("id", flat=True)) == [bad]
    assert f"could not expand outbox batch {bad}" in caplog.text
    assert len(responses.calls) == 2


@pytest.mark.django_db
@responses.activate
def test_without_a_broker_a_failing_expansion_does_not_fail_the_request_that_stored(
    xapi, target, monkeypatch
):
    responses.post(HOOK, status=200)

    def broken(batches: list) -> list[int]:
        raise RuntimeError("database went away")

    expand = outbox._expand
    monkeypatch.setattr(outbox, "_expand", broken)
    response = xapi.post_statements([make_statement()])
    assert response.status_code == 200, response.content
    assert OutboxBatch.objects.count() == 1 and Statement.objects.count() == 1
    monkeypatch.setattr(outbox, "_expand", expand)
    assert sweep.sweep_due() == 1 and len(responses.calls) == 1


@pytest.mark.django_db
def test_an_expanding_worker_that_stalls_in_its_transaction_is_cut_off(target, monkeypatch):
    # Voiding waits for a batch a worker holds: a frozen worker must not hold it for hours.
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL session setting")
    statement_store(statements=[make_statement()], credential=None)
    seen: list[str] = []
    expand = outbox._expand

    def recording(batches: list) -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute("SHOW idle_in_transaction_session_timeout")
            seen.append(cursor.fetchone()[0])
        return expand(batches)

    monkeypatch.setattr(outbox, "_expand", recording)
    assert len(outbox_expand(OutboxBatch.objects.values_list("id", flat=True))) == 1
    assert seen == [outbox.WORKER_IDLE_LIMIT]  # SET LOCAL: it ends with the worker's transaction


@pytest.mark.django_db
def test_an_expansion_inside_a_callers_transaction_leaves_the_callers_session_without_the_idle_limit(target):
    """``SET LOCAL`` lasts until the outermost transaction ends: inside a caller's (a test's, an
    on-commit hook run in one) it would cut off the caller's whole session after 10 s idle."""
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL session setting")
    statement_store(statements=[make_statement()], credential=None)
    assert len(outbox_expand(OutboxBatch.objects.values_list("id", flat=True))) == 1
    with connection.cursor() as cursor:
        cursor.execute("SHOW idle_in_transaction_session_timeout")
        assert cursor.fetchone()[0] == "0"
