"""Property: whatever the order statements, voids, moves of the learner's identity to another
employee, failed attempts (applied or not) and deliveries happen in, the PMS holds one learning
event per live statement and none for a voided one; a PMS keeping history (``retraction:
"event"``) holds, for a voided statement it took, its event and a retraction naming the same
employee (the adapter's contract, adapters/pms/adapter.py)."""

from __future__ import annotations

import os
import uuid

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.identity.links import Identifiers, identity_links_move
from adapters.models import Delivery, IdentityLink, Target
from lrs.statements.store import statement_store
from tests.adapters.helpers import COURSE, expand_outbox, run_pending, voiding, voids_after_their_store
from tests.conftest import make_statement

# Examples per property; LRS_PMS_EVENT_EXAMPLES raises them (a longer run) or lowers them.
EXAMPLES = int(os.environ.get("LRS_PMS_EVENT_EXAMPLES", "40"))

pytestmark = pytest.mark.django_db

LEARNER = Identifiers(emails=["learner@example.com"])


def move_learner() -> None:
    """The learner's e-mail moves to the other employee (a wrong import corrected)."""
    now = IdentityLink.objects.get(lookup_key__startswith="email:").employee_id
    identity_links_move(
        identifiers=LEARNER, from_employee_id=now, to_employee_id={"E100": "E200"}.get(now, "E100")
    )


@pytest.mark.parametrize("retraction", ["delete", "event"])
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_interleaving_leaves_the_pms_holding_what_the_live_statements_say(pms_target, retraction, data):
    pms = pms_target
    with transaction.atomic():
        pms.reset()
        target = Target.objects.get(name="pms")
        Target.objects.filter(pk=target.pk).update(config={**target.config, "retraction": retraction})
        count = data.draw(st.integers(1, 4), label="statements")
        ids = [str(uuid.uuid4()) for _ in range(count)]
        voided = data.draw(st.sets(st.sampled_from(range(count))), label="voided")
        moves = data.draw(st.integers(0, 2), label="moves")
        steps = (
            [("store", i) for i in range(count)]
            + [("void", i) for i in voided]
            + [("move", m) for m in range(moves)]
        )
        for kind, index in voids_after_their_store(data.draw(st.permutations(steps), label="order")):
            if kind == "move":
                move_learner()
                continue
            if kind == "store":
                statement = make_statement(
                    actor_email="learner@example.com",
                    activity=COURSE,
                    result={"completion": True},
                    statement_id=ids[index],
                )
                statement_store(statements=[statement], credential=None)
            else:
                statement_store(statements=[voiding(ids[index])], credential=None)
            expand_outbox()
            run_pending(pms, data)
        run_pending(pms, data, all_of_them=True)

        events = list(pms.events().values())
        for index, statement_id in enumerate(ids):
            own = [event for event in events if event["statementId"] == statement_id]
            taken = [event["employeeId"] for event in own if event["eventType"] != "retraction"]
            retracted = [event["employeeId"] for event in own if event["eventType"] == "retraction"]
            if index not in voided:
                assert len(taken) == 1 and not retracted, own
            elif retraction == "delete":
                assert own == []
            else:  # history: nothing, or what it took and its retraction, for the same employee
                assert len(taken) <= 1 and retracted == taken, own
        assert not Delivery.objects.filter(
            status__in=[Delivery.HELD, Delivery.DEAD, Delivery.UNKNOWN]
        ).exists()
        transaction.set_rollback(True)
