"""Property: retention and backfill interleaved with the normal fan-out leave every target holding
what its contract says (adapters/webhook/adapter.py, adapters/pms/adapter.py; README "Fan-out",
"Retention", "Reconciliation and alerts").

Two learners' statements are stored and some voided; a webhook (``hook``) takes them from the
start, a PMS (``pms``) and a second webhook (``hook2``) are added part way and backfilled, a page
at a time, each backfill stopped after some pages and resumed later; deliveries are drained in
batches or one by one, some after a failed answer (500, applied-then-500, 429); an admin cancels
and replays; a worker (A) may hold a claimed batch across other steps; and retention runs with the
clock moved on so that the statements stored up to a drawn point age out (``delete`` or
``pseudonymise``), whatever is pending, retrying, in flight or part way through a backfill. Once
everything settled (backfills finished, the dead and cancelled replayed, all due drained, one
more retention, then a forced backfill of both late targets):

- each webhook target: per statement at most one ``statement.stored`` and one ``statement.voided``
  key, a voided one never before the stored one (alone: the retraction of an attempt that may
  have applied, a 5xx); a live statement still held exactly one stored and no voided; a voided
  one still held was retracted if it had been taken, and was never first taken after its void
  was stored; one whose delivery (retraction) was made before retention removed it was taken;
- the PMS: at most one event per statement, naming the learner's employee; exactly one per live
  statement still held (``pseudonymise``: one that retention pseudonymised before the PMS got it
  has none: its learner is linked to no one); none for a voided one still held; the event of a
  statement delivered and then removed by retention stays (README "Retention");
- no retention run sent a request anywhere; no delivery is left open, dead or unknown, and none
  names a statement that no longer exists;
- reconciliation of each target over everything reports nothing missing, extra or different:
  what the PMS keeps of statements retention deleted or pseudonymised is aged out, not extra.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import event as reached
from hypothesis import strategies as st

from adapters.delivery import batch, outcomes, queue, replay, sweep
from adapters.delivery import drain as drains
from adapters.identity.links import Identifiers, identity_links_upsert
from adapters.models import Delivery, Target
from adapters.privacy.retention import Policy, apply_retention
from adapters.reconciliation.run import reconcile
from lrs.statements.models import Statement
from lrs.statements.store import statement_store
from tests.adapters.helpers import COURSE, expand_outbox, pms_config, voiding, voids_after_their_store
from tests.conftest import make_statement
from tests.targets.behaviours import applied_then, retry_after, status
from tests.targets.pms_server import PMSServer
from tests.targets.webhook_server import WebhookServer

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("LRS_RETENTION_PROPERTY_EXAMPLES", "40"))
EMAIL = {1: "learner@example.com", 2: "other@example.com"}
EMPLOYEE = {1: "E100", 2: "E200"}
FAILURES = (status(500), applied_then(500), retry_after(1))
LATE = ("pms", "hook2")
HOOKS = ("hook", "hook2")
OPEN = (Delivery.PENDING, Delivery.RETRYING)


class Stopped(Exception):
    """A backfill stopped part way (Ctrl-C, a killed process) once a page was committed."""


OPS = st.one_of(
    st.sampled_from(
        [
            ("replay", ""),
            ("a_claim", "hook"),
            ("a_claim", "pms"),
            ("a_wake", ""),
            ("sweep", ""),
        ]
    ),
    st.tuples(st.just("drain"), st.sampled_from(["hook", "hook2", "pms"])),
    st.tuples(st.sampled_from(["send_one", "cancel"]), st.integers(0, 5)),
    st.tuples(st.just("fail"), st.tuples(st.sampled_from(["hook", "pms"]), st.integers(0, 2))),
    st.tuples(st.just("backfill"), st.tuples(st.sampled_from(LATE), st.integers(1, 3))),
    st.tuples(st.just("backfill"), st.tuples(st.sampled_from(LATE), st.integers(1, 3))),
    st.tuples(st.just("retain"), st.integers(0, 8)),
    st.tuples(st.just("retain"), st.integers(0, 8)),
)


@dataclass
class Scenario:
    owners: list[int]
    scores: list[float | None]
    mode: str
    batch_size: int
    order: list[tuple[str, object]]
    last_retention: int  # the statements the last retention ages out (in stored order)


@st.composite
def scenarios(draw) -> Scenario:
    owners = draw(st.lists(st.sampled_from([1, 2]), min_size=2, max_size=5), label="owners")
    scores = [draw(st.sampled_from([None, 0.4, 0.9]), label="score") for _ in owners]
    voided = draw(st.sets(st.sampled_from(range(len(owners)))), label="voided")
    ops = draw(st.lists(OPS, min_size=2, max_size=16), label="ops")
    adds = [("add", "pms"), ("add", "hook2")]
    steps = [("store", i) for i in range(len(owners))] + [("void", i) for i in sorted(voided)] + adds + ops
    order = voids_after_their_store(draw(st.permutations(steps), label="order"))
    mode = draw(st.sampled_from(["delete", "pseudonymise"]), label="retention mode")
    batch_size = draw(st.integers(1, 3), label="retention batch")
    return Scenario(owners, scores, mode, batch_size, order, draw(st.integers(0, 10), label="last retention"))


@dataclass
class World:
    hook: WebhookServer
    pms: PMSServer
    scenario: Scenario
    ids: list[str]
    targets: dict[str, Target] = field(default_factory=dict)
    stored: list[int] = field(default_factory=list)  # statement indexes, in store order
    voided: set[int] = field(default_factory=set)
    void_mark: dict[int, int] = field(default_factory=dict)  # receiver requests when voided
    stored_at: list[datetime] = field(default_factory=list)  # every statement's stored, voids too
    pseudonymised_before_pms: set[int] = field(default_factory=set)
    # (target, statement id, kind) of delivered deliveries retention removed with their statement
    gone_delivered: set[tuple[str, str, str]] = field(default_factory=set)
    a_claimed: tuple[Target, list[Delivery]] | None = None

    def statement(self, index: int) -> dict:
        owner, scaled = self.scenario.owners[index], self.scenario.scores[index]
        result = {"completion": True, **({"score": {"scaled": scaled}} if scaled is not None else {})}
        return make_statement(
            actor_email=EMAIL[owner], activity=COURSE, result=result, statement_id=self.ids[index]
        )

    def make_due(self) -> None:
        """Retries come due now and no breaker is open: the property is about state, not pacing."""
        Delivery.objects.filter(status=Delivery.RETRYING).update(next_attempt_at=timezone.now())
        Target.objects.update(paused_until=None, consecutive_failures=0)
        for target in self.targets.values():
            target.refresh_from_db()

    def fakes(self) -> tuple[WebhookServer, PMSServer]:
        return self.hook, self.pms

    def sent(self) -> int:
        return len(self.hook.requests) + len(self.pms.requests)

    def store(self, statement: dict) -> None:
        [statement_id] = statement_store(statements=[statement], credential=None)
        self.stored_at.append(Statement.objects.get(statement_id=statement_id).stored)

    def add(self, name: str) -> None:
        if name in self.targets:
            return
        if name == "pms":
            target = Target.objects.create(name="pms", adapter="pms", config=pms_config(self.pms))
        else:
            config = {"url": self.hook.url, "secret": {"env": "TEST_WEBHOOK_SECRET"}}
            target = Target.objects.create(name=name, adapter="webhook", config=config, concurrency=1)
        self.targets[name] = target

    def backfill(self, name: str, pages: int | None, *, force: bool = False) -> None:
        """A backfill of the target a page at a time, stopped (Ctrl-C: ``Stopped``) after ``pages`` pages; the
        next one resumes it."""
        target = self.targets.get(name)
        if target is None:
            return
        run = replay.backfill_run_for(target=target, since=None, until=None, force=force)
        read = [0]

        def progress(_count: int) -> None:
            read[0] += 1
            if pages is not None and read[0] >= pages:
                raise Stopped

        with contextlib.suppress(Stopped):
            replay.backfill(target=target, force=force, page_size=1, run=run, progress=progress)

    def retain(self, upto: int | None) -> None:
        """Retention with the clock moved on so that the first ``upto`` statements stored (voids
        included; None: all) are older than the policy's 30 days. It sends nothing."""
        if not self.stored_at:
            return
        ordered = sorted(self.stored_at)
        cutoff = (
            ordered[upto]
            if upto is not None and upto < len(ordered)
            else ordered[-1] + timedelta(microseconds=1)
        )
        before = self.sent()
        rows = Delivery.objects.values_list("id", "target__name", "statement_uuid", "kind", "status")
        snapshot = {row[0]: row[1:] for row in rows}
        policy = Policy(
            statement_days=30,
            mode=self.scenario.mode,
            attempt_body_days=0,
            batch_size=self.scenario.batch_size,
        )
        run = apply_retention(policy=policy, now=cutoff + timedelta(days=30))
        # What the examples reached (pytest --hypothesis-show-statistics).
        for name, count in run.counts.items():
            if count and name.startswith("statements"):
                reached(f"retention: {name}")
        if any(target.backfills.filter(finished_at=None).exists() for target in self.targets.values()):
            reached("retention while a backfill is part way")
        if self.a_claimed is not None:
            reached("retention while a worker holds a claim")
        self.observe()
        assert self.sent() == before, "retention sent a request"
        for delivery_id in set(snapshot) - set(Delivery.objects.values_list("id", flat=True)):
            name, statement_uuid, kind, state = snapshot[delivery_id]
            assert state in (Delivery.DELIVERED, Delivery.DEAD, Delivery.CANCELLED), snapshot[delivery_id]
            if state == Delivery.DELIVERED:
                self.gone_delivered.add((name, str(statement_uuid), kind))
        # Pseudonymised before the PMS got it: its learner is linked to no one now, nothing to send.
        delivered = set(
            Delivery.objects.filter(
                target__name="pms", kind="deliver", status=Delivery.DELIVERED
            ).values_list("statement_uuid", flat=True)
        )
        self.pseudonymised_before_pms |= {
            index
            for index in self.stored
            if pseudonymised(self.ids[index]) and uuid.UUID(self.ids[index]) not in delivered
        }

    def a_wake(self) -> None:
        if self.a_claimed is not None:
            target, claimed = self.a_claimed
            outcomes.persist(target, batch.run(target, claimed))
        self.a_claimed = None

    def step(self, kind: str, arg) -> None:
        if kind == "store":
            self.store(self.statement(arg))
            self.stored.append(arg)
        elif kind == "void":
            self.void_mark[arg] = len(self.hook.requests)
            self.store(voiding(self.ids[arg], actor_email="admin@example.com"))
            self.voided.add(arg)
        elif kind == "add":
            self.add(arg)
        elif kind == "drain" and arg in self.targets:
            self.make_due()
            drains._one_batch(self.targets[arg])
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
            replay.deliveries_replay()
        elif kind == "fail":
            where, which = arg
            (self.hook if where == "hook" else self.pms).enqueue(FAILURES[which])
        elif kind == "backfill":
            name, pages = arg
            self.backfill(name, pages)
        elif kind == "retain":
            self.retain(arg)
        elif kind == "a_claim" and self.a_claimed is None and arg in self.targets:
            self.make_due()
            claimed = drains.claim_due(self.targets[arg], 10)
            self.a_claimed = (self.targets[arg], claimed) if claimed else None
        elif kind == "a_wake":
            self.a_wake()
        elif kind == "sweep":
            sweep.sweep_due()
        expand_outbox()
        self.observe()

    def observe(self) -> None:
        for fake in self.fakes():
            assert fake.wait_for(lambda r: all(req.finished for req in r.requests), timeout=5)

    def settle(self) -> None:
        for fake in self.fakes():
            fake.clear_queue()
        self.a_wake()
        for _round in range(6):
            for name in LATE:  # resumed to its end (or run whole: the admin backfills a new target)
                self.backfill(name, None)
            replay.deliveries_replay()
            sweep.sweep_due()
            for target in self.targets.values():
                for _batch in range(30):
                    self.make_due()
                    if drains._one_batch(target) == drains.IDLE:
                        break
            self.observe()
            if not Delivery.objects.filter(status__in=[*OPEN, Delivery.IN_FLIGHT]).exists():
                return
        raise AssertionError("the deliveries did not settle")


