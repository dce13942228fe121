"""Property: whatever the order statements of two learners, voids, moves of one learner's address
between employees E100 and E200, failed attempts (applied or not) and deliveries happen in:

- once every delivery ran, each member's record is the one the live evidence gives, a statement
  counting for the member its delivery last named (deliveries already made are reported, not
  rewritten: README, Identities; adapters/marketplace/adapter.py);
- after a reconciliation repair (adapters/marketplace/reconcile.py, adapters/reconciliation/
  repair.py: "a repaired target matches on the next run"), each member's record is the one the live
  evidence gives under the links as they are now.

Plus the smallest example hypothesis found against the second, as a plain test."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.base import DELIVER
from adapters.identity.links import Identifiers, identity_links_move, identity_links_upsert
from adapters.identity.resolution import email_lookup_key
from adapters.models import Delivery, IdentityLink, Target
from adapters.reconciliation.run import reconcile
from lrs.statements.store import statement_store
from tests.adapters.helpers import (
    COURSE,
    expand_outbox,
    reconcile_now,
    scored_completion,
    store_now,
    voiding,
    voids_after_their_store,
)
from tests.adapters.helpers import (
    run_pending as shared_run_pending,
)
from tests.adapters.marketplace.expected import Evidence, expected_record, held_record
from tests.adapters.marketplace.test_skill_state_properties import (
    SCORES,
    TIMESTAMPS,
)
from tests.conftest import make_statement

# Examples per property; LRS_MARKETPLACE_IDENTITY_MOVE_EXAMPLES raises them (a longer run) or lowers them.
EXAMPLES = int(os.environ.get("LRS_MARKETPLACE_IDENTITY_MOVE_EXAMPLES", "50"))

pytestmark = pytest.mark.django_db

CODE = "SAFETY-BASICS"
MOVING = "learner@example.com"  # E100's in the fixture; moves between E100 and E200
OTHER = "colleague@example.com"  # E200's, when drawn: never moves
MEMBERS = ("E100", "E200")


def member_of(email: str) -> str:
    return IdentityLink.objects.get(lookup_key=email_lookup_key(email)).employee_id


def move_learner() -> None:
    """The learner's address moves to the other employee (a wrong import corrected)."""
    now = member_of(MOVING)
    identity_links_move(
        identifiers=Identifiers(emails=[MOVING]),
        from_employee_id=now,
        to_employee_id={"E100": "E200"}.get(now, "E100"),
    )


def run_pending(
    marketplace, data, named: dict[str, str], learner: dict[str, str], *, all_of_them=False
) -> None:
    """``helpers.run_pending``, noting in ``named`` the member each statement's delivery named at
    its last attempt."""

    def note_member(delivery_id: int) -> None:
        row = Delivery.objects.get(id=delivery_id)
        if row.kind == DELIVER and str(row.statement_uuid) in learner:
            named[str(row.statement_uuid)] = member_of(learner[str(row.statement_uuid)])

    shared_run_pending(marketplace, data, all_of_them=all_of_them, after=note_member)


def records(marketplace) -> dict[str, dict | None]:
    skills = marketplace.skills()
    assert set(skills) <= {(member, CODE) for member in MEMBERS}, skills
    return {member: held_record(skills.get((member, CODE))) for member in MEMBERS}


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_moves_leave_each_member_the_record_its_live_evidence_gives(market_target, data):
    marketplace = market_target
    with transaction.atomic():
        marketplace.reset()
        colleague = data.draw(st.booleans(), label="a colleague at E200")
        if colleague:
            identity_links_upsert(employee_id="E200", identifiers=Identifiers(emails=[OTHER]))
        learners = st.sampled_from([MOVING, MOVING, OTHER]) if colleague else st.just(MOVING)
        pieces = data.draw(
            st.lists(st.tuples(learners, SCORES, TIMESTAMPS), min_size=1, max_size=6), label="evidence"
        )
        ids = [str(uuid.uuid4()) for _ in pieces]
        learner = {ids[i]: email for i, (email, _s, _t) in enumerate(pieces)}
        voided = data.draw(st.sets(st.sampled_from(range(len(pieces))), max_size=1), label="voided")
        moves = data.draw(st.sampled_from([1, 1, 2]), label="moves")
        steps = (
            [("store", i) for i in range(len(pieces))]
            + [("void", i) for i in voided]
            + [("move", m) for m in range(moves)]
        )
        named: dict[str, str] = {}
        for kind, index in voids_after_their_store(data.draw(st.permutations(steps), label="order")):
            if kind == "move":
                move_learner()
                run_pending(marketplace, data, named, learner)
                continue
            if kind == "store":
                email, scaled, timestamp = pieces[index]
                result = {"completion": True, **({"score": {"scaled": scaled}} if scaled is not None else {})}
                statement = make_statement(
                    actor_email=email,
                    activity=COURSE,
                    result=result,
                    timestamp=timestamp,
                    statement_id=ids[index],
                )
                statement_store(statements=[statement], credential=None)
            else:
                statement_store(statements=[voiding(ids[index])], credential=None)
            expand_outbox()
            run_pending(marketplace, data, named, learner)
        run_pending(marketplace, data, named, learner, all_of_them=True)

        def expected(member_for) -> dict[str, dict | None]:
            live = [
                (ids[i], Evidence(ids[i], f"{timestamp[:-1]}.000000Z", scaled))
                for i, (_email, scaled, timestamp) in enumerate(pieces)
                if i not in voided
            ]
            return {
                member: expected_record([item for sid, item in live if member_for(sid) == member])
                for member in MEMBERS
            }

        stuck = Delivery.objects.filter(status__in=[Delivery.HELD, Delivery.DEAD, Delivery.UNKNOWN])
        assert not stuck.exists(), list(stuck.values_list("kind", "status", "last_error"))
        # Reported, not rewritten: each statement is evidence for the member its delivery last named.
        assert records(marketplace) == expected(named.__getitem__), named

        # A reconciliation repair (its deliveries in hypothesis's order, some failing) moves what
        # the links name now.
        now = timezone.now()
        reconcile(
            target=Target.objects.get(name="market"),
            since=now - timedelta(hours=1),
            until=now + timedelta(minutes=1),
            repair=True,
        )
        run_pending(marketplace, data, named, learner, all_of_them=True)
        current = {email: member_of(email) for email in set(learner.values())}
        assert records(marketplace) == expected(lambda sid: current[learner[sid]]), current
        assert not stuck.exists(), list(stuck.values_list("kind", "status", "last_error"))
        transaction.set_rollback(True)


def test_one_repair_after_a_move_moves_all_of_a_records_evidence(
    market_target, django_capture_on_commit_callbacks
):
    """Three statements delivered to E100, the learner's address moved to E200, one repair: the
    repair ran again the delivery of one moved statement per mismatched record (E100's, E200's),
    so the third stayed E100's evidence. E100 kept a record of E200's learner, E200's record missed
    a statement, and the next run found both different (a repaired target must match on it)."""
    capture = django_capture_on_commit_callbacks
    ids = [
        store_now(capture, scored_completion(0.8, timestamp=f"2026-03-0{day}T10:00:00Z"))[0]
        for day in (1, 2, 3)
    ]
    move_learner()
    reconcile_now(capture, "market", repair=True)
    skills = market_target.skills()
    assert set(skills) == {("E200", CODE)}, {key: held_record(record) for key, record in skills.items()}
    assert held_record(skills[("E200", CODE)])["evidence"] == ids[::-1]
    after = reconcile_now(capture, "market")
    assert after.drift_percent == 0.0, after.mismatches
