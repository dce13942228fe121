"""Property: whatever the order two learners' statements, voids, failed attempts (applied or not)
and deliveries happen in, and wherever an erasure of one of them falls (between deliveries, or
while one is being sent), once everything has run (retries, a forced backfill or a replay, dead
letters replayed by an admin, the sweep finishing the erasure) the targets hold what the
contracts say (README "Privacy", adapters/privacy/erasure.py, adapters/pms/adapter.py,
adapters/marketplace/adapter.py), with ``retract``, the default for both:

- the PMS holds no event of the erased learner's statements, and exactly one event per live
  statement of the other learner;
- the marketplace holds no record resting on the erased evidence; the other learner's record is
  what their live evidence gives;
- nothing sent after the erasure names the erased person (their e-mail or name), nor carries an
  erased statement as an event or as evidence.

A statement by the erased person's address stored after the erasure is a new record (README: "A
statement about the person stored after the erasure is a new record: erase again"). Their
identity links went with the erasure, so it maps to no employee and is held as unmapped: the
targets get nothing of it (the PMS contract: events only for statements "whose actor maps to an
employee"). If the HRIS feed links the address again (``relink``), it is an ordinary statement of
that employee: delivered, and their record rests on it alone. (The LMS sending an erased
statement again, under its old id, is ``test_erasure_resend.py``: it fails today.)
"""

from __future__ import annotations

import json
import os
import uuid
from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.delivery import outcomes
from adapters.delivery.drain import delivery_send
from adapters.delivery.replay import backfill, deliveries_replay
from adapters.identity.links import Identifiers, identity_links_upsert
from adapters.marketplace.adapter import MarketplaceAdapter
from adapters.models import Delivery, ErasureRequest, SkillEvidence, Target
from adapters.pms.adapter import PMSAdapter
from adapters.privacy.erasure import erase_subject, finish_erasures
from adapters.privacy.subjects import subject_for
from lrs.statements.models import Statement
from lrs.statements.store import statement_store
from tests.adapters.helpers import COURSE, expand_outbox, voiding, voids_after_their_store
from tests.adapters.marketplace.expected import Evidence, expected_record, held_record
from tests.conftest import make_statement
from tests.targets.behaviours import applied_then, status

# Examples per property; LRS_ERASURE_PROPERTY_EXAMPLES raises them (a longer run) or lowers them.
EXAMPLES = int(os.environ.get("LRS_ERASURE_PROPERTY_EXAMPLES", "40"))

pytestmark = pytest.mark.django_db

ERASED, OTHER = "erased", "other"
EMAIL = {ERASED: "learner@example.com", OTHER: "other@example.com"}  # E100 (fake_env), E200
NAME = {ERASED: "Alice Erasable", OTHER: "Bob Keeps"}
MEMBER = {ERASED: "E100", OTHER: "E200"}
SKILL = "SAFETY-BASICS"
VOIDERS = {ERASED: EMAIL[ERASED], OTHER: EMAIL[OTHER], "admin": "admin@example.com"}  # admin: unlinked

SCORES = st.sampled_from([None, 0.3, 0.55, 0.8, 0.95])
TIMESTAMPS = st.builds(
    lambda day, hour: f"2026-03-{day:02d}T{hour:02d}:00:00Z", st.integers(1, 9), st.integers(0, 23)
)
# A failed attempt: a 500 the target did not apply, one it applied before failing to answer (the
# sender cannot tell which), a 503 (not applied, it says), a refusal for good (a dead letter, which
# an admin replays).
ANSWERS = st.sampled_from([None, None, status(500), applied_then(500), status(503), status(400)])


def fakes_by_target(pms, market) -> dict[int, object]:
    return {Target.objects.get(name="pms").id: pms, Target.objects.get(name="market").id: market}


def send(delivery_id: int, fakes, answer) -> None:
    """One attempt of the delivery, now, its target answering ``answer`` (None: as it would)."""
    delivery = Delivery.objects.get(id=delivery_id)
    fake = fakes[delivery.target_id]
    if delivery.attempts < 3 and answer is not None:  # never enough failures to give up
        fake.enqueue(answer)
    Delivery.objects.filter(id=delivery_id).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    # The property is about state, not pacing: failed attempts must not pause the target.
    Target.objects.update(paused_until=None, consecutive_failures=0)
    delivery_send(delivery_id)
    fake.clear_queue()  # a failure this delivery did not use (it sent nothing) lapses


def due() -> list[int]:
    return sorted(
        Delivery.objects.filter(status__in=[Delivery.PENDING, Delivery.RETRYING]).values_list("id", flat=True)
    )


def run_pending(fakes, data, *, all_of_them: bool = False, failures: bool = True) -> None:
    """Run due deliveries in an order hypothesis chooses, some after a failed attempt."""
    while True:
        ids = due()
        if not ids or (not all_of_them and not data.draw(st.booleans(), label="deliver one more")):
            return
        delivery_id = data.draw(st.sampled_from(ids), label="deliver")
        answer = data.draw(ANSWERS, label="answer") if failures else None
        send(delivery_id, fakes, answer)


