"""Review of the claim fence (8b47605): a request must not only start before its claim runs out,
it must be able to end before it does.

``drain.claim_seconds`` sizes a claim so that every send *ends* before it ("a claim that ran out
while a send was still being made would let the sweep hand the delivery to another worker, which
could make it a second time"), and ``pacing.claims.split_deadline`` stops splitting arrays a request's
timeout before the claim's end for the same reason. The pre-send check only asked whether the
claim had *already* passed: a worker that reaches a send one second before its claim ends (it
stalled until then, or its batch ran long) still starts a request that may take the target's
whole timeout. The sweep then puts the delivery back while the request is out, and the new
outcome fence drops the request's success: the delivery is sent a second time (for an adapter
that may not re-send an unknown outcome, Teams or a Slack incoming webhook, it is parked as
"outcome unknown" for an admin instead), where before the fence the success was recorded.
"""

from __future__ import annotations

import time

import pytest
import responses

from adapters.delivery import batch, outcomes, queue, sweep
from adapters.delivery import drain as drains
from adapters.models import Delivery
from tests.adapters.helpers import claimed_until, pending_deliveries
from tests.conftest import HOOK

pytestmark = pytest.mark.django_db(transaction=True)

LEFT = 1.0  # seconds left of the claim when the worker reaches the send (the target's timeout: 10 s)


@responses.activate
def test_a_request_that_cannot_end_before_the_claim_runs_out_is_not_started(target, monkeypatch):
    """(A sequential batch renews its claim instead, while it is still its own:
    ``test_claim_renewal.py``.)"""
    responses.post(HOOK, status=200)
    pending_deliveries(2, monkeypatch)
    claimed = claimed_until(target, LEFT)

    waited = batch.run(target, claimed)

    assert len(responses.calls) == 0
    assert {(outcome.status, outcome.counted) for outcome in waited} == {(Delivery.RETRYING, False)}


@responses.activate
def test_a_send_started_just_before_the_claim_ended_is_not_made_twice(target, monkeypatch):
    """The request takes 1.3 s (well within the target's 10 s timeout) and the sweep runs while it
    is out, as it would for any claim past its end; then another worker drains the target."""
    monkeypatch.setattr(queue, "request_drain", lambda *args, **kwargs: None)  # the test runs the drains
    posts: list[str] = []
    first = []

    def answer(request):
        posts.append(request.headers["Idempotency-Key"])
        if not first:
            first.append(request)
            time.sleep(LEFT + 0.3)  # the target is slow to answer; the claim runs out meanwhile
            sweep.sweep_due()
        return (200, {}, "{}")

    responses.add_callback(responses.POST, HOOK, callback=answer)
    pending_deliveries(1, monkeypatch)
    claimed = claimed_until(target, LEFT)

    outcomes.persist(target, batch.run(target, claimed))  # the worker whose claim was running out
    drains._one_batch(target)  # another worker, on whatever the sweep put back
    time.sleep(outcomes.BUSY_WAIT_SECONDS + 0.1)  # a send put back unsent comes due again
    drains._one_batch(target)

    assert Delivery.objects.get().status == Delivery.DELIVERED
    assert len(posts) == 1, f"the delivery was posted {len(posts)} times"
