"""Sending deliveries: a worker runs ``delivery_send``: claim atomically, translate, send,
record the attempt, then delivered, retry later, held or dead letter. The rows are created by
``adapters.delivery.outbox`` (from the storing transaction's outbox entry) and
``adapters.delivery.replay``.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from adapters import correlation
from adapters.base import (
    DELIVER,
    AdapterError,
    DeliveryBusy,
    DeliveryContext,
    DeliveryHeld,
    NothingToSend,
    SendResult,
)
from adapters.delivery import pacing, queue
from adapters.delivery.retry import RetryPolicy, decide
from adapters.models import Attempt, Delivery, Target
from adapters.registry import adapter_class
from adapters.secrets import SecretUnavailable, resolve_all
from lrs.statements.selectors import statements_by_pk, voided_by

logger = logging.getLogger(__name__)

# A retraction whose original is still being sent waits this long before looking again.
DEPENDENCY_WAIT_SECONDS = 5
# A delivery whose state at the target another delivery is changing waits this long.
BUSY_WAIT_SECONDS = 1


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
        # Still in flight past its claim: its worker died mid-send, perhaps after sending.
        maybe_applied=Case(When(status=Delivery.IN_FLIGHT, then=Value(True)), default=F("maybe_applied")),
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
            reason = f"target disabled: {target.disabled_reason or 'by admin'}"
            _finish(delivery, Delivery.CANCELLED, error=reason, unsent=True)
            return Delivery.CANCELLED
        if delivery.kind == DELIVER:
            statement = _live_statement(delivery)
            if statement is None:
                return Delivery.CANCELLED
        else:
            statement = next(iter(statements_by_pk([delivery.statement_id])), None)
            if statement is None:
                _finish(delivery, Delivery.CANCELLED, error="the statement is no longer stored", unsent=True)
                return Delivery.CANCELLED
        adapter_cls = adapter_class(target.adapter)
        waiting = _dependency_wait(delivery) if adapter_cls.retraction_needs_original else None
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
        return _attempt(delivery, statement, policy or retry_policy(target))


def _live_statement(delivery: Delivery) -> dict | None:
    """The statement of a delivery about to be sent, read at the moment it is claimed: a voided
    (or erased) statement is never sent, whoever queued it (replay, backfill, retry, sweep).
    None, with the delivery cancelled, when it is not live."""
    statement = next(iter(statements_by_pk([delivery.statement_id], live_only=True)), None)
    if statement is None:
        voiding_id = voided_by([delivery.statement_id]).get(delivery.statement_id)
        reason = (
            f"statement {delivery.statement_uuid} was voided by {voiding_id} before it was sent"
            if voiding_id
            else f"statement {delivery.statement_uuid} is voided or no longer stored"
        )
        _finish(delivery, Delivery.CANCELLED, error=reason, unsent=True)
        logger.info("delivery %s cancelled: %s", delivery.idempotency_key, reason)
    return statement


def _dependency_wait(delivery: Delivery) -> str | None:
    original = delivery.depends_on
    if original is None:
        return None
    if original.status == Delivery.DELIVERED:
        return None
    # An original that may have taken effect (a timeout after sending, a worker that died
    # mid-send) is retracted even if it ended cancelled or dead: harmless if it had not.
    if original.status in (Delivery.DEAD, Delivery.CANCELLED):
        if original.maybe_applied:
            return None
        _finish(delivery, Delivery.CANCELLED, error="the original delivery was never made", unsent=True)
        return Delivery.CANCELLED
    _release(
        delivery,
        at=timezone.now() + timedelta(seconds=DEPENDENCY_WAIT_SECONDS),
        reason="waiting for the original delivery",
    )
    return Delivery.RETRYING


def _attempt(delivery: Delivery, statement: dict, policy: RetryPolicy) -> str:
    target = delivery.target
    started = timezone.now()
    context = DeliveryContext(
        target_name=target.name,
        kind=delivery.kind,
        idempotency_key=delivery.idempotency_key,
        correlation_id=delivery.correlation_id,
        attempt=delivery.attempts,
        original_external_id=delivery.depends_on.external_id if delivery.depends_on else "",
        created_at=delivery.created_at,
        target_id=target.id,
        statement_pk=delivery.statement_id,
    )
    adapter = None
    try:
        cls = adapter_class(target.adapter)
        adapter = cls(target.config, resolve_all(target.config, cls.config_schema))
        result = adapter.effect(statement, context)
    except NothingToSend as nothing:
        result = SendResult(status_code=None, note=str(nothing))
    except DeliveryHeld as held:
        return _hold(delivery, held, started)
    except DeliveryBusy as busy:
        logger.info("delivery %s waits: %s", delivery.idempotency_key, busy)
        _release(delivery, at=timezone.now() + timedelta(seconds=BUSY_WAIT_SECONDS), reason=str(busy))
        return Delivery.RETRYING
    except (AdapterError, SecretUnavailable) as exc:
        error = exc if isinstance(exc, AdapterError) else AdapterError(str(exc))
        if error.ambiguous and adapter is not None and not adapter.may_resend_unknown_outcome():
            return _outcome_unknown(delivery, error, started)
        return _failed(delivery, error, started, policy)
    _record(
        delivery, started, Attempt.SUCCESS, status_code=result.status_code, excerpt=result.body or result.note
    )
    _finish(delivery, Delivery.DELIVERED, status_code=result.status_code, external_id=result.external_id)
    pacing.record_success(target)
    logger.info("delivered %s to %s (attempt %d)", delivery.idempotency_key, target.name, delivery.attempts)
    return Delivery.DELIVERED


def _outcome_unknown(delivery: Delivery, error: AdapterError, started) -> str:
    """The attempt may have taken effect, and the target offers no way to look: park the delivery
    for an admin (mark delivered, or send again) rather than risk a second effect."""
    _record(
        delivery,
        started,
        Attempt.UNKNOWN,
        status_code=error.status_code,
        excerpt=error.response_body,
        error=error.message,
    )
    pacing.record_failure(delivery.target, reason=error.message)
    Delivery.objects.filter(id=delivery.id).update(maybe_applied=True)
    reason = f"outcome unknown: {error.message}; mark it delivered or send it again"
    _finish(delivery, Delivery.UNKNOWN, error=reason, status_code=error.status_code)
    logger.warning("delivery %s to %s: %s", delivery.idempotency_key, delivery.target.name, reason)
    return Delivery.UNKNOWN


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
    if error.ambiguous:
        Delivery.objects.filter(id=delivery.id).update(maybe_applied=True)
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


def _finish(
    delivery: Delivery,
    status: str,
    *,
    error: str = "",
    status_code: int | None = None,
    external_id: str = "",
    unsent: bool = False,
) -> None:
    """Close a claimed delivery. ``unsent``: this claim sent nothing, so it is not an attempt."""
    now = timezone.now()
    changes = {
        "status": status,
        "claimed_until": None,
        "last_error": error,
        "last_status_code": status_code,
        "delivered_at": now if status == Delivery.DELIVERED else None,
        "updated_at": now,
    }
    if external_id:
        changes["external_id"] = external_id
    if unsent:
        changes["attempts"] = F("attempts") - 1
    Delivery.objects.filter(id=delivery.id).update(**changes)
