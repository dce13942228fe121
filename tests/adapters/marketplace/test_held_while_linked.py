"""A delivery resolved while its learner names no one, whose learner is linked while it runs: the
link's release (adapters/identity/holds.py) finds it in flight, not held, and passes it by. It
must not then be recorded held for good (until a reconciliation): the link committed, so it is
resolved again and delivered, as one held a moment earlier would have been released."""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import timedelta

import pytest
from django.db import connections, transaction
from django.utils import timezone

from adapters.delivery import outbox, outcomes, queue
from adapters.delivery.drain import delivery_send, drain
from adapters.identity.links import (
    Identifiers,
    hold_identity_lock,
    identity_links_remove,
    identity_links_upsert,
)
from adapters.marketplace.adapter import MarketplaceAdapter
from adapters.models import Attempt, Delivery, ErasureRequest, SkillEvidence, Target
from adapters.privacy.erasure import erase_subject, finish_erasures
from adapters.privacy.subjects import subject_for
from lrs.statements.store import statement_store
from tests.adapters.helpers import expand_outbox, scored_completion, store_now

pytestmark = pytest.mark.django_db(transaction=True)
NEWCOMER = Identifiers(emails=["newcomer@example.com"])


def _send_linking_meanwhile(monkeypatch, delivery_id: int, link) -> None:
    """Run the delivery in a worker thread of its own (its own connection) that stops once its
    learner was resolved and its outcome is known, before the outcome is written; ``link()``
    commits meanwhile, then the worker goes on and writes it."""
    resolved, go = threading.Event(), threading.Event()
    real_persist = outcomes.persist

    def persist_after_the_link(target, done):
        resolved.set()
        go.wait(10)
        return real_persist(target, done)

    monkeypatch.setattr(outcomes, "persist", persist_after_the_link)
    Delivery.objects.filter(id=delivery_id).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            delivery_send(delivery_id)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert resolved.wait(10), "the delivery never got to writing its outcome"
        link()
    finally:
        go.set()
        thread.join(20)
    monkeypatch.setattr(outcomes, "persist", real_persist)
    assert not thread.is_alive() and not errors, errors


def _drain() -> None:
    """The marketplace's next drain: what is due runs (a delivery held waits)."""
    drain(Target.objects.get(name="market").id, slot=0)


def test_a_delivery_resolved_unmapped_while_its_learner_is_linked_is_delivered_not_left_held(
    market_target, monkeypatch
):
    with monkeypatch.context() as patched:  # its delivery written, not sent yet
        patched.setattr(outbox, "expand_and_queue", lambda batch_ids, **kwargs: None)
        [statement_id] = statement_store(
            statements=[scored_completion(0.95, email="newcomer@example.com")], credential=None
        )
    expand_outbox()
    delivery = Delivery.objects.get(statement_uuid=statement_id, kind="deliver")
    _send_linking_meanwhile(
        monkeypatch, delivery.id, lambda: identity_links_upsert(employee_id="E100", identifiers=NEWCOMER)
    )
    assert Delivery.objects.get(id=delivery.id).status != Delivery.HELD
    _drain()
    record = market_target.skills().get(("E100", "SAFETY-BASICS"))
    assert record is not None and record["level"] == 5
    assert Delivery.objects.get(id=delivery.id).status == Delivery.DELIVERED


def test_evidence_taken_out_while_its_learner_is_linked_again_comes_back(
    market_target, monkeypatch, django_capture_on_commit_callbacks
):
    """The unnamed-statement rule: run again while its learner is unlinked, a delivery takes its
    evidence out of the member's record and waits held. Linked again while it runs, the member
    must get the evidence back, not wait for a reconciliation."""
    capture = django_capture_on_commit_callbacks
    identity_links_upsert(employee_id="E100", identifiers=NEWCOMER)
    [statement_id] = store_now(
        capture, scored_completion(0.95, email="newcomer@example.com", timestamp="2026-03-10T10:00:00Z")
    )
    assert market_target.skills()[("E100", "SAFETY-BASICS")]["level"] == 5
    identity_links_remove(employee_id="E100", identifiers=NEWCOMER)
    delivery = Delivery.objects.get(statement_uuid=statement_id, kind="deliver")
    Delivery.objects.filter(id=delivery.id).update(status=Delivery.PENDING)  # run again (a repair)
    _send_linking_meanwhile(
        monkeypatch, delivery.id, lambda: identity_links_upsert(employee_id="E100", identifiers=NEWCOMER)
    )
    assert Delivery.objects.get(id=delivery.id).status != Delivery.HELD
    _drain()
    record = market_target.skills().get(("E100", "SAFETY-BASICS"))
    assert record is not None and statement_id in {item["statementId"] for item in record["evidence"]}


