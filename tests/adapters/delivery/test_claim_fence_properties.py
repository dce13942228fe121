"""Property: a claim is a lease, whatever happens around a worker that stalls past it.

Two learners' statements are stored and voided; a worker (A) claims and runs a batch without
writing its outcome (it stalled), its claim may run out and the sweep put the deliveries back,
another worker (B) drains, A wakes and writes what it kept, an admin cancels or replays, the
receiver fails a request (a 500, one it applied before failing to answer, one it answers after the
client gave up), and learner 1 may be erased. Once everything has settled (A woke, the sweep ran,
the dead and cancelled replayed, the erasure finished) the fake receiver holds the webhook
adapter's contract (adapters/webhook/adapter.py, README "Fan-out" and "Privacy"):

- one ``statement.stored`` per live statement (repeats by key are fine) and no
  ``statement.voided``; for a voided one at most one of each, the voided event never before the
  stored one, and a retraction whenever the stored event was taken;
- nothing of the erased learner's statements, nor their e-mail address or name, after the
  erasure finished (nor any event of their statements after the receiver took the ``actor.erased``
  notice), and no attempt record holding their address or name;
- no delivery open or in flight, and none ``delivered`` whose key the receiver never took.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.delivery import batch, outcomes, queue, replay, sweep
from adapters.delivery import drain as drains
from adapters.models import Attempt, Delivery, ErasureRequest, Target
from adapters.privacy.erasure import erase_subject, finish_erasures
from adapters.privacy.subjects import subject_for
from lrs.statements.store import statement_store
from tests.adapters.helpers import COURSE, expand_outbox, voiding, voids_after_their_store
from tests.conftest import make_statement
from tests.targets.behaviours import applied_then, hang, status
from tests.targets.webhook_server import WebhookServer

pytestmark = pytest.mark.django_db

EMAIL = {1: "learner@example.com", 2: "other@example.com"}  # learner 1 is E100 (fake_env)
NAME = {1: "Alice Erasable", 2: "Bob Keeps"}
TIMEOUT = 0.3  # the target's timeout_seconds; a hang outlasts it
FAILURES = (status(500), applied_then(500), hang(TIMEOUT + 0.2))
EXAMPLES = int(os.environ.get("LRS_CLAIM_FENCE_EXAMPLES", "25"))
OPEN = (Delivery.PENDING, Delivery.RETRYING)

OPS = st.one_of(
    st.sampled_from(
        [
            ("a_claim", 0),
            ("a_run", 0),
            ("a_wake", 0),
            ("expire", 0),
            ("sweep", 0),
            ("finish", 0),
            ("drain_b", 0),
            ("replay", 0),
        ]
    ),
    st.tuples(st.sampled_from(["send_one", "cancel"]), st.integers(0, 3)),
    st.tuples(st.just("fail"), st.integers(0, len(FAILURES) - 1)),
)


@dataclass
class Scenario:
    owners: list[int]
    erasure: str | None  # None, or the mode of learner 1's erasure
    order: list[tuple[str, int]]
    outlived: bool  # worker A, still stalled at the end, outlives its claim (else it wakes in time)


@st.composite
def scenarios(draw) -> Scenario:
    """The whole step list, drawn up front: stores, voids, an erasure, and the workers' steps."""
    owners = draw(st.lists(st.sampled_from([1, 2]), min_size=2, max_size=4), label="owners")
    voided = draw(st.sets(st.sampled_from(range(len(owners)))), label="voided")
    erasure = draw(st.sampled_from([None, "delete", "pseudonymise"]), label="erasure")
    ops = draw(st.lists(OPS, max_size=12), label="ops")
    steps = [("store", i) for i in range(len(owners))] + [("void", i) for i in sorted(voided)] + ops
    order = draw(st.permutations(steps + ([("erase", 0)] if erasure else [])), label="order")
    if erasure:  # learner 1's statements are stored before the erasure (after it: a new record)
        at = order.index(("erase", 0))
        late = [s for s in order[at:] if s[0] == "store" and owners[s[1]] == 1]
        order = [s for s in order[:at] if s not in late] + late + [s for s in order[at:] if s not in late]
    order = voids_after_their_store(order)
    if erasure:  # and not voided after it (nothing left of them to void)
        at = order.index(("erase", 0))
        order = order[:at] + [s for s in order[at:] if not (s[0] == "void" and owners[s[1]] == 1)]
    return Scenario(owners, erasure, order, draw(st.booleans(), label="A outlives its claim"))


