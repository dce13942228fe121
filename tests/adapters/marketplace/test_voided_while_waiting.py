"""A statement voided after its marketplace batch read it, before its delivery ran: the delivery
re-reads it once it holds its records (``MarketplaceAdapter._as_stored_now``) and sends nothing.
It ends *cancelled*, naming why, as a delivery whose statement was voided before it was claimed
does (``batch._not_live``): it made no effect, and an admin counting delivered statements, or
the delivered-per-target metric, must not count it."""

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
from lrs.statements.store import statement_store
from tests.adapters.helpers import COURSE, expand_outbox
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db

VOIDED = "http://adlnet.gov/expapi/verbs/voided"


def _send(delivery_id: int) -> None:
    Delivery.objects.filter(id=delivery_id).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    Target.objects.update(paused_until=None, consecutive_failures=0)
    delivery_send(delivery_id)


def test_a_statement_voided_while_its_delivery_waited_ends_cancelled_and_the_marketplace_holds_nothing(
    market_target, monkeypatch
):
    identity_links_upsert(employee_id="E100", identifiers=Identifiers(emails=["learner@example.com"]))
    s = str(uuid.uuid4())
    completion = make_statement(
        actor_email="learner@example.com",
        activity=COURSE,
        result={"completion": True, "score": {"scaled": 0.8}},
        statement_id=s,
    )
    statement_store(statements=[completion], credential=None)
    expand_outbox()
    real_prefetch = MarketplaceAdapter.prefetch
    voiding = str(uuid.uuid4())

    @contextmanager
    def prefetch_then_void(self: MarketplaceAdapter, statements: list[dict]) -> Iterator[None]:
        with real_prefetch(self, statements):
            void = make_statement(
                actor_email="admin@example.com",
                verb=VOIDED,
                statement_id=voiding,
                object={"objectType": "StatementRef", "id": s},
            )
            statement_store(statements=[void], credential=None)
            yield

    monkeypatch.setattr(MarketplaceAdapter, "prefetch", prefetch_then_void)
    delivery = Delivery.objects.get(statement_uuid=s, kind="deliver")
    _send(delivery.id)
    monkeypatch.setattr(MarketplaceAdapter, "prefetch", real_prefetch)

    status, reason = Delivery.objects.values_list("status", "last_error").get(id=delivery.id)
    assert status == Delivery.CANCELLED, (status, reason)
    assert f"voided by {voiding}" in reason
    assert market_target.skills() == {}
    assert not SkillEvidence.objects.exists()
    expand_outbox()
    for retraction in Delivery.objects.filter(kind="retract"):
        _send(retraction.id)
    assert market_target.skills() == {}
