"""Sending deliveries: a worker runs ``delivery_send``: claim atomically, translate, send,
record the attempt, then delivered, retry later, held or dead letter. The rows are created by
``adapters.delivery.outbox`` (from the storing transaction's outbox entry) and
``adapters.delivery.replay``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from adapters import correlation
from adapters.base import RETRACT, AdapterError, DeliveryContext, DeliveryHeld
from adapters.delivery import pacing, queue
from adapters.delivery.retry import RetryPolicy, decide
from adapters.models import Attempt, Delivery, Target
from adapters.registry import adapter_class
from adapters.secrets import SecretUnavailable, resolve_all
from lrs.statements.selectors import statements_by_pk

logger = logging.getLogger(__name__)

# A retraction whose original is still being sent waits this long before looking again.
DEPENDENCY_WAIT_SECONDS = 5


def retry_policy(target: Target) -> RetryPolicy:
    return RetryPolicy(
        base_seconds=settings.LRS_RETRY_BASE_SECONDS,
        cap_seconds=settings.LRS_RETRY_CAP_SECONDS,
        max_age_seconds=settings.LRS_RETRY_MAX_AGE_SECONDS,
        max_attempts=target.max_attempts,
    )


def delivery_claim(delivery_id: int) -> Delivery | None:
    """Take a due delivery for this worker, atomically: a duplicate task finds nothing to do."""
    now = timezone.now()
    due = Q(status__in=[Delivery.PENDING, Delivery.RETRYING], next_attempt_at__lte=now) | Q(
        status=Delivery.IN_FLIGHT, claimed_until__lt=now
    )
    claimed = Delivery.objects.filter(due, id=delivery_id).update(
        status=Delivery.IN_FLIGHT,
        claimed_until=now + timedelta(seconds=settings.LRS_DELIVERY_CLAIM_SECONDS),
        attempts=F("attempts") + 1,
        updated_at=now,
    )
    if not claimed:
        return None
    return Delivery.objects.select_related("target", "depends_on").get(id=delivery_id)


def _release(delivery: Delivery, *, at, reason: str, count_attempt: bool = False) -> None:
    """Put a claimed delivery back without counting it as an attempt (paused, rate-limited, waiting)."""
    Delivery.objects.filter(id=delivery.id).update(
        status=Delivery.RETRYING,
        next_attempt_at=at,
        claimed_until=None,
        attempts=F("attempts") - (0 if count_attempt else 1),
        last_error=reason,
        updated_at=timezone.now(),
    )
    queue.later(delivery.id, at)


def delivery_send(delivery_id: int, *, policy: RetryPolicy | None = None) -> str | None:
    """Run one delivery attempt; returns the resulting status (None when there was nothing to do)."""
    delivery = delivery_claim(delivery_id)
    if delivery is None:
        return None
    target = delivery.target
    with correlation.bound(delivery.correlation_id):
        if not target.enabled:
            _finish(
                delivery, Delivery.CANCELLED, error=f"target disabled: {target.disabled_reason or 'by admin'}"
            )
            return Delivery.CANCELLED
        waiting = _dependency_wait(delivery)
        if waiting is not None:
            return waiting
        now = timezone.now()
        if not pacing.may_send(target, now):
            _release(
                delivery, at=pacing.resume_at(target, now), reason="target paused after repeated failures"
            )
            return Delivery.RETRYING
        if not pacing.rate_allows(target):
            _release(delivery, at=now + timedelta(seconds=1), reason="rate limited")
            return Delivery.RETRYING
        return _attempt(delivery, policy or retry_policy(target))


def _dependency_wait(delivery: Delivery) -> str | None:
    original = delivery.depends_on
    if original is None:
        return None
    if original.status == Delivery.DELIVERED:
        return None
    if original.status in (Delivery.CANCELLED, Delivery.DEAD):
        _finish(delivery, Delivery.CANCELLED, error="the original delivery was never made")
        return Delivery.CANCELLED
    _release(
        delivery,
        at=timezone.now() + timedelta(seconds=DEPENDENCY_WAIT_SECONDS),
        reason="waiting for the original delivery",
    )
    return Delivery.RETRYING


def _attempt(delivery: Delivery, policy: RetryPolicy) -> str:
    target = delivery.target
    started = timezone.now()
    context = DeliveryContext(
        target_name=target.name,
        kind=delivery.kind,
        idempotency_key=delivery.idempotency_key,
        correlation_id=delivery.correlation_id,
        attempt=delivery.attempts,
    )
    try:
        [statement] = statements_by_pk([delivery.statement_id])
        cls = adapter_class(target.adapter)
        adapter = cls(target.config, resolve_all(target.config, cls.config_schema))
        context = replace(context, resolved=adapter.resolve(statement, context))
        if delivery.kind == RETRACT:
            requests = adapter.translate_retraction(statement, context)
        else:
            requests = adapter.translate(statement, context)
        result = None
        # An adapter may make several requests for one statement (one per competency, say);
        # each has its own idempotency key, so a retry re-sends all of them harmlessly.
        for request in requests if isinstance(requests, list) else [requests]:
            result = adapter.send(request, context)
    except DeliveryHeld as held:
        return _hold(delivery, held, started)
    except (AdapterError, SecretUnavailable) as exc:
        error = exc if isinstance(exc, AdapterError) else AdapterError(str(exc))
        return _failed(delivery, error, started, policy)
    status_code = result.status_code if result is not None else None
    _record(
        delivery, started, Attempt.SUCCESS, status_code=status_code, excerpt=result.body if result else ""
    )
    _finish(delivery, Delivery.DELIVERED, status_code=status_code)
    pacing.record_success(target)
    logger.info("delivered %s to %s (attempt %d)", delivery.idempotency_key, target.name, delivery.attempts)
    return Delivery.DELIVERED


def _hold(delivery: Delivery, held: DeliveryHeld, started) -> str:
    """Park the delivery until its key resolves; holding is not a failed attempt of the target."""
    _record(delivery, started, Attempt.HELD, error=str(held))
    Delivery.objects.filter(id=delivery.id).update(
        status=Delivery.HELD,
        held_key=held.key,
        claimed_until=None,
        attempts=F("attempts") - 1,
        last_error=str(held),
        updated_at=timezone.now(),
    )
    logger.info("delivery %s held: %s", delivery.idempotency_key, held)
    return Delivery.HELD


def _failed(delivery: Delivery, error: AdapterError, started, policy: RetryPolicy) -> str:
    target = delivery.target
    age = (started - delivery.created_at).total_seconds()
    decision = decide(
        attempt=delivery.attempts,
        age_seconds=age,
        permanent=error.permanent,
        retry_after=error.retry_after,
        policy=policy,
    )
    outcome = Attempt.RETRY if decision.retry else Attempt.DEAD
    _record(
        delivery,
        started,
        outcome,
        status_code=error.status_code,
        excerpt=error.response_body,
        error=error.message,
    )
    pacing.record_failure(target, disable=error.disable_target, reason=error.message)
    logger.warning(
        "delivery %s to %s failed (attempt %d): %s",
        delivery.idempotency_key,
        target.name,
        delivery.attempts,
        error.message,
    )
    if decision.retry:
        at = timezone.now() + timedelta(seconds=decision.delay_seconds)
        Delivery.objects.filter(id=delivery.id).update(
            status=Delivery.RETRYING,
            next_attempt_at=at,
            claimed_until=None,
            last_error=error.message,
            last_status_code=error.status_code,
            updated_at=timezone.now(),
        )
        queue.later(delivery.id, at)
        return Delivery.RETRYING
    _finish(
        delivery, Delivery.DEAD, error=f"{error.message} ({decision.reason})", status_code=error.status_code
    )
    return Delivery.DEAD


def _record(delivery: Delivery, started, outcome: str, *, status_code=None, excerpt="", error="") -> None:
    Attempt.objects.create(
        delivery=delivery,
        number=delivery.attempts,
        started_at=started,
        duration_ms=int((timezone.now() - started).total_seconds() * 1000),
        status_code=status_code,
        outcome=outcome,
        error=error[:2000],
        response_excerpt=(excerpt or "")[:2000],
    )


def _finish(delivery: Delivery, status: str, *, error: str = "", status_code: int | None = None) -> None:
    now = timezone.now()
    Delivery.objects.filter(id=delivery.id).update(
        status=status,
        claimed_until=None,
        last_error=error,
        last_status_code=status_code,
        delivered_at=now if status == Delivery.DELIVERED else None,
        updated_at=now,
    )