@contextmanager
def erasing_during_send(target_adapter: str, erase, *, after: bool):
    """The erasure commits while the next delivery is being sent: once its requests are ready and
    before they reach the target (``after`` false), or once the target answered and before the
    outcome is recorded (``after``). Hooked where the worker's own thread runs (the PMS's requests
    go out on sending threads, whose database connection does not see this test's transaction)."""
    done: list[bool] = []

    def once() -> None:
        if not done:
            done.append(True)
            erase()

    if after:
        real_persist = outcomes.persist

        def persist(target, results):
            once()
            return real_persist(target, results)

        patch = mock.patch.object(outcomes, "persist", persist)
    elif target_adapter == "pms":
        real_prepare = PMSAdapter.prepare

        def prepare(self, statement, context):
            prepared = real_prepare(self, statement, context)
            once()
            return prepared

        patch = mock.patch.object(PMSAdapter, "prepare", prepare)
    else:  # the marketplace sends from the worker's thread, holding the record's lease
        real_send = MarketplaceAdapter.send

        def send(self, request, context):
            once()
            return real_send(self, request, context)

        patch = mock.patch.object(MarketplaceAdapter, "send", send)
    with patch:
        yield done


def statement(owner: str, index: int, pieces, ids) -> dict:
    scaled, timestamp = pieces[index]
    result = {"completion": True, **({"score": {"scaled": scaled}} if scaled is not None else {})}
    made = make_statement(
        actor_email=EMAIL[owner], activity=COURSE, result=result, timestamp=timestamp, statement_id=ids[index]
    )
    made["actor"]["name"] = NAME[owner]
    return made


def settle(fakes, data) -> None:
    """Everything runs to its end: the deliveries due (hypothesis's order, some failing first),
    the dead letters an admin replays, and the sweep's ``finish_erasures`` (which may queue
    retractions again), until nothing is due and the erasure is done."""
    for _round in range(8):
        run_pending(fakes, data, all_of_them=True)
        deliveries_replay()  # the admin replays what is dead (refused for what must not go)
        run_pending(fakes, data, all_of_them=True, failures=False)
        finish_erasures()
        if not due() and not ErasureRequest.objects.exclude(status=ErasureRequest.DONE).exists():
            return
    raise AssertionError("the deliveries and the erasure did not settle")