def test_a_drain_holding_a_delivery_does_not_wait_for_a_long_identity_write(market_target, monkeypatch):
    """An HRIS import holds the identity lock for its whole transaction, minutes for a big feed.
    A drain whose batch would hold a delivery meanwhile must not stall behind it: the delivery
    runs again a little later, resolved against what the import committed."""
    with monkeypatch.context() as patched:  # its delivery written, not sent yet
        patched.setattr(outbox, "expand_and_queue", lambda batch_ids, **kwargs: None)
        [statement_id] = statement_store(
            statements=[scored_completion(0.95, email="newcomer@example.com")], credential=None
        )
    expand_outbox()
    delivery = Delivery.objects.get(statement_uuid=statement_id, kind="deliver")
    Delivery.objects.filter(id=delivery.id).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    writing, finish = threading.Event(), threading.Event()

    def long_identity_write() -> None:
        try:
            with transaction.atomic():
                hold_identity_lock()
                writing.set()
                finish.wait(20)
                identity_links_upsert(employee_id="E100", identifiers=NEWCOMER)
        finally:
            connections.close_all()

    writer = threading.Thread(target=long_identity_write)
    writer.start()
    try:
        assert writing.wait(10)
        started = time.monotonic()
        delivery_send(delivery.id)
        waited = time.monotonic() - started
    finally:
        finish.set()
        writer.join(20)
    assert waited < 5, f"the drain waited {waited:.1f} s for the identity write"
    row = Delivery.objects.get(id=delivery.id)
    assert row.status == Delivery.RETRYING and row.next_attempt_at > timezone.now() - timedelta(seconds=1)
    Delivery.objects.filter(id=delivery.id).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    _drain()
    record = market_target.skills().get(("E100", "SAFETY-BASICS"))
    assert record is not None and record["level"] == 5
    assert Delivery.objects.get(id=delivery.id).status == Delivery.DELIVERED


@pytest.mark.parametrize("mode", ["pseudonymise", "delete"])
def test_a_delivery_resolved_unmapped_while_its_learner_is_erased_keeps_nothing_of_them(
    market_target, monkeypatch, mode
):
    """No evidence recorded, its learner unmapped: the delivery is held before any lease or lock.
    An erasure of the learner that commits meanwhile finds it in flight, not held (nothing to
    cancel yet), and the hold is written after, naming the learner's address. The erasure waits
    for it (a delivery of theirs in flight), and its finish cancels the hold and scrubs what
    names them; a later link of the address releases nothing, and the marketplace never holds a
    skill from the statement."""
    with monkeypatch.context() as patched:  # its delivery written, not sent yet
        patched.setattr(outbox, "expand_and_queue", lambda batch_ids, **kwargs: None)
        [statement_id] = statement_store(
            statements=[scored_completion(0.95, email="newcomer@example.com")], credential=None
        )
    expand_outbox()
    delivery = Delivery.objects.get(statement_uuid=statement_id, kind="deliver")
    learner = {"objectType": "Agent", "mbox": "mailto:newcomer@example.com"}
    queued: list[int] = []

    def erase() -> None:
        # Its retraction queued, not run here (tasks run eagerly in tests): it would wait for the
        # delivery in flight.
        with monkeypatch.context() as patched:
            patched.setattr(queue, "after_commit", queued.extend)
            erase_subject(subject_for(agent=learner), mode=mode, requested_by="dpo")
        assert ErasureRequest.objects.get().status == ErasureRequest.RETRACTING  # it waits for it

    _send_linking_meanwhile(monkeypatch, delivery.id, erase)
    assert Delivery.objects.get(id=delivery.id).status == Delivery.HELD  # written after the erasure
    _drain()  # the retraction
    finish_erasures()

    assert ErasureRequest.objects.get().status == ErasureRequest.DONE
    rows = Delivery.objects.filter(statement_uuid=statement_id)
    assert not rows.filter(status=Delivery.HELD).exists()
    assert not rows.exclude(held_key="").exists()
    assert not Attempt.objects.filter(error__contains="newcomer").exists()
    assert not rows.filter(last_error__contains="newcomer").exists()
    identity_links_upsert(employee_id="E100", identifiers=NEWCOMER)
    _drain()
    assert market_target.skills() == {}
    assert not SkillEvidence.objects.exists()


