"""Property: whatever the order statements, voids, failed attempts (applied or not) and deliveries
happen in, the marketplace ends with the record a from-scratch computation over the live evidence
gives."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.delivery.drain import delivery_send
from adapters.models import Delivery, Target
from lrs.statements.store import statement_store
from tests.adapters.helpers import COURSE, expand_outbox, voiding, voids_after_their_store
from tests.adapters.marketplace.expected import Evidence, expected_record, held_record
from tests.conftest import make_statement
from tests.targets.behaviours import applied_then, status

pytestmark = pytest.mark.django_db

SCORES = st.sampled_from([None, 0.3, 0.55, 0.8, 0.95])
TIMESTAMPS = st.builds(
    lambda day, hour: f"2026-03-{day:02d}T{hour:02d}:00:00Z", st.integers(1, 9), st.integers(0, 23)
)


def run_pending(marketplace, data, *, all_of_them: bool = False) -> None:
    """Run due deliveries in an order hypothesis chooses, some after a failed attempt: as many as
    it chooses (a failed one may still wait when the next statement or void comes), or all."""
    while True:
        due = list(
            Delivery.objects.filter(status__in=[Delivery.PENDING, Delivery.RETRYING]).values_list(
                "id", flat=True
            )
        )
        if not due or (not all_of_them and not data.draw(st.booleans(), label="deliver one more")):
            return
        delivery_id = data.draw(st.sampled_from(sorted(due)), label="deliver")
        attempts = Delivery.objects.get(id=delivery_id).attempts
        # A few failed attempts, never enough to give up: a 500 the marketplace did not apply, or
        # one it applied before failing to answer (the sender cannot tell which).
        failure = data.draw(st.sampled_from([None, status(500), applied_then(500)]), label="answer")
        if attempts < 3 and failure is not None:
            marketplace.enqueue(failure)
        Delivery.objects.filter(id=delivery_id).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        # The property is about state, not pacing: failed attempts must not pause the target.
        Target.objects.update(paused_until=None, consecutive_failures=0)
        delivery_send(delivery_id)
        marketplace.clear_queue()  # a failure not used by this delivery (it sent nothing) lapses


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_interleaving_ends_with_the_record_the_live_evidence_gives(market_target, data):
    marketplace = market_target
    with transaction.atomic():
        marketplace.reset()
        pieces = data.draw(st.lists(st.tuples(SCORES, TIMESTAMPS), min_size=1, max_size=5), label="evidence")
        ids = [str(uuid.uuid4()) for _ in pieces]
        voided = data.draw(st.sets(st.sampled_from(range(len(pieces)))), label="voided")
        # Each piece is stored, then perhaps voided; deliveries run whenever hypothesis says.
        steps = [("store", i) for i in range(len(pieces))] + [("void", i) for i in voided]
        order = voids_after_their_store(data.draw(st.permutations(steps), label="order"))
        for kind, index in order:
            if kind == "store":
                scaled, timestamp = pieces[index]
                result = {"completion": True, **({"score": {"scaled": scaled}} if scaled is not None else {})}
                statement = make_statement(
                    actor_email="learner@example.com",
                    activity=COURSE,
                    result=result,
                    timestamp=timestamp,
                    statement_id=ids[index],
                )
                statement_store(statements=[statement], credential=None)
            else:
                statement_store(statements=[voiding(ids[index])], credential=None)
            expand_outbox()
            run_pending(marketplace, data)
        run_pending(marketplace, data, all_of_them=True)
        live = [
            Evidence(ids[i], f"{pieces[i][1][:-1]}.000000Z", pieces[i][0])
            for i in range(len(pieces))
            if i not in voided
        ]
        held = marketplace.skills().get(("E100", "SAFETY-BASICS"))
        assert held_record(held) == expected_record(live)
        transaction.set_rollback(True)
