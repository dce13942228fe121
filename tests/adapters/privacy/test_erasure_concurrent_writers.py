"""An erasure (``erasure.erase_subject``) made while something else writes the person's statements'
deliveries: a void of one of their statements, a worker sending one. The erasure locks all those
deliveries first (the one order, ``models.skills.skill_records_locked``) and holds them until it
commits; whoever writes them meanwhile must wait for it, never each for the other, and the end
must be that of one after the other (the target holds nothing of the erased statement).

Real threads on real PostgreSQL: the erasure (or the worker) is stopped at a point (events) until
the other side has ended or waits for one of its locks (``pg_stat_activity``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, connections
from django.utils import timezone

from adapters.delivery import queue
from adapters.delivery.drain import delivery_send
from adapters.marketplace import skills
from adapters.models import Delivery, ErasureRequest, Target
from adapters.privacy import erasure
from adapters.privacy.erasure import erase_subject, finish_erasures
from adapters.privacy.subjects import subject_for
from adapters.registry import adapter_class
from lrs.statements.store import statement_store
from tests.adapters.helpers import scored_completion, voiding
from tests.adapters.privacy.test_retention_erasure_race import TIMEOUT, _waiting_for_a_lock
from tests.lrs.concurrency.threads import POSTGRESQL_ONLY

pytestmark = [pytest.mark.django_db(transaction=True), POSTGRESQL_ONLY]


class Sides:
    """Named calls, each in a thread of its own; what each raised."""

    def __init__(self) -> None:
        self.errors: dict[str, BaseException] = {}
        self.threads: dict[str, threading.Thread] = {}

    def start(self, name: str, call: Callable[[], object]) -> None:
        def run() -> None:
            try:
                call()
            except BaseException as exc:  # reported by the test
                self.errors[name] = exc
            finally:
                connections.close_all()

        self.threads[name] = threading.Thread(target=run)
        self.threads[name].start()

    def wait_for_a_lock_or_end(self, name: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while self.threads[name].is_alive() and not _waiting_for_a_lock():
            assert time.monotonic() < deadline, f"the {name} neither ended nor waited for a lock"
            time.sleep(0.05)

    def join(self) -> None:
        for thread in self.threads.values():
            thread.join(TIMEOUT)
        assert not any(thread.is_alive() for thread in self.threads.values()), "a thread hung"


def _stopped_once(
    call: Callable[..., Any], reached: threading.Event, go: threading.Event, *, after: bool
) -> Callable[..., Any]:
    """``call``, and before or ``after`` it (the first time only) ``reached`` set and ``go``
    waited for."""

    def stop() -> None:
        if not reached.is_set():
            reached.set()
            go.wait(TIMEOUT)

    def stopped(*args: Any, **kwargs: Any) -> Any:
        if not after:
            stop()
        result = call(*args, **kwargs)
        if after:
            stop()
        return result

    return stopped


def _stored_looking_late(statement: dict) -> None:
    """The statement stored, its session looking for deadlocks 10 s into a wait (PostgreSQL's
    ``deadlock_timeout``, 1 s by default: the session that looks first is the one aborted). So
    the erasure, waiting second, is the one a deadlock aborts; the void, chosen, would write again
    (``lrs.statements.store``: a write stopped as a deadlock is retried), hiding it."""
    with connection.cursor() as cursor:
        cursor.execute("SET deadlock_timeout = '10s'")
    statement_store(statements=[statement], credential=None)


@pytest.mark.parametrize("after_retraction", [False, True], ids=["before-retraction", "after-retraction"])
@pytest.mark.parametrize("mode", [ErasureRequest.DELETE, ErasureRequest.PSEUDONYMISE])
def test_a_void_of_the_person_s_statement_stored_while_their_erasure_holds_its_deliveries_fails_neither(
    pms_target, mode, after_retraction, monkeypatch
):
    """The LMS voids the person's statement (delivered to the PMS) while the erasure is under
    way: stopped once it locked the deliveries, before or after it wrote its retraction. The void
    locks the statement first, then writes its retraction, whose foreign key to the original
    delivery the erasure holds; the erasure then locks the statement (to rewrite it)."""
    [statement_id] = statement_store(statements=[scored_completion(0.95)], credential=None)
    assert len(pms_target.events()) == 1
    due: list[int] = []  # the retractions, queued as a broker would, run after the race
    monkeypatch.setattr(queue, "after_commit", lambda ids: due.extend(ids))
    reached, go = threading.Event(), threading.Event()
    stopped = _stopped_once(erasure.deliveries_for_voided, reached, go, after=after_retraction)
    monkeypatch.setattr(erasure, "deliveries_for_voided", stopped)
    sides = Sides()
    erase = lambda: erase_subject(subject_for(employee_id="E100"), mode=mode, requested_by="dpo")  # noqa: E731
    sides.start("erasure", erase)
    try:
        assert reached.wait(TIMEOUT), "the erasure never came to its retraction"
        sides.start("void", lambda: _stored_looking_late(voiding(statement_id)))
        sides.wait_for_a_lock_or_end("void")
    finally:
        go.set()
        sides.join()
    for delivery_id in due:
        delivery_send(delivery_id)
    finish_erasures()  # the sweep's

    assert sides.errors == {}, {name: repr(exc) for name, exc in sides.errors.items()}
    assert pms_target.events() == {}
    assert list(ErasureRequest.objects.values_list("status", flat=True)) == [ErasureRequest.DONE]


def _run_due_and_finish(rounds: int = 3) -> None:
    """What the broker and the sweep would run after the race: every delivery due, then the
    erasure's finish (which may run retractions again: ``per_target.evidence_recorded_late``)."""
    for _ in range(rounds):
        Target.objects.update(paused_until=None, consecutive_failures=0)
        due = Delivery.objects.filter(status__in=[Delivery.PENDING, Delivery.RETRYING])
        due.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        for delivery_id in due.values_list("id", flat=True):
            delivery_send(delivery_id)
        finish_erasures()