@dataclass
class World:
    receiver: WebhookServer
    target: Target
    scenario: Scenario
    ids: list[str]
    stored: set[int] = field(default_factory=set)
    voided: set[int] = field(default_factory=set)
    erased_ids: set[str] = field(default_factory=set)
    done_mark: int | None = None  # receiver requests when the erasure had finished
    a_claimed: list[Delivery] | None = None  # worker A's batch, and what it made of it
    a_kept: list[outcomes.Outcome] | None = None

    def statement(self, index: int) -> dict:
        owner = self.scenario.owners[index]
        made = make_statement(
            actor_email=EMAIL[owner],
            activity=COURSE,
            result={"completion": True},
            statement_id=self.ids[index],
        )
        made["actor"]["name"] = NAME[owner]
        return made

    def make_due(self) -> None:
        """Retries come due now and the breaker is closed: the property is about state, not pacing."""
        Delivery.objects.filter(status=Delivery.RETRYING).update(next_attempt_at=timezone.now())
        Target.objects.filter(pk=self.target.pk).update(paused_until=None, consecutive_failures=0)
        self.target.refresh_from_db()

    def replayable(self) -> list[int]:
        """An admin replays anything, but never the erased learner's statements (a deliberate act
        that sends their pseudonymised statements again: README "Privacy")."""
        rows = Delivery.objects.filter(status__in=[Delivery.DEAD, Delivery.CANCELLED])
        return list(rows.exclude(statement_uuid__in=self.erased_ids).values_list("id", flat=True))

    def a_wake(self) -> None:
        if self.a_claimed is not None:
            if self.a_kept is None:
                self.a_kept = batch.run(self.target, self.a_claimed)
            outcomes.persist(self.target, self.a_kept)
        self.a_claimed = self.a_kept = None

    def step(self, kind: str, arg: int) -> None:
        if kind == "store":
            statement_store(statements=[self.statement(arg)], credential=None)
            self.stored.add(arg)
        elif kind == "void":
            statement_store(
                statements=[voiding(self.ids[arg], actor_email="admin@example.com")], credential=None
            )
            self.voided.add(arg)
        elif kind == "erase":
            self.erased_ids = {self.ids[i] for i in self.stored if self.scenario.owners[i] == 1}
            erase_subject(subject_for(employee_id="E100"), mode=self.scenario.erasure, requested_by="dpo")
        elif kind == "a_claim" and self.a_claimed is None:
            self.make_due()
            self.a_claimed = drains.claim_due(self.target, 10) or None
        elif kind == "a_run" and self.a_claimed is not None and self.a_kept is None:
            self.a_kept = batch.run(self.target, self.a_claimed)  # sent, not written: A stalls
        elif kind == "a_wake":
            self.a_wake()
        elif kind == "expire" and self.a_claimed is not None:  # A's lease runs out while it stalls
            claim, past = self.a_claimed[0].claimed_until, timezone.now() - timedelta(seconds=1)
            ids = [delivery.id for delivery in self.a_claimed]
            Delivery.objects.filter(id__in=ids, status=Delivery.IN_FLIGHT, claimed_until=claim).update(
                claimed_until=past
            )
            for delivery in self.a_claimed:
                delivery.claimed_until = past
        elif kind == "sweep":
            sweep.sweep_due()
        elif kind == "finish":  # the beat task that finishes erasures
            finish_erasures()
        elif kind == "drain_b":
            self.make_due()
            drains._one_batch(self.target)
        elif kind == "send_one":
            self.make_due()
            due = sorted(Delivery.objects.filter(status__in=OPEN).values_list("id", flat=True))
            if due:
                drains.delivery_send(due[arg % len(due)])
        elif kind == "cancel":
            waiting = Delivery.objects.filter(status__in=[*OPEN, Delivery.HELD])
            ids = sorted(waiting.values_list("id", flat=True))
            if ids:
                replay.deliveries_cancel(delivery_ids=[ids[arg % len(ids)]])
        elif kind == "replay":
            replay.deliveries_replay(delivery_ids=self.replayable())
        elif kind == "fail":
            self.receiver.enqueue(FAILURES[arg])
        expand_outbox()
        self.observe()

    def observe(self) -> None:
        """Wait for the receiver to have answered everything (a hang ends after the client left),
        and note when the erasure finished."""
        assert self.receiver.wait_for(lambda r: all(req.finished for req in r.requests), timeout=5)
        if self.done_mark is None and ErasureRequest.objects.filter(status=ErasureRequest.DONE).exists():
            self.done_mark = len(self.receiver.requests)

    def settle(self) -> None:
        """A wakes (if it still holds a batch), claims past their end are swept, the dead and
        cancelled replayed, everything due drained, the erasure finished."""
        self.receiver.clear_queue()
        for _round in range(10):
            if self.scenario.outlived:
                self.step("expire", 0)
                sweep.sweep_due()
            self.a_wake()
            Delivery.objects.filter(status=Delivery.IN_FLIGHT).update(
                claimed_until=timezone.now() - timedelta(seconds=1)
            )
            sweep.sweep_due()
            finish_erasures()
            replay.deliveries_replay(delivery_ids=self.replayable())
            for _batch in range(20):
                self.make_due()
                if drains._one_batch(self.target) == drains.IDLE:
                    break
            finish_erasures()
            self.observe()
            settled = not Delivery.objects.filter(status__in=[*OPEN, Delivery.IN_FLIGHT]).exists()
            if settled and not ErasureRequest.objects.exclude(status=ErasureRequest.DONE).exists():
                return
        raise AssertionError("the deliveries and the erasure did not settle")


