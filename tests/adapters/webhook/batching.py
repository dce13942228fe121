"""Helpers of the webhook batch tests: a batched target, storing without the eager fan-out, and
one drained batch at a time."""

from __future__ import annotations

from django.utils import timezone

from adapters.delivery import drain as drains
from adapters.delivery import outbox
from adapters.models import Delivery, Target
from lrs.statements.store import statement_store
from tests.adapters.helpers import expand_outbox
from tests.targets.webhook_server import WebhookServer


def batched_target(receiver: WebhookServer, batch_size: int) -> Target:
    config = {"url": receiver.url, "secret": {"env": "TEST_BATCH_SECRET"}, "timeout_seconds": 2}
    return Target.objects.create(
        name="batched", adapter="webhook", config={**config, "batch_size": batch_size}, concurrency=4
    )


def store_pending(monkeypatch, *statements: dict) -> list[str]:
    """Store without the eager fan-out at commit; the deliveries wait for a drain."""
    with monkeypatch.context() as patched:
        patched.setattr(outbox, "expand_and_queue", lambda batch_ids, **kwargs: None)
        ids = statement_store(statements=list(statements), credential=None)
    expand_outbox()
    return ids


def drain_round(target: Target) -> None:
    """One drained batch of whatever is due, retries included, with the breaker closed: the
    properties here are about what the receiver holds, not about pacing."""
    Delivery.objects.filter(status=Delivery.RETRYING).update(next_attempt_at=timezone.now())
    Target.objects.filter(pk=target.pk).update(paused_until=None, consecutive_failures=0)
    target.refresh_from_db()
    drains._one_batch(target)