def pseudonymised(statement_id: str) -> bool:
    row = Statement.objects.filter(statement_id=statement_id).first()
    return row is not None and django_settings.LRS_PSEUDONYM_HOMEPAGE in row.payload


def present(world: World) -> set[int]:
    held = {
        str(u)
        for u in Statement.objects.filter(statement_id__in=world.ids).values_list("statement_id", flat=True)
    }
    return {index for index in world.stored if world.ids[index] in held}


def check_hooks(world: World) -> None:
    requests = world.hook.requests
    assert all(request.rejected is None for request in requests), [r.rejected for r in requests]
    taken: dict[tuple[str, str, str], dict[str, int]] = {}
    for position, request in enumerate(requests):
        if not (request.applied or (request.status is not None and 200 <= request.status < 300)):
            continue
        for key, event in request.events():
            name = (event.get("statement") or {}).get("id")
            taken.setdefault((event["target"], name, event["event"]), {}).setdefault(key, position)
    still = present(world)
    for name in HOOKS:
        if name not in world.targets:
            continue
        for index in world.stored:
            statement_id = world.ids[index]
            stored = taken.get((name, statement_id, "statement.stored"), {})
            voided = taken.get((name, statement_id, "statement.voided"), {})
            what = {
                "target": name,
                "statement": index,
                "stored": stored,
                "voided": voided,
                "held": index in still,
            }
            assert len(stored) <= 1 and len(voided) <= 1, what
            # (A voided event without a stored one: a retraction of an attempt that may have applied.)
            assert not (voided and stored) or min(voided.values()) > min(stored.values()), what
            if index in world.voided:
                # Nothing sent for a voided statement that had not been sent before its void.
                assert not stored or min(stored.values()) < world.void_mark[index], what
                if index in still and stored:
                    assert voided, what
            elif index in still:
                assert len(stored) == 1 and not voided, what
            # Delivered (retracted) before retention removed it: the receiver took it.
            if (name, statement_id, "deliver") in world.gone_delivered:
                assert len(stored) == 1, what
            if (name, statement_id, "retract") in world.gone_delivered:
                assert len(voided) == 1, what