@pytest.mark.parametrize("mode", [ErasureRequest.DELETE, ErasureRequest.PSEUDONYMISE])
def test_an_erasure_made_while_a_pms_worker_sends_the_person_s_statement_does_not_wait_for_the_send(
    pms_target, mode, monkeypatch
):
    """A PMS worker is sending the person's statement (in flight, its answer slow to come: a
    target timing out) when the erasure is made. The worker holds no row lock while it sends
    (its claim is a column), so the erasure's lock of the delivery does not wait for the send; the
    worker's outcome then waits for the erasure to commit, and the erasure's retraction, depending
    on the original, takes the PMS's event away once the original is recorded."""
    pms = adapter_class("pms")
    reached, go = threading.Event(), threading.Event()
    monkeypatch.setattr(pms, "send", _stopped_once(pms.send, reached, go, after=True))
    sides = Sides()
    sides.start("worker", lambda: statement_store(statements=[scored_completion(0.95)], credential=None))
    try:
        assert reached.wait(TIMEOUT), "the worker never sent"
        assert list(Delivery.objects.values_list("status", flat=True)) == [Delivery.IN_FLIGHT]
        began = time.monotonic()
        erase = lambda: erase_subject(subject_for(employee_id="E100"), mode=mode, requested_by="dpo")  # noqa: E731
        sides.start("erasure", erase)
        sides.threads["erasure"].join(TIMEOUT)
        took = time.monotonic() - began
    finally:
        go.set()
        sides.join()
    _run_due_and_finish()

    assert sides.errors == {}, {name: repr(exc) for name, exc in sides.errors.items()}
    assert took < 5, f"the erasure waited {took:.1f} s for the send"
    assert pms_target.events() == {}
    assert list(ErasureRequest.objects.values_list("status", flat=True)) == [ErasureRequest.DONE]


@pytest.mark.parametrize("mode", [ErasureRequest.DELETE, ErasureRequest.PSEUDONYMISE])
def test_an_erasure_made_while_a_marketplace_worker_records_evidence_fails_neither(
    market_target, mode, monkeypatch
):
    """A marketplace worker has recorded the person's statement's evidence under its statement's
    advisory lock (``skills.recorded_now``), its transaction open, when the erasure is made: the
    erasure locks the delivery (in flight), flags evidence and writes its retraction. The worker
    then commits, sends and records its outcome (the delivery's row, after the erasure's commit).
    Neither may wait for the other in a cycle; the marketplace keeps nothing of the person."""
    reached, go = threading.Event(), threading.Event()
    monkeypatch.setattr(skills, "evidence_put", _stopped_once(skills.evidence_put, reached, go, after=True))
    sides = Sides()
    sides.start("worker", lambda: statement_store(statements=[scored_completion(0.95)], credential=None))
    try:
        assert reached.wait(TIMEOUT), "the worker never recorded evidence"
        erase = lambda: erase_subject(subject_for(employee_id="E100"), mode=mode, requested_by="dpo")  # noqa: E731
        sides.start("erasure", erase)
        sides.wait_for_a_lock_or_end("erasure")
    finally:
        go.set()
        sides.join()
    _run_due_and_finish()

    assert sides.errors == {}, {name: repr(exc) for name, exc in sides.errors.items()}
    assert market_target.skills() == {}
    assert list(ErasureRequest.objects.values_list("status", flat=True)) == [ErasureRequest.DONE]