def test_a_delivery_resolved_unmapped_while_another_learner_is_linked_is_held_at_once(
    market_target, monkeypatch
):
    """A steady stream of identity changes (an HRIS feed, the admin) must not keep re-running every
    delivery it holds: only those whose key a change committed meanwhile names (a link of another
    address, or of the SHA-1 forms' kind, cannot resolve an address no one is linked to). Before,
    any change re-ran every hold of the batch at once, and a change per batch held none, ever."""
    with monkeypatch.context() as patched:  # its delivery written, not sent yet
        patched.setattr(outbox, "expand_and_queue", lambda batch_ids, **kwargs: None)
        [statement_id] = statement_store(
            statements=[scored_completion(0.95, email="newcomer@example.com")], credential=None
        )
    expand_outbox()
    delivery = Delivery.objects.get(statement_uuid=statement_id, kind="deliver")
    other = Identifiers(emails=["colleague@example.com"])
    resolved: list[str] = []
    real_plan = MarketplaceAdapter._plan

    def counted_plan(self, statement, context):
        resolved.append(statement["id"])
        return real_plan(self, statement, context)

    monkeypatch.setattr(MarketplaceAdapter, "_plan", counted_plan)
    _send_linking_meanwhile(
        monkeypatch, delivery.id, lambda: identity_links_upsert(employee_id="E200", identifiers=other)
    )
    assert resolved == [statement_id]  # once: not again for the colleague's link
    assert Delivery.objects.values_list("status", "held_key").get(id=delivery.id) == (
        Delivery.HELD,
        "email:newcomer@example.com",
    )
    identity_links_upsert(employee_id="E100", identifiers=NEWCOMER)  # its release still finds it
    _drain()
    assert market_target.skills()[("E100", "SAFETY-BASICS")]["level"] == 5


def test_a_delivery_resolved_unmapped_while_its_mailboxs_sha1_is_linked_is_delivered_not_left_held(
    market_target, monkeypatch
):
    """An ``mbox`` resolves through an explicit ``mbox_sha1sum`` link of its mailbox's SHA-1 too
    (``resolution.agent_keys``): such a link committed while the delivery resolved is a change that
    may resolve its hold, though it names the SHA-1, not the address the delivery is held under."""
    with monkeypatch.context() as patched:  # its delivery written, not sent yet
        patched.setattr(outbox, "expand_and_queue", lambda batch_ids, **kwargs: None)
        [statement_id] = statement_store(
            statements=[scored_completion(0.95, email="newcomer@example.com")], credential=None
        )
    expand_outbox()
    delivery = Delivery.objects.get(statement_uuid=statement_id, kind="deliver")
    digest = hashlib.sha1(b"mailto:newcomer@example.com").hexdigest()
    _send_linking_meanwhile(
        monkeypatch,
        delivery.id,
        lambda: identity_links_upsert(employee_id="E100", identifiers=Identifiers(mbox_sha1sums=[digest])),
    )
    assert Delivery.objects.get(id=delivery.id).status != Delivery.HELD
    _drain()
    assert market_target.skills()[("E100", "SAFETY-BASICS")]["level"] == 5
