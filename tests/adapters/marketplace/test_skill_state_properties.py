"""Property: whatever the order statements, voids, failed attempts (applied or not) and deliveries
happen in, the marketplace ends with the record a from-scratch computation over the live evidence
gives."""

from __future__ import annotations

import os
import uuid

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrs.statements.store import statement_store
from tests.adapters.helpers import COURSE, expand_outbox, run_pending, voiding, voids_after_their_store
from tests.adapters.marketplace.expected import Evidence, expected_record, held_record
from tests.conftest import make_statement

# Examples per property; LRS_MARKETPLACE_SKILL_STATE_EXAMPLES raises them (a longer run) or lowers them.
EXAMPLES = int(os.environ.get("LRS_MARKETPLACE_SKILL_STATE_EXAMPLES", "60"))

pytestmark = pytest.mark.django_db

SCORES = st.sampled_from([None, 0.3, 0.55, 0.8, 0.95])
TIMESTAMPS = st.builds(
    lambda day, hour: f"2026-03-{day:02d}T{hour:02d}:00:00Z", st.integers(1, 9), st.integers(0, 23)
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
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