def requests_after(fake, mark: int) -> list:
    return [request for request in fake.requests[mark:] if request.route != "token"]


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_after_an_erasure_the_targets_hold_only_the_other_learners_live_statements(
    pms_target, market_target, data
):
    pms, market = pms_target, market_target
    with transaction.atomic():
        pms.reset()
        market.reset()
        identity_links_upsert(employee_id=MEMBER[OTHER], identifiers=Identifiers(emails=[EMAIL[OTHER]]))
        fakes = fakes_by_target(pms, market)
        owners = data.draw(
            st.lists(st.sampled_from([ERASED, OTHER]), min_size=2, max_size=5).filter(
                lambda drawn: ERASED in drawn and OTHER in drawn
            ),
            label="owners",
        )
        pieces = [data.draw(st.tuples(SCORES, TIMESTAMPS), label="evidence") for _ in owners]
        ids = [str(uuid.uuid4()) for _ in owners]
        voided = data.draw(st.sets(st.sampled_from(range(len(owners)))), label="voided")
        voider = {i: data.draw(st.sampled_from(sorted(VOIDERS)), label="voider") for i in sorted(voided)}
        mode = data.draw(st.sampled_from(["delete", "pseudonymise"]), label="mode")
        by_agent = data.draw(st.booleans(), label="erase by agent")
        later = data.draw(
            st.lists(st.sampled_from(["backfill pms", "backfill market", "replay", "relink"]), unique=True),
            label="after the erasure",
        )
        steps = (
            [("store", i) for i in range(len(owners))]
            + [("void", i) for i in voided]
            + [("erase", 0)]
            + [(name, 0) for name in later]
        )
        order = data.draw(st.permutations(steps), label="order")
        # Voids after their statement; what only makes sense after the erasure, after it.
        order = voids_after_their_store(_after_the_erasure(order, later))
        erased_at_mark = {"pms": 0, "market": 0}
        erased_ids: set[str] = set()
        erased = False

        def erase() -> None:
            nonlocal erased
            erased_ids.update(ids[i] for i in range(len(owners)) if owners[i] == ERASED and stored[i])
            subject = (
                subject_for(agent={"mbox": f"mailto:{EMAIL[ERASED]}"})
                if by_agent
                else subject_for(employee_id=MEMBER[ERASED])
            )
            erase_subject(subject, mode=mode, requested_by="dpo")
            erased = True

        stored = [False] * len(owners)
        for kind, index in order:
            if kind == "store":
                statement_store(statements=[statement(owners[index], index, pieces, ids)], credential=None)
                stored[index] = True
            elif kind == "void":
                void = voiding(ids[index], actor_email=VOIDERS[voider[index]])
                statement_store(statements=[void], credential=None)
            elif kind == "erase":
                in_flight = due() and data.draw(st.booleans(), label="erase while a delivery is sent")
                if in_flight:
                    delivery_id = data.draw(st.sampled_from(due()), label="the delivery being sent")
                    target = Delivery.objects.select_related("target").get(id=delivery_id).target
                    after = data.draw(st.booleans(), label="after the target answered")
                    with erasing_during_send(target.adapter, erase, after=after):
                        send(delivery_id, fakes, data.draw(ANSWERS, label="answer"))
                if not erased:  # (the delivery sent nothing: the erasure comes after it)
                    erase()
                # What is sent from here on (the request in flight went before) must not name them.
                erased_at_mark = {"pms": len(pms.requests), "market": len(market.requests)}
            elif kind == "backfill pms":
                backfill(target=Target.objects.get(name="pms"), force=True)
            elif kind == "backfill market":
                backfill(target=Target.objects.get(name="market"), force=True)
            elif kind == "replay":
                name = data.draw(st.sampled_from(["pms", "market"]), label="replay at")
                deliveries_replay(target=Target.objects.get(name=name))
            elif kind == "relink":  # the HRIS feed links the address again: a new record from here on
                identity_links_upsert(
                    employee_id=MEMBER[ERASED], identifiers=Identifiers(emails=[EMAIL[ERASED]])
                )
            expand_outbox()
            run_pending(fakes, data)
        settle(fakes, data)

        relinked = "relink" in later
        live = [i for i in range(len(owners)) if i not in voided]
        others = [i for i in live if owners[i] == OTHER]
        # Stored after the erasure by their address: a new record, reaching the targets once linked.
        fresh = [i for i in live if owners[i] == ERASED and ids[i] not in erased_ids and relinked]

        events = list(pms.events().values())
        held = sorted((event["statementId"], event["employeeId"]) for event in events)
        wanted = sorted([(ids[i], MEMBER[OTHER]) for i in others] + [(ids[i], MEMBER[ERASED]) for i in fresh])
        assert held == wanted, {"mode": mode, "erased": sorted(erased_ids), "held": held}

        def evidence(indexes):
            return [Evidence(ids[i], f"{pieces[i][1][:-1]}.000000Z", pieces[i][0]) for i in indexes]

        skills = market.skills()
        assert set(skills) <= {(MEMBER[OTHER], SKILL), (MEMBER[ERASED], SKILL)}, sorted(skills)
        assert held_record(skills.get((MEMBER[OTHER], SKILL))) == expected_record(evidence(others))
        assert held_record(skills.get((MEMBER[ERASED], SKILL))) == expected_record(evidence(fresh))
        for record in skills.values():
            assert not {item["statementId"] for item in record["evidence"]} & erased_ids, record

        # Nothing sent since the erasure names them or carries an erased statement, but what
        # their new statements (linked again) say.
        for fake in (pms, market):
            for request in requests_after(fake, erased_at_mark["pms" if fake is pms else "market"]):
                body = json.dumps(request.json) if request.json is not None else ""
                carried = {item["statementId"] for item in (request.json or {}).get("evidence", [])}
                carried |= {(request.json or {}).get("statementId")} - {None}
                assert not carried & erased_ids, (request.method, request.path, body)
                if not (relinked and carried):
                    assert EMAIL[ERASED] not in body and NAME[ERASED] not in body, (request.path, body)
                assert NAME[ERASED] not in body

        request = ErasureRequest.objects.get()
        assert request.status == ErasureRequest.DONE, request.counts
        erased_pks = set(Statement.objects.filter(statement_id__in=erased_ids).values_list("id", flat=True))
        if mode == "delete":
            assert not erased_pks
        assert not SkillEvidence.objects.filter(statement_uuid__in=erased_ids).exists()
        # Only the new statements by the unlinked address wait (to be linked): held, as unmapped. A
        # dead letter of a voided statement stays dead: replay refuses it (it would bring it back).
        stuck = Delivery.objects.filter(status__in=[Delivery.HELD, Delivery.DEAD, Delivery.UNKNOWN]).exclude(
            status=Delivery.DEAD, statement_uuid__in=[ids[i] for i in voided]
        )
        waiting = {str(uuid_) for uuid_ in stuck.values_list("statement_uuid", flat=True)}
        assert waiting <= {ids[i] for i in live if owners[i] == ERASED and ids[i] not in erased_ids}, list(
            stuck.values("statement_uuid", "status", "kind", "last_error")
        )
        assert relinked is False or not waiting
        transaction.set_rollback(True)


def _after_the_erasure(order: list[tuple[str, int]], later: list[str]) -> list[tuple[str, int]]:
    """The drawn order with each step that only makes sense after the erasure (a backfill, a
    replay, a new link) moved to just after it, if drawn before."""
    erase = order.index(("erase", 0))
    early = [step for step in order[:erase] if step[0] in later]
    return (
        [step for step in order[:erase] if step[0] not in later] + [("erase", 0), *early] + order[erase + 1 :]
    )