def check(world: World) -> None:
    receiver, ids = world.receiver, world.ids
    requests = receiver.requests
    assert all(request.rejected is None for request in requests), [r.rejected for r in requests]
    # Per statement and event, the keys taken and where the first arrived.
    taken: dict[tuple[str, str], dict[str, int]] = {}
    notice_at = None
    for position, request in enumerate(requests):
        if not (request.applied or (request.status is not None and 200 <= request.status < 300)):
            continue
        for key, event in request.events():
            if event.get("event") == "actor.erased" and notice_at is None:
                notice_at = position
            if event.get("event") in ("statement.stored", "statement.voided"):
                taken.setdefault((event["statement"]["id"], event["event"]), {}).setdefault(key, position)
    for index in sorted(world.stored):
        statement_id = ids[index]
        stored = taken.get((statement_id, "statement.stored"), {})
        voided = taken.get((statement_id, "statement.voided"), {})
        what = {"statement": index, "stored": stored, "voided": voided}
        assert len(stored) <= 1 and len(voided) <= 1, what
        if statement_id in world.erased_ids:
            assert not (stored and voided) or min(voided.values()) > min(stored.values()), what
            continue
        if index not in world.voided:
            assert len(stored) == 1 and not voided, what
            continue
        if stored:  # taken: retracted after it
            assert voided and min(voided.values()) > min(stored.values()), what
    # Nothing open or in flight; nothing delivered that the receiver never took.
    statuses = set(Delivery.objects.values_list("status", flat=True))
    assert statuses <= {Delivery.DELIVERED, Delivery.CANCELLED}, statuses
    keys = receiver.distinct_keys()
    for delivery in Delivery.objects.filter(status=Delivery.DELIVERED):
        assert delivery.idempotency_key in keys, (delivery.kind, delivery.statement_uuid, delivery.last_error)
    for index in sorted(world.stored - world.voided):
        if ids[index] not in world.erased_ids:
            assert (
                Delivery.objects.get(statement_uuid=ids[index], kind="deliver").status == Delivery.DELIVERED
            )
    if world.scenario.erasure is None:
        return
    assert world.done_mark is not None
    # Once the receiver took the notice, no event of their statements comes (a retraction still
    # to be made went before it); once the erasure finished, nothing of them.
    for position, request in enumerate(requests):
        events = [
            (event.get("event"), (event.get("statement") or {}).get("id")) for _, event in request.events()
        ]
        erased = [name for name, statement_id in events if statement_id in world.erased_ids]
        when = {"at": position, "notice": notice_at, "finished": world.done_mark, "events": erased}
        assert not erased or position < world.done_mark, when
        assert not erased or notice_at is None or position < notice_at, when
        if position >= world.done_mark:
            assert EMAIL[1] not in request.body.decode() and NAME[1] not in request.body.decode(), when
    naming = (
        Q(request__contains=EMAIL[1]) | Q(error__contains=EMAIL[1]) | Q(response_excerpt__contains=EMAIL[1])
    )
    naming |= Q(request__contains=NAME[1]) | Q(error__contains=NAME[1])
    assert not Attempt.objects.filter(naming).exists()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios())
