"""An erasure that commits while a marketplace batch runs: the batch read its statements and
prefetched their identity links before the erasure, and its delivery of the erased person's
statement runs after. The marketplace must not keep the person's skill."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.utils import timezone

from adapters.delivery.drain import delivery_send
from adapters.identity.links import Identifiers, identity_links_upsert
from adapters.marketplace.adapter import MarketplaceAdapter
from adapters.models import Delivery, SkillEvidence, Target
from adapters.privacy.erasure import erase_subject, finish_erasures
from adapters.privacy.subjects import subject_for
from lrs.statements.store import statement_store
from tests.adapters.helpers import COURSE, expand_outbox
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db


def _send(delivery_id: int) -> None:
    Delivery.objects.filter(id=delivery_id).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    Target.objects.update(paused_until=None, consecutive_failures=0)
    delivery_send(delivery_id)


def _agent(address: str) -> dict:
    return {"objectType": "Agent", "mbox": f"mailto:{address}"}


# The learner alone, and an anonymous Group of two of their addresses (all members erased).
ACTORS = {
    "agent": _agent("learner@example.com"),
    "group": {"objectType": "Group", "member": [_agent("learner@example.com"), _agent("la@example.com")]},
}


@pytest.mark.parametrize("actor", sorted(ACTORS))
@pytest.mark.parametrize("mode", ["pseudonymise", "delete"])
def test_an_erasure_committed_while_a_batch_runs_leaves_no_skill_of_the_person_at_the_marketplace(
    market_target, monkeypatch, mode, actor
):
    """The erasure of E100 commits after a marketplace batch read S and prefetched its actor's
    identity links, before its delivery of S runs (no evidence rows yet to flag). Pseudonymised,
    S names no one now, and never will: nothing to send (it was once held for good, as an
    unmapped pseudonym); hidden (delete mode): nothing to send, cancelled."""
    identity_links_upsert(employee_id="E100", identifiers=Identifiers(emails=["la@example.com"]))
    s = str(uuid.uuid4())
    completion = make_statement(
        activity=COURSE,
        result={"completion": True, "score": {"scaled": 0.8}},
        timestamp="2026-03-01T10:00:00Z",
        statement_id=s,
        actor=ACTORS[actor],
    )
    statement_store(statements=[completion], credential=None)
    expand_outbox()
    real_prefetch = MarketplaceAdapter.prefetch

    @contextmanager
    def prefetch_then_erasure(self: MarketplaceAdapter, statements: list[dict]) -> Iterator[None]:
        with real_prefetch(self, statements):
            erase_subject(subject_for(employee_id="E100"), mode=mode, requested_by="dpo")
            yield

    monkeypatch.setattr(MarketplaceAdapter, "prefetch", prefetch_then_erasure)
    delivery = Delivery.objects.get(statement_uuid=s, kind="deliver")
    _send(delivery.id)
    monkeypatch.setattr(MarketplaceAdapter, "prefetch", real_prefetch)
    outcome = Delivery.objects.values_list("status", "last_error").get(id=delivery.id)
    # Sent nothing; not held. Hidden (delete mode), it is cancelled as one claimed so would be.
    assert outcome[0] == (Delivery.CANCELLED if mode == "delete" else Delivery.DELIVERED), outcome
    assert market_target.skills() == {}, outcome
    assert not SkillEvidence.objects.exists()  # none recorded the erasure could not flag
    for retraction in Delivery.objects.filter(kind="retract"):
        _send(retraction.id)
    finish_erasures()
    states = list(Delivery.objects.values_list("kind", "status", "last_error"))
    assert market_target.skills() == {}, (market_target.skills(), states)
    assert not SkillEvidence.objects.exists(), list(SkillEvidence.objects.values("member_id", "erased_at"))
