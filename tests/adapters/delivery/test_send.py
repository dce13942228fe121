"""The outbox and delivery service, in-process (no broker: tasks run after commit).

The same flows through a real Celery worker on real Redis are in test_reliability.py.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import pytest
import responses
from django.db import transaction
from django.utils import timezone

from adapters.delivery import pacing as health
from adapters.delivery import tasks
from adapters.delivery.drain import delivery_send
from adapters.delivery.replay import backfill, deliveries_create, deliveries_replay
from adapters.models import Attempt, Delivery, OutboxBatch, Target
from adapters.rules.retry import RetryPolicy
from lrs.statements.models import Statement
from lrs.statements.store import statement_store
from tests.adapters.helpers import busiest_second, expand_outbox
from tests.conftest import HOOK, make_statement

pytestmark = pytest.mark.django_db

COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
VOIDED = "http://adlnet.gov/expapi/verbs/voided"


def store(*statements, capture) -> list[str]:
    with capture(execute=True):
        return statement_store(statements=list(statements), credential=None)


@responses.activate
def test_completion_is_delivered_once_with_its_idempotency_key(target, django_capture_on_commit_callbacks):
    responses.post(HOOK, status=200)
    [statement_id] = store(make_statement(), capture=django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.DELIVERED
    assert delivery.idempotency_key == f"{statement_id}:hook:deliver"
    [call] = responses.calls
    assert call.request.headers["Idempotency-Key"] == delivery.idempotency_key
    assert json.loads(call.request.body)["statement"]["id"] == statement_id
    assert Attempt.objects.get().outcome == Attempt.SUCCESS


def test_statements_no_target_wants_create_no_deliveries(target, django_capture_on_commit_callbacks):
    store(
        make_statement(verb="http://adlnet.gov/expapi/verbs/experienced"),
        capture=django_capture_on_commit_callbacks,
    )
    assert Delivery.objects.count() == 0


def test_outbox_rows_roll_back_with_a_failed_batch(target):
    with pytest.raises(RuntimeError), transaction.atomic():
        statement_store(statements=[make_statement()], credential=None)
        raise RuntimeError("the request fails after storing")
    assert Statement.objects.count() == 0 and Delivery.objects.count() == 0


def test_disabled_targets_get_nothing(target, django_capture_on_commit_callbacks):
    Target.objects.filter(pk=target.pk).update(enabled=False)
    store(make_statement(), capture=django_capture_on_commit_callbacks)
    assert Delivery.objects.count() == 0


@responses.activate
def test_failure_schedules_a_retry_then_success(target, django_capture_on_commit_callbacks):
    responses.post(HOOK, status=503, headers={"Retry-After": "30"})
    store(make_statement(), capture=django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.RETRYING
    assert delivery.next_attempt_at >= timezone.now() + timedelta(seconds=29)
    assert delivery.last_status_code == 503

    responses.replace(responses.POST, HOOK, status=200)
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert delivery_send(delivery.pk) == Delivery.DELIVERED
    assert list(Attempt.objects.values_list("outcome", flat=True)) == [Attempt.RETRY, Attempt.SUCCESS]


@responses.activate
def test_permanent_failure_goes_to_dead_letter_and_replay_delivers_it(
    target, django_capture_on_commit_callbacks
):
    responses.post(HOOK, status=422, body="bad payload")
    store(make_statement(), capture=django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.DEAD
    assert "422" in delivery.last_error
    assert Attempt.objects.get().response_excerpt == "bad payload"

    responses.replace(responses.POST, HOOK, status=200)
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_replay(target=target).replayed == [delivery.pk]
    delivery.refresh_from_db()
    assert delivery.status == Delivery.DELIVERED
    assert responses.calls[-1].request.headers["Idempotency-Key"] == delivery.idempotency_key


@responses.activate
def test_retries_stop_at_max_attempts(target, django_capture_on_commit_callbacks):
    responses.post(HOOK, status=500)
    store(make_statement(), capture=django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get()
    policy = RetryPolicy(max_attempts=3)
    for _ in range(2):
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        Target.objects.filter(pk=target.pk).update(paused_until=None)
        delivery_send(delivery.pk, policy=policy)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.DEAD and delivery.attempts == 3
    assert "gave up after 3 attempts" in delivery.last_error


@responses.activate
def test_410_disables_the_target(target, django_capture_on_commit_callbacks):
    responses.post(HOOK, status=410)
    store(make_statement(), capture=django_capture_on_commit_callbacks)
    target.refresh_from_db()
    assert not target.enabled and "410" in target.disabled_reason
    assert Delivery.objects.get().status == Delivery.DEAD


def test_a_delivery_not_yet_due_or_already_claimed_is_not_sent(target, django_capture_on_commit_callbacks):
    Target.objects.filter(pk=target.pk).update(enabled=False)
    store(make_statement(), capture=django_capture_on_commit_callbacks)
    Target.objects.filter(pk=target.pk).update(enabled=True)
    statement = Statement.objects.get()
    delivery = Delivery.objects.create(
        target=target,
        statement=statement,
        statement_uuid=statement.statement_id,
        idempotency_key="k",
        next_attempt_at=timezone.now() + timedelta(minutes=5),
    )
    assert delivery_send(delivery.pk) is None
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.IN_FLIGHT,
        next_attempt_at=timezone.now(),
        claimed_until=timezone.now() + timedelta(minutes=1),
    )
    assert delivery_send(delivery.pk) is None  # another worker holds it


@responses.activate
# Without retries far off, a drain would send a retry together with the next new delivery, two
# attempts in one batch.
@pytest.mark.usefixtures("retries_far_off")
def test_repeated_failures_pause_the_target_instead_of_hammering_it(
    target, django_capture_on_commit_callbacks
):
    responses.post(HOOK, status=500)
    for _ in range(health.FAILURES_TO_PAUSE + 3):  # one statement at a time, as single POSTs
        store(make_statement(), capture=django_capture_on_commit_callbacks)
    target.refresh_from_db()
    assert target.paused_until is not None and target.paused_until > timezone.now()
    # Once paused, the remaining deliveries wait without an attempt.
    assert len(responses.calls) == health.FAILURES_TO_PAUSE
    assert Attempt.objects.count() == health.FAILURES_TO_PAUSE


@responses.activate
def test_a_rate_limit_spaces_the_sends_and_delivers_them_all(target, django_capture_on_commit_callbacks):
    Target.objects.filter(pk=target.pk).update(rate_limit_per_second=4)
    sent_at: list[float] = []

    def answer(request):
        sent_at.append(time.monotonic())
        return (200, {}, "")

    responses.add_callback(responses.POST, HOOK, callback=answer)
    store(*[make_statement() for _ in range(6)], capture=django_capture_on_commit_callbacks)
    assert Delivery.objects.filter(status=Delivery.DELIVERED).count() == 6
    times = sorted(sent_at)
    assert busiest_second(times) <= 4
    # Five spacings of 1/(0.97 x 4) s from the first send to the last (at least 1/4 s each), less a
    # late start's tolerance.
    assert times[-1] - times[0] >= 5 / 4 - health.LATE_TOLERANCE_SECONDS


@responses.activate
def test_voiding_after_delivery_sends_one_retraction(target, django_capture_on_commit_callbacks):
    responses.post(HOOK, status=200)
    [statement_id] = store(make_statement(), capture=django_capture_on_commit_callbacks)
    voiding = make_statement(verb=VOIDED, object={"objectType": "StatementRef", "id": statement_id})
    store(voiding, capture=django_capture_on_commit_callbacks)
    retraction = Delivery.objects.get(kind="retract")
    assert retraction.status == Delivery.DELIVERED, retraction.last_error
    events = [json.loads(call.request.body)["event"] for call in responses.calls]
    assert events == ["statement.stored", "statement.voided"]
    assert responses.calls[1].request.headers["Idempotency-Key"] == f"{statement_id}:hook:retract"


@responses.activate
def test_voiding_before_delivery_cancels_instead_of_retracting(target, django_capture_on_commit_callbacks):
    responses.post(HOOK, status=503)  # "not now": the attempt took no effect
    [statement_id] = store(make_statement(), capture=django_capture_on_commit_callbacks)
    assert Delivery.objects.get().status == Delivery.RETRYING
    voiding = make_statement(verb=VOIDED, object={"objectType": "StatementRef", "id": statement_id})
    store(voiding, capture=django_capture_on_commit_callbacks)
    assert Delivery.objects.get().status == Delivery.CANCELLED
    assert not Delivery.objects.filter(kind="retract").exists()


@responses.activate
@pytest.mark.usefixtures("retries_far_off")  # the 500's retry must not go out before the void
def test_voiding_after_an_attempt_that_may_have_taken_effect_retracts(
    target, django_capture_on_commit_callbacks
):
    responses.post(HOOK, status=500)  # a server error may come after the receiver applied it
    responses.post(HOOK, status=200)
    [statement_id] = store(make_statement(), capture=django_capture_on_commit_callbacks)
    assert Delivery.objects.get().status == Delivery.RETRYING
    voiding = make_statement(verb=VOIDED, object={"objectType": "StatementRef", "id": statement_id})
    store(voiding, capture=django_capture_on_commit_callbacks)
    assert Delivery.objects.get(kind="deliver").status == Delivery.CANCELLED
    retraction = Delivery.objects.get(kind="retract")
    assert retraction.status == Delivery.DELIVERED, retraction.last_error
    assert json.loads(responses.calls[-1].request.body)["event"] == "statement.voided"


@responses.activate
def test_backfill_sends_old_statements_to_a_new_target_once(django_capture_on_commit_callbacks, monkeypatch):
    responses.post(HOOK, status=200)
    store(
        make_statement(),
        make_statement(),
        make_statement(verb="http://example.com/other"),
        capture=django_capture_on_commit_callbacks,
    )
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "s3cret")
    late = Target.objects.create(
        name="late", adapter="webhook", config={"url": HOOK, "secret": {"env": "TEST_WEBHOOK_SECRET"}}
    )
    with django_capture_on_commit_callbacks(execute=True):
        first = backfill(target=late, page_size=2)
    with django_capture_on_commit_callbacks(execute=True):
        second = backfill(target=late, page_size=2)
    assert first == {"matched": 2, "created": 2, "requeued": 0, "skipped": 0}
    assert second == {"matched": 2, "created": 0, "requeued": 0, "skipped": 2}
    assert Delivery.objects.filter(target=late, status=Delivery.DELIVERED).count() == 2
    assert len(responses.calls) == 2


def test_the_outbox_entry_goes_in_with_the_statement_in_the_same_insert(
    target, settings, django_capture_on_commit_callbacks
):
    # Fan-out must cost the ingest path next to nothing: the outbox entry of a small batch rides
    # in the statements' own multi-table INSERT, so a statement that targets take costs exactly
    # the queries of one that no target takes.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from adapters.targets.enabled import forget_targets

    settings.LRS_TARGETS_CACHE_SECONDS = 60
    forget_targets()
    experienced = "http://adlnet.gov/expapi/verbs/experienced"
    counts = []
    for verb in (experienced, COMPLETED, experienced, COMPLETED):
        with CaptureQueriesContext(connection) as captured, django_capture_on_commit_callbacks():
            statement_store(statements=[make_statement(verb=verb)], credential=None)
        counts.append(len(captured))
    assert counts[2] == counts[3]
    assert OutboxBatch.objects.count() == 2 and Delivery.objects.count() == 0
    [insert] = [query["sql"] for query in captured.captured_queries if "INSERT" in query["sql"]]
    assert '"lrs_statement"' in insert and '"adapters_outboxbatch"' in insert


@pytest.mark.parametrize("size", [3, 25], ids=["one INSERT", "COPY"])  # lrs.statements.bulk.SMALL_BATCH is 10
def test_a_batch_writes_one_outbox_entry_whatever_the_number_of_targets(size, target, monkeypatch):
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "s3cret")
    hook_config = {"url": "https://hooks.example.com/x", "secret": {"env": "TEST_WEBHOOK_SECRET"}}
    others = [
        Target.objects.create(name=f"hook{number}", adapter="webhook", config=hook_config)
        for number in range(3)
    ]
    skipped = make_statement(verb="http://adlnet.gov/expapi/verbs/experienced")
    ids = statement_store(
        statements=[make_statement(), skipped, *[make_statement() for _ in range(size - 1)]], credential=None
    )
    [batch] = OutboxBatch.objects.all()
    taken = [Statement.objects.get(statement_id=statement_id).id for statement_id in ids[:1] + ids[2:]]
    assert batch.statement_pks == taken and (batch.id, batch.last_statement_pk) == (min(taken), max(taken))
    assert batch.target_ids == sorted(t.id for t in [target, *others])
    assert batch.dispatched_at is not None and batch.created_at is not None


def test_expanding_the_outbox_writes_every_delivery_with_every_field_set(target):
    statements = [make_statement() for _ in range(25)]
    ids = statement_store(statements=statements, credential=None)
    pending = expand_outbox()
    assert not OutboxBatch.objects.exists()
    rows = list(Delivery.objects.order_by("statement_id"))
    assert sorted(pending) == sorted(row.id for row in rows)
    assert [str(row.statement_uuid) for row in rows] == ids
    for row, statement_id in zip(rows, ids, strict=True):
        assert row.target_id == target.id and row.kind == "deliver" and row.status == Delivery.PENDING
        assert row.idempotency_key == f"{statement_id}:hook:deliver"
        assert row.attempts == 0 and row.dispatched_at is not None and row.created_at is not None
        assert row.statement.statement_id == row.statement_uuid
    assert expand_outbox() == []  # expanded once: a second message finds nothing


def test_expanding_skips_what_a_backfill_already_created_and_statements_since_deleted(target):
    first, second, third = statement_store(statements=[make_statement() for _ in range(3)], credential=None)
    [batch] = OutboxBatch.objects.all()
    deliveries_create(statement_pks=batch.statement_pks[:1])  # a backfill got there first
    Statement.objects.filter(statement_id=third).delete()
    pending = expand_outbox()
    stored = sorted(Delivery.objects.values_list("statement_uuid", flat=True))
    assert stored == sorted(uuid.UUID(statement_id) for statement_id in (first, second))
    assert len(pending) == 1  # the backfill queued its own


def test_a_second_delivery_of_the_same_statement_target_and_kind_is_refused(target):
    from django.db import IntegrityError

    statement_store(statements=[make_statement()], credential=None)
    expand_outbox()
    original = Delivery.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        Delivery.objects.create(
            target=target,
            statement_id=original.statement_id,
            statement_uuid=original.statement_uuid,
            kind=original.kind,
            idempotency_key="another-key",
            next_attempt_at=timezone.now(),
        )


@responses.activate
def test_a_batch_costs_the_same_database_queries_whatever_its_size(target):
    """Per-delivery queries made the drain slow (4 ms each to resolve the learner): a batch of
    30 must cost what a batch of 3 does."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from adapters.delivery.drain import drain

    responses.post(HOOK, status=200)

    def queries_to_drain(count: int) -> int:
        with transaction.atomic():
            statement_store(statements=[make_statement() for _ in range(count)], credential=None)
        expand_outbox()
        with CaptureQueriesContext(connection) as queries:
            drain(target.id, slot=0)
        assert Delivery.objects.filter(status=Delivery.DELIVERED).count() == Statement.objects.count()
        return len(queries)

    # A process's first batch also reads the attempt table's column types, once (the COPY of
    # ``insert_tuples``): run alone, the test must not count that against the batch of 3.
    queries_to_drain(1)
    assert queries_to_drain(3) == queries_to_drain(30)