def check_pms(world: World) -> None:
    if "pms" not in world.targets:
        return
    assert not world.pms.rejected(), [r.rejected for r in world.pms.rejected()]
    events = list(world.pms.events().values())
    per_statement: dict[str, list[dict]] = {}
    for event in events:
        per_statement.setdefault(event["statementId"], []).append(event)
    still = present(world)
    for index in world.stored:
        held = per_statement.get(world.ids[index], [])
        what = {"statement": index, "events": held, "held": index in still, "voided": index in world.voided}
        assert len(held) <= 1, what
        assert all(event["employeeId"] == EMPLOYEE[world.scenario.owners[index]] for event in held), what
        if index not in still:
            gone = {
                kind for name, key, kind in world.gone_delivered if name == "pms" and key == world.ids[index]
            }
            if gone == {"deliver"} and index not in world.pseudonymised_before_pms:
                assert len(held) == 1, what  # delivered, and the PMS keeps it (README "Retention")
            if "retract" in gone:
                assert not held, what
            continue
        if index in world.voided:
            assert not held, what
        elif index not in world.pseudonymised_before_pms:
            assert len(held) == 1, what


def check_deliveries(world: World) -> None:
    statuses = set(Delivery.objects.values_list("status", flat=True))
    assert statuses <= {Delivery.DELIVERED, Delivery.CANCELLED}, statuses
    orphans = Delivery.objects.exclude(statement_id__in=Statement.objects.values("id"))
    assert not orphans.exists(), list(orphans.values("statement_uuid", "kind", "status", "target__name"))