def test_a_stalled_worker_past_its_claim_leaves_the_receiver_holding_the_contract(
    webhook_target, fake_env, monkeypatch, retries_far_off, scenario
):
    with transaction.atomic():
        webhook_target.reset()
        world = world_for(webhook_target, monkeypatch, scenario)
        for kind, arg in scenario.order:
            world.step(kind, arg)
        world.settle()
        check(world)
        transaction.set_rollback(True)


def world_for(receiver: WebhookServer, monkeypatch: pytest.MonkeyPatch, scenario: Scenario) -> World:
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "test-webhook-secret")
    monkeypatch.setattr(queue, "request_drain", lambda *args, **kwargs: None)  # the test drains
    config = {
        "url": receiver.url,
        "secret": {"env": "TEST_WEBHOOK_SECRET"},
        "payload": "full",  # the learner's address and name travel: what must stop after the erasure
        "timeout_seconds": TIMEOUT,
    }
    # One request at a time, in claim order: a scripted failure meets the same request each run.
    target = Target.objects.create(name="hook", adapter="webhook", config=config, concurrency=1)
    return World(receiver, target, scenario, [str(uuid.uuid4()) for _ in scenario.owners])


def run(receiver: WebhookServer, monkeypatch: pytest.MonkeyPatch, scenario: Scenario) -> list[str]:
    """The scenario's steps, settled and checked; the events the receiver took, in order."""
    world = world_for(receiver, monkeypatch, scenario)
    for kind, arg in scenario.order:
        world.step(kind, arg)
    world.settle()
    check(world)
    return [event["event"] for event in receiver.effects()]


# The smallest cases the property found (both failed before the fixes they name).


def test_a_voided_statements_delivery_claimed_with_its_retraction_is_not_sent(webhook_target, monkeypatch):
    """Voided while A held it; the sweep put it back (it may have gone out), and B claimed it in
    one batch with its retraction. The batch read the statement for the retraction (voided or
    not) and the delivery found it there: the voided statement went out (adapters/delivery/batch.py
    keyed both reads by statement in one dict)."""
    order = [("store", 0), ("a_claim", 0), ("void", 0), ("expire", 0), ("sweep", 0), ("drain_b", 0)]
    assert run(webhook_target, monkeypatch, Scenario([2], None, order, outlived=False)) == [
        "statement.voided"
    ]
    assert Delivery.objects.get(kind="deliver").status == Delivery.CANCELLED


@pytest.mark.parametrize("how", ["stalled past its claim", "its send failed"])
def test_the_erased_learners_delivery_in_flight_during_the_erasure_is_not_sent_after_it(
    webhook_target, fake_env, monkeypatch, how
):
    """A held learner 1's delivery when a pseudonymise erasure committed, so the erasure could not
    cancel it and waited. Put back since (the sweep, or a failed attempt), it was no longer in
    flight: the erasure sent its notice and finished, and B then sent the statement after both
    (adapters/privacy/erasure.py ``_finish`` cancelled nothing put back)."""
    back = (
        [("expire", 0), ("sweep", 0)]
        if how.startswith("stalled")
        else [("fail", 0), ("a_run", 0), ("a_wake", 0)]
    )
    order = [("store", 0), ("a_claim", 0), ("erase", 0), *back, ("finish", 0), ("drain_b", 0)]
    events = run(webhook_target, monkeypatch, Scenario([1], "pseudonymise", order, outlived=False))
    assert "statement.stored" not in events[events.index("actor.erased") :], events
