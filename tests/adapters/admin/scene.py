"""What the admin tests look at: a webhook target "hook" whose receiver refused one statement
(a dead delivery whose attempt recorded the request), a delivered one, and a paused target
"paused-hook" holding deliveries for learners not linked yet."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
import responses
from django.utils import timezone

from adapters.models import Delivery, Target
from lrs.statements.models import Statement
from lrs.statements.store import statement_store
from tests.conftest import HOOK, make_statement

PASSED = "http://adlnet.gov/expapi/verbs/passed"


@dataclass
class Scene:
    hook: Target
    paused: Target
    dead: Delivery
    delivered: Delivery
    held_statements: list[Statement]


def build_scene(monkeypatch: pytest.MonkeyPatch, *, capture=None) -> Scene:
    """Stores statements through the real engine (deliveries run after commit: ``capture`` runs
    them inside a test transaction)."""
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "s3cret-value")
    hook = Target.objects.create(
        name="hook", adapter="webhook", config={"url": HOOK, "secret": {"env": "TEST_WEBHOOK_SECRET"}}
    )
    with responses.RequestsMock() as mock:
        mock.post(HOOK, status=200, body="ok")
        mock.post(HOOK, status=400, body='{"error": "unknown course"}')

        def store(statement: dict) -> str:
            if capture is None:
                return statement_store(statements=[statement], credential=None)[0]
            with capture(execute=True):
                return statement_store(statements=[statement], credential=None)[0]

        delivered_id = store(make_statement(actor_email="ann@example.com"))
        dead_id = store(make_statement(actor_email="bob@example.com", verb=PASSED))
    paused = Target.objects.create(
        name="paused-hook",
        adapter="webhook",
        enabled=True,
        config={"url": HOOK + "/paused", "secret": {"env": "TEST_WEBHOOK_SECRET"}},
        paused_until=timezone.now() + timedelta(minutes=10),
        consecutive_failures=7,
    )
    now = timezone.now()
    held = list(Statement.objects.order_by("id"))
    for index, statement in enumerate(held):
        Delivery.objects.create(
            target=paused,
            statement=statement,
            statement_uuid=statement.statement_id,
            status=Delivery.HELD,
            held_key=f"email:held{index}@example.com",
            idempotency_key=f"{statement.statement_id}:paused-hook:deliver",
            next_attempt_at=now,
        )
    return Scene(
        hook=hook,
        paused=paused,
        dead=Delivery.objects.get(statement_uuid=dead_id, target=hook),
        delivered=Delivery.objects.get(statement_uuid=delivered_id, target=hook),
        held_statements=held,
    )