def check_reconciliation(world: World) -> None:
    since, until = timezone.now() - timedelta(days=400), timezone.now() + timedelta(minutes=1)
    for name, target in world.targets.items():
        run = reconcile(target=target, since=since, until=until, repair=True, dry_run=True)
        wrong = [m for m in run.mismatches if m["kind"] in ("missing", "extra", "different")]
        if run.counts["aged_out"]:
            reached(f"reconciliation: {name} reports what retention aged out")
        assert not wrong, (name, run.counts, run.mismatches)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios())
def test_retention_and_backfill_among_the_fan_out_leave_the_targets_holding_their_contracts(
    webhook_target, pms_server, fake_env, monkeypatch, retries_far_off, scenario
):
    with transaction.atomic():
        webhook_target.reset()
        pms_server.reset()
        world = world_for(webhook_target, pms_server, monkeypatch, scenario)
        for kind, arg in scenario.order:
            world.step(kind, arg)
        world.settle()
        world.retain(scenario.last_retention)
        for name in LATE:  # a forced backfill after retention: nothing comes back, nothing twice
            world.backfill(name, None, force=True)
        world.settle()
        reached(f"statements still held at the end: {len(present(world))} of {len(world.stored)}")
        check_hooks(world)
        check_pms(world)
        check_deliveries(world)
        check_reconciliation(world)
        transaction.set_rollback(True)


def world_for(
    hook: WebhookServer, pms: PMSServer, monkeypatch: pytest.MonkeyPatch, scenario: Scenario
) -> World:
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "test-webhook-secret")
    monkeypatch.setattr(queue, "request_drain", lambda *args, **kwargs: None)  # the test drains
    identity_links_upsert(employee_id=EMPLOYEE[2], identifiers=Identifiers(emails=[EMAIL[2]]))
    world = World(hook, pms, scenario, [str(uuid.uuid4()) for _ in scenario.owners])
    world.add("hook")
    return world