@responses.activate
def test_the_sweep_voids_and_retracts_a_statement_its_voiding_statement_missed(
    target, django_capture_on_commit_callbacks
):
    # The state a statement and its voiding statement stored at the same moment leave: both
    # stored, the statement live and delivered (tests/lrs/statements/test_concurrent_writes.py
    # shows the race itself).
    responses.post(HOOK, status=200)
    [statement_id] = store(make_statement(), capture=django_capture_on_commit_callbacks)
    voiding = make_statement(verb=VOIDED, object={"objectType": "StatementRef", "id": statement_id})
    store(voiding, capture=django_capture_on_commit_callbacks)
    Delivery.objects.filter(kind="retract").delete()
    Statement.objects.filter(statement_id=statement_id).update(voided=False)
    responses.calls.reset()

    with django_capture_on_commit_callbacks(execute=True):
        tasks.sweep()
    assert Statement.objects.get(statement_id=statement_id).voided
    retraction = Delivery.objects.get(kind="retract")
    assert retraction.status == Delivery.DELIVERED, retraction.last_error
    assert [json.loads(call.request.body)["event"] for call in responses.calls] == ["statement.voided"]


@responses.activate
@pytest.mark.usefixtures("retries_far_off")
def test_an_answer_holding_a_nul_character_is_recorded_without_it(target, django_capture_on_commit_callbacks):
    """PostgreSQL's text columns refuse U+0000: kept, the batch's outcome would roll back and its
    deliveries be sent again and again."""
    responses.post(HOOK, status=500, body=b"broken\x00answer")
    store(make_statement(), capture=django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.RETRYING and "\x00" not in delivery.last_error
    [attempt] = Attempt.objects.all()
    assert attempt.response_excerpt == "brokenanswer" and attempt.duration_ms >= 0


@responses.activate
def test_a_webhook_batch_does_not_read_the_identity_changes(target, django_capture_on_commit_callbacks):
    """A webhook never holds a delivery for a link (an unlinked learner gets a pseudonym), so its
    batches skip the read of the last identity change that a holding target's batch makes first
    (``Adapter.holds_until_linked``): one query less per batch on the eager path."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    responses.post(HOOK, status=200)
    with CaptureQueriesContext(connection) as captured:
        store(make_statement(), capture=django_capture_on_commit_callbacks)
    assert Delivery.objects.get().status == Delivery.DELIVERED
    assert not [q["sql"] for q in captured.captured_queries if "identitychange" in q["sql"].lower()]
